/**
 * Bad input to the runs store and its CLI: every mistake gets one `error:` line on stderr,
 * nothing on stdout, and the exit code of its kind (2 usage, 1 not found, 3 environment); every
 * --json prints JSON alone on stdout, on either side of the subcommand.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseWhere, sorter } from '../../core/runs/query.js';
import { closeRunStore, getRun, listRuns, pullRuns, pushRuns, readRunMetrics, recordRun } from '../../core/runs/store.js';
import { BIN, GIT_ENV, git, gitml, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { rec } from './helpers.js';

// No background `git gc --auto` while tests delete repositories.
process.env.GITML_AUTO_GC = '0';

const code = async (p: Promise<unknown>) => p.then(() => 'no error', (e) => (e as { code?: string }).code);
const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

const dirs: string[] = [];
let dir = '';
const ids: string[] = [];
beforeAll(async () => {
  dir = makeRepo({ 'README.md': '# p\n' });
  dirs.push(dir);
  for (let i = 0; i < 3; i++) {
    const r = rec({ params: { lr: [0.1, 0.5, 1][i], kernel: 'rbf' }, source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: 'e'.repeat(40), branch: 'main' } });
    ids.push(r.id);
    await recordRun({
      dir,
      record: r,
      // run 0 has a long series: enough output to fill a pipe
      metrics: Array.from({ length: i === 0 ? 5000 : 3 }, (_, s) => ({ name: 'loss', value: 1 / (s + 1), step: s, timestamp: 1_700_000_000_000 + s })),
      logs: `log of run ${i}\n`,
    });
  }
});
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

describe('conditions and sort keys', () => {
  test.each([
    ['metrics.accuracy=>0.9', /unknown operator "=>"/],
    ['metrics.accuracy>>0.9', /unknown operator ">>"/],
    ['params.C<>1', /unknown operator "<>"/],
    ['metrics.accuracy>abc', /is a number/],
    ['metrics.accuracy>', /no value/],
    ['stauts=completed', /unknown key "stauts" \(did you mean status\?\)/],
    ['metrics.=1', /needs a name/],
    ['no operator here', /cannot read the condition/],
  ])('%s is refused with USAGE', (expr, message) => {
    expect(() => parseWhere(expr)).toThrow(message);
    expect(codeOf(() => parseWhere(expr))).toBe('USAGE');
  });

  test('good conditions parse; == is =', () => {
    expect(parseWhere('metrics.accuracy >= 0.9')).toEqual({ key: 'metrics.accuracy', op: '>=', value: '0.9' });
    expect(parseWhere('params.kernel==rbf')).toEqual({ key: 'params.kernel', op: '=', value: 'rbf' });
    expect(parseWhere('source.branch!=main')).toEqual({ key: 'source.branch', op: '!=', value: 'main' });
    expect(parseWhere('tags.team~vision')).toEqual({ key: 'tags.team', op: '~', value: 'vision' });
  });

  test('sort keys: unknown record fields and empty keys are refused', () => {
    expect(codeOf(() => sorter('duration'))).toBe('USAGE');
    expect(codeOf(() => sorter('-'))).toBe('USAGE');
    expect(codeOf(() => sorter('-durationMs'))).toBe('no error');
  });

  test('a param or metric no run has (a typo) is refused, with a hint; with no runs at all nothing is refused', async () => {
    await expect(listRuns({ dir, where: ['metrics.los<1'] })).rejects.toThrow(/no run has metrics\.los \(did you mean metrics\.loss\?\)/);
    expect(await code(listRuns({ dir, where: ['params.lrr>0'] }))).toBe('USAGE');
    expect(await code(listRuns({ dir, sort: '-metrics.acc' }))).toBe('USAGE');
    expect((await listRuns({ dir, where: ['params.lr>=0.5'], sort: '-metrics.loss' })).runs.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    // A metric that only some experiments have is fine.
    expect((await listRuns({ dir, experiment: 'other', where: ['metrics.loss<1'] })).runs).toEqual([]);
    const empty = makeRepo({ 'a.txt': 'a\n' });
    dirs.push(empty);
    expect(await listRuns({ dir: empty, where: ['metrics.accuracy>0.9'], sort: 'metrics.accuracy' })).toEqual({ runs: [], problems: [], recorded: 0, total: 0 });
  });

  test('--status must be a known status; --commit is a hex prefix or a revision', async () => {
    expect(await code(listRuns({ dir, status: 'done' }))).toBe('USAGE');
    expect(await code(listRuns({ dir, status: 'completed,complete' }))).toBe('USAGE');
    expect((await listRuns({ dir, status: 'failed, completed' })).runs).toHaveLength(3);
    expect((await listRuns({ dir, commit: 'HEAD' })).runs).toHaveLength(3);
    expect((await listRuns({ dir, commit: 'main' })).runs).toHaveLength(3);
    expect((await listRuns({ dir, commit: git(dir, 'rev-parse', 'HEAD').slice(0, 7).toUpperCase() })).runs).toHaveLength(3);
    expect((await listRuns({ dir, commit: '0000' })).runs).toHaveLength(0);
    expect(await code(listRuns({ dir, commit: 'no-such-branch' }))).toBe('USAGE');
  });
});

describe('ids and metric names', () => {
  test('a malformed id is a usage error; a well-formed unknown one is not found', async () => {
    expect(await code(getRun({ dir, id: 'bad id!' }))).toBe('USAGE');
    expect(await code(getRun({ dir, id: '' }))).toBe('USAGE');
    expect(await code(getRun({ dir, id: ids[0].slice(0, 8) + 'u' }))).toBe('USAGE'); // u is not in the alphabet
    expect(await code(getRun({ dir, id: '01jd3q6k2f7x9m1c4v8r2t5w0n' }))).toBe('RUN_NOT_FOUND');
    expect((await getRun({ dir, id: ids[1].toUpperCase() })).record.id).toBe(ids[1]);
  });

  test('an unknown metric series names the ones the run has', async () => {
    await expect(readRunMetrics({ dir, id: ids[1], metric: 'nope' })).rejects.toMatchObject({ code: 'PARAM', data: { metrics: ['loss'] } });
  });
});

/** stderr is exactly one `error: ...` line and there is no stack trace. */
function oneErrorLine(r: { stdout: string; stderr: string }): void {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('the CLI', () => {
  test.each([
    [['runs', 'show', '01jd3q6k2f7x9m1c4v8r2t5w0n'], 1, /no run/],
    [['runs', 'show', 'not-an-id'], 2, /not a run id/],
    [['runs', 'logs', '0'], 2, /ambiguous/],
    [['runs', 'metrics', 'zzzz', '--json'], 1, /no run/],
    [['runs', '--where', 'metrics.loss=>1'], 2, /unknown operator/],
    [['runs', '--where', 'metrics.los<1', '--json'], 2, /did you mean metrics\.loss/],
    [['runs', '--sort', 'metrics.nope'], 2, /no run has metrics\.nope/],
    [['runs', '--status', 'done'], 2, /unknown status/],
    [['runs', '--limit', '-1'], 2, /--limit/],
    [['runs', '--commit', 'no-such-branch'], 2, /--commit/],
    [['runs', 'compare', 'zzzz', 'yyyy'], 1, /no run/],
    [['runs', 'metrics', 'ID', '--metric', 'nope'], 2, /no metric series "nope"; it has loss/],
  ])('gitml %j exits %i with one error line', (args, exit, message) => {
    const r = gitml(dir, args.map((a) => (a === 'ID' ? ids[1] : a)));
    expect(r.code, r.stderr).toBe(exit);
    oneErrorLine(r);
    expect(r.stderr).toMatch(message);
  });

  test('--json prints JSON alone on stdout for every subcommand, before or after the subcommand', () => {
    const cases: string[][] = [
      ['runs', '--json'],
      ['runs', 'list', '--json'],
      ['runs', 'show', ids[1], '--json'],
      ['runs', '--json', 'show', ids[1]],
      ['runs', 'compare', ids[1], ids[2], '--json'],
      ['runs', '--json', 'compare', ids[1], ids[2]],
      ['runs', 'logs', ids[1], '--json'],
      ['runs', '--json', 'logs', ids[1]],
      ['runs', 'metrics', ids[1], '--json'],
      ['runs', '--json', 'metrics', ids[1], '--metric', 'loss'],
    ];
    for (const args of cases) {
      const r = gitml(dir, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(() => JSON.parse(r.stdout), args.join(' ')).not.toThrow();
    }
    expect(JSON.parse(gitml(dir, ['runs', '--json', 'show', ids[1]]).stdout).id).toBe(ids[1]);
    expect(JSON.parse(gitml(dir, ['runs', 'logs', ids[1].slice(0, 14), '--json']).stdout)).toEqual({ id: ids[1], logs: 'log of run 1\n' });
  });

  test('filters that match nothing say so (not "no runs recorded yet"); --limit 0 prints no rows', () => {
    const none = gitml(dir, ['runs', '--experiment', 'nope']);
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(/^no runs match \(3 recorded/);
    const zero = gitml(dir, ['runs', '--limit', '0']);
    expect(zero.stdout).toBe('(0 of 3 runs; use --limit N or --json for more)\n');
  });

  test('output piped into `head -1` stops quietly: no EPIPE stack trace', () => {
    // 5,000 table rows are far more than a pipe holds, so the write fails after head exits.
    const r = spawnSync('bash', ['-c', `node "${BIN}" runs metrics ${ids[0]} --metric loss | head -1; echo "gitml exit $\{PIPESTATUS[0]}" >&2`], {
      cwd: dir,
      env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' },
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/^loss\s/);
    expect(r.stderr).toBe('gitml exit 0\n');
  });
});

describe('push and pull', () => {
  test('no remote configured, a missing path, a folder that is not a repository: exit 3, one line that says which', async () => {
    const pull = gitml(dir, ['pull']);
    expect(pull.code).toBe(3);
    oneErrorLine(pull);
    expect(pull.stderr).toMatch(/no remote named "origin".*git remote add origin/);
    const missing = path.join(tmpDir(), 'gone');
    const push = gitml(dir, ['push', missing, '--json']);
    expect(push.code).toBe(3);
    oneErrorLine(push);
    expect(push.stderr).toContain(`${missing} does not exist`);
    const plain = tmpDir();
    dirs.push(plain);
    mkdirSync(path.join(plain, 'sub'));
    const notRepo = gitml(dir, ['push', plain]);
    expect(notRepo.code).toBe(3);
    oneErrorLine(notRepo);
    expect(notRepo.stderr).toMatch(/does not appear to be a git repository/);
    expect(await code(pullRuns({ dir, remote: 'nowhere' }))).toBe('REMOTE');
    expect(await code(pushRuns({ dir, remote: '--upload-pack=x' }))).toBe('USAGE');
  });

  test('a relative path is taken from the folder gitml runs in, not the repository root', async () => {
    const parent = tmpDir();
    dirs.push(parent);
    const remote = path.join(parent, 'remote.git');
    spawnSync('git', ['init', '-q', '--bare', remote]);
    const sub = path.join(dir, 'sub', 'folder');
    mkdirSync(sub, { recursive: true });
    const rel = path.relative(sub, remote);
    const r = gitml(sub, ['push', rel, '--no-tags', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ remote: rel, pushed: true });
    expect(git(remote, 'rev-parse', 'refs/heads/runs')).toBe(git(dir, 'rev-parse', 'refs/heads/runs'));
  });
});
