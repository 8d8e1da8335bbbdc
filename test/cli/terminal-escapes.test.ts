/**
 * Values that come from a pulled runs branch or from registry tags (params, metric names, run
 * errors, logs, tag messages, tagger names) are written by anyone with push access. Printed raw,
 * an escape sequence in them drives the reader's terminal: OSC 52 writes the clipboard, OSC 8
 * forges links, CSI 2J clears the screen, C1 CSI (U+009B) does the same on some terminals, a
 * newline forges table rows. Human output escapes them (colours, SGR, stay); --json stays exact.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { recordRun, closeRunStore } from '../../core/runs/store.js';
import { termSafe } from '../../cli/output.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { GIT_ENV, git, gitml, removeDir } from '../support/repo.js';
import { execFileSync } from 'node:child_process';

process.env.GITML_AUTO_GC = '0';

const OSC52 = '\x1b]52;c;cm0gLXJmIH4K\x07';
const CLEAR = '\x1b[2J\x1b[H';
const C1_CSI = '\u009b31m';
const LINK = '\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\';
const TITLE = '\x1b]0;owned\x07';

/** Control characters a terminal acts on, once SGR colour sequences (harmless) are set aside. */
function controls(s: string, allow = '\n'): string[] {
  const bare = s.replace(/\x1b\[[0-9;:]*m/g, '');
  return [...bare].filter((ch) => {
    const c = ch.codePointAt(0)!;
    return !allow.includes(ch) && (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069));
  });
}

let dir = '';
let runId = '';
beforeAll(async () => {
  dir = makeRegistryRepo();
  const rec = record({
    params: { msg: `a${OSC52}b`, note: 'line1\nrun     FORGED-ROW', C: 1 },
    metrics: { [`acc${CLEAR}`]: 0.9 },
    tags: { team: `${C1_CSI}red` },
    error: `boom ${LINK}`,
    status: 'failed',
    host: `h${TITLE}`,
    source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: `main${CLEAR}` },
  });
  runId = rec.id;
  await addRun(dir, rec, { 'model.pkl': 'w', 'sample.json': '[{"x": 1}]' });
  // the same run again with a log and a metric series carrying escapes
  await recordRun({
    dir,
    record: rec,
    logs: `hello \x1b[31mred\x1b[0m ${OSC52} ${CLEAR} progress 50%\rprogress 100%\r\ndone \u202eevil\u202c\n`,
    metrics: [{ name: `loss${TITLE}`, value: 1, step: 0, timestamp: 1_700_000_000_000 }],
  });
  // A registration tag written by someone else: escapes in the tagger and in the metadata.
  const commit = git(dir, 'rev-parse', 'runs');
  execFileSync('git', ['tag', '-a', '-m', `Register\n\n${JSON.stringify({ gitml: 1, action: 'register', model: 'iris', version: 'v1.0.0', run: runId, metrics: { [`f1${TITLE}`]: 0.5 } })}`, 'iris@v1.0.0', commit], {
    cwd: dir,
    env: { ...process.env, ...GIT_ENV, GIT_COMMITTER_NAME: `mallory${TITLE}`, GIT_COMMITTER_EMAIL: `m${CLEAR}@example.com` },
  });
});
afterAll(() => {
  closeRunStore();
  removeDir(dir);
});

describe('escape sequences from the runs branch and the registry never reach the terminal', () => {
  test.each([
    [['runs']],
    [['runs', 'show', 'RUN']],
    [['runs', 'compare', 'RUN', 'RUN']],
    [['runs', 'metrics', 'RUN']],
    [['models']],
    [['model', 'show', 'iris']],
  ])('gitml %s', (args) => {
    const r = gitml(dir, args.map((a) => (a === 'RUN' ? runId : a)));
    expect(r.stderr).not.toMatch(/unexpected/);
    expect(controls(r.stdout)).toEqual([]);
    expect(controls(r.stderr)).toEqual([]);
    // What was escaped is still readable
    if (args[0] === 'runs' && args[1] === 'show') {
      expect(r.stdout).toContain('\\x1b]52;c;cm0gLXJmIH4K\\x07');
      expect(r.stdout).not.toMatch(/^run\s+FORGED-ROW/m);
    }
  });

  test('gitml runs logs keeps colours, line ends and carriage returns, and escapes the rest', () => {
    const r = gitml(dir, ['runs', 'logs', runId]);
    expect(r.code).toBe(0);
    expect(controls(r.stdout, '\n\r')).toEqual([]);
    expect(r.stdout).toContain('hello \x1b[31mred\x1b[0m ');
    expect(r.stdout).toContain('progress 50%\rprogress 100%\r\n');
    expect(r.stdout).toContain('\\x1b[2J');
  });

  test('an error message quoting a branch path or record value is escaped too', () => {
    const r = gitml(dir, ['runs', 'metrics', runId, '--metric', `nope${CLEAR}`]);
    expect(r.code).not.toBe(0);
    expect(controls(r.stderr)).toEqual([]);
  });

  test('--json stays byte-exact', () => {
    const show = JSON.parse(gitml(dir, ['runs', 'show', runId, '--json']).stdout);
    expect(show.params.msg).toBe(`a${OSC52}b`);
    expect(show.error).toBe(`boom ${LINK}`);
    const logs = JSON.parse(gitml(dir, ['runs', 'logs', runId, '--json']).stdout);
    expect(logs.logs).toContain(OSC52);
    const models = JSON.parse(gitml(dir, ['model', 'show', 'iris', '--json']).stdout);
    // (git itself trims the trailing BEL of a name)
    expect(models.versions[0].registeredBy.name).toBe('mallory\x1b]0;owned');
    expect(Object.keys(models.versions[0].metrics)).toEqual([`f1${TITLE}`]);
  });
});

describe('termSafe', () => {
  test.each([
    ['plain text', 'plain text', 'plain text'],
    ['SGR colours stay', '\x1b[1mbold\x1b[22m', '\x1b[1mbold\x1b[22m'],
    ['OSC 52', `x${OSC52}y`, 'x\\x1b]52;c;cm0gLXJmIH4K\\x07y'],
    ['C1 CSI', C1_CSI, '\\x9b31m'],
    ['bidi override', 'a\u202eb', 'a\\u202eb'],
    ['DEL and NUL', 'a\x7fb\x00', 'a\\x7fb\\x00'],
  ])('%s', (_what, input, out) => {
    expect(termSafe(input)).toBe(out);
  });

  test('one line: line breaks and tabs are escaped; multi-line: kept', () => {
    expect(termSafe('a\nb\tc\rd', { line: true })).toBe('a\\nb\\tc\\rd');
    expect(termSafe('a\nb\tc\rd')).toBe('a\nb\tc\rd');
  });
});
