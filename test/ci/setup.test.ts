/**
 * The pure parts of the CI set-up: which mirror debootstrap uses, read from apt sources of
 * each format Debian writes, and the closing line .ci/run prints from vitest's JSON report.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT, removeDir, tmpDir, writeFiles } from '../support/repo.js';

function mirrorFrom(files: Record<string, string>): string | null {
  const etc = tmpDir('gitml-apt-');
  try {
    writeFiles(etc, files);
    const r = spawnSync('bash', ['-c', 'source .ci/setup.sh && { debian_mirror "$1" || echo "<none>"; }', 'x', etc], {
      cwd: ROOT,
      env: { ...process.env, GITML_LOG_DIR: path.join(etc, 'log') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const out = r.stdout.trim();
    return out === '<none>' ? null : out;
  } finally {
    removeDir(etc);
  }
}

describe('debian_mirror (the mirror debootstrap uses)', () => {
  const bookworm822 = 'Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n';
  const security822 = 'Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n';

  test.each([
    ['deb822, security stanza first', { 'sources.list.d/debian.sources': `${security822}\n${bookworm822}` }, 'http://mirror.test/debian'],
    ['deb822 with comments and lower-case keys', { 'sources.list.d/debian.sources': '# a comment\ntypes: deb\nuris: http://m2.test/debian\nsuites: bookworm\n' }, 'http://m2.test/debian'],
    ['deb822 deb-src only and disabled stanzas are ignored', {
      'sources.list.d/a.sources': 'Types: deb-src\nURIs: http://src.test/debian\nSuites: bookworm\n\nTypes: deb\nEnabled: no\nURIs: http://off.test/debian\nSuites: bookworm\n\nTypes: deb deb-src\nURIs: http://on.test/debian\nSuites: bookworm\n',
    }, 'http://on.test/debian'],
    ['one-line sources.list with options', { 'sources.list': '# x\ndeb-src http://src.test/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m3.test/debian bookworm main\n' }, 'http://m3.test/debian'],
    ['deb822 wins over sources.list', { 'sources.list.d/debian.sources': bookworm822, 'sources.list': 'deb http://other.test/debian bookworm main\n' }, 'http://mirror.test/debian'],
    ['only bookworm-security: none', { 'sources.list.d/debian.sources': security822 }, null],
    ['no sources at all: none', {}, null],
  ])('%s', (_name, files, expected) => {
    expect(mirrorFrom(files)).toBe(expected);
  });
});

function summary(report: unknown): { code: number | null; line: string } {
  const dir = tmpDir('gitml-summary-');
  try {
    const file = path.join(dir, 'vitest.json');
    if (report !== undefined) writeFileSync(file, JSON.stringify(report));
    const r = spawnSync(process.execPath, [path.join(ROOT, '.ci/summary.mjs'), file], { encoding: 'utf8' });
    return { code: r.status, line: r.stdout.trim() };
  } finally {
    removeDir(dir);
  }
}

describe('.ci/summary.mjs (the closing "N passed, N failed" line)', () => {
  const file = (status: string, tests: string[]) => ({ status, assertionResults: tests.map((s) => ({ status: s })) });

  test('counts passed and failed tests', () => {
    expect(summary({ success: false, numPassedTests: 5, numFailedTests: 2, numPendingTests: 1, testResults: [file('failed', ['passed', 'failed', 'failed'])] })).toEqual({
      code: 1,
      line: '5 passed, 2 failed',
    });
    expect(summary({ success: true, numPassedTests: 7, numFailedTests: 0, testResults: [file('passed', ['passed'])] })).toEqual({ code: 0, line: '7 passed, 0 failed' });
  });

  test('a test file that failed to load counts as a failure', () => {
    expect(summary({ success: false, numPassedTests: 3, numFailedTests: 0, testResults: [file('passed', ['passed']), file('failed', [])] })).toEqual({
      code: 1,
      line: '3 passed, 1 failed',
    });
  });

  test('errors outside the tests, and a missing report, are failures', () => {
    expect(summary({ success: false, numPassedTests: 4, numFailedTests: 0, testResults: [file('passed', ['passed'])] })).toEqual({ code: 1, line: '4 passed, 1 failed' });
    expect(summary(undefined)).toEqual({ code: 1, line: '0 passed, 1 failed' });
  });
});
