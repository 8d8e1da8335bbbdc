import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, GIT_ENV, git, gitml, removeDir, tmpDir } from '../support/repo.js';
import { addRun, makeRegistryRepo, record } from './fixtures.js';

function expectCode(r: { code: number; stderr: string }, code: number): void {
  expect(r.code, r.stderr).toBe(code);
}

function gitmlAsync(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('gitml model / gitml models', () => {
  let dir: string;
  const good = [record({ metrics: { accuracy: 0.91 } }), record({ metrics: { accuracy: 0.97 } })];
  const failed = record({ status: 'failed', error: 'exit code 1' });
  const noModel = record();

  beforeAll(async () => {
    dir = makeRegistryRepo();
    for (const r of good) await addRun(dir, r);
    await addRun(dir, failed);
    await addRun(dir, noModel, { 'sample.json': '[]' });
  });
  afterAll(() => removeDir(dir));

  test('register, promote, list and show end to end', () => {
    const r1 = gitml(dir, ['model', 'register', 'iris', '--run', good[0].id, '--json']);
    expect(r1.code, r1.stderr).toBe(0);
    expect(JSON.parse(r1.stdout)).toMatchObject({ name: 'iris', version: 'v0.0.1', tag: 'iris@v0.0.1', runId: good[0].id });
    const r2 = gitml(dir, ['model', 'register', 'iris', '--run', good[1].id, '--bump', 'major']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain('iris@v1.0.0');
    expect(r2.stdout).not.toContain('push it with'); // no remote: nothing to push to

    const p = gitml(dir, ['model', 'promote', 'iris', 'v1.0.0', 'production']);
    expect(p.code, p.stderr).toBe(0);
    expect(git(dir, 'tag', '--list', 'iris#*')).toBe('iris#production#1');
    expectCode(gitml(dir, ['model', 'promote', 'iris', 'v0.0.1', 'staging']), 0);

    const list = gitml(dir, ['models', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({
      stages: ['dev', 'staging', 'production'],
      models: [{ name: 'iris', latest: 'v1.0.0', stages: { dev: null, staging: 'v0.0.1', production: 'v1.0.0' }, versions: 2 }],
    });
    const table = gitml(dir, ['models']);
    expect(table.code, table.stderr).toBe(0);
    const [head, row] = table.stdout.trim().split('\n');
    expect(head.split(/\s+/).slice(0, 6)).toEqual(['MODEL', 'LATEST', 'DEV', 'STAGING', 'PRODUCTION', 'VERSIONS']);
    expect(row.split(/\s+/).slice(0, 6)).toEqual(['iris', 'v1.0.0', '-', 'v0.0.1', 'v1.0.0', '2']);

    const show = gitml(dir, ['model', 'show', 'iris#production', '--json']);
    expect(show.code, show.stderr).toBe(0);
    const d = JSON.parse(show.stdout);
    expect(d.selected).toMatchObject({ version: 'v1.0.0', lineage: { run: good[1].id, metrics: { accuracy: 0.97 } } });
    expect(d.history.filter((e: { kind: string }) => e.kind === 'assign')).toHaveLength(2);
    const human = gitml(dir, ['model', 'show', 'iris']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/Lineage of iris@v1\.0\.0/);

    const demote = gitml(dir, ['model', 'demote', 'iris', 'production', '--json']);
    expect(demote.code, demote.stderr).toBe(0);
    const dj = JSON.parse(demote.stdout);
    expect(dj).toMatchObject({ tag: 'iris#production!#3', version: 'v1.0.0' });
    expect(dj.current).toBeUndefined();
  });

  test.each([
    ['a failed run', () => ['model', 'register', 'iris', '--run', failed.id], 1, 'RUN_NOT_COMPLETED'],
    ['a run without the model output', () => ['model', 'register', 'iris', '--run', noModel.id], 1, 'MODEL_OUTPUT_MISSING'],
    ['a non-semver version', () => ['model', 'register', 'iris', '--run', good[0].id, '--version', '1.0'], 2, 'INVALID_VERSION'],
    ['a bad --bump', () => ['model', 'register', 'iris', '--run', good[0].id, '--bump', 'huge'], 2, 'USAGE'],
    ['promoting an unknown version', () => ['model', 'promote', 'iris', 'v7.0.0', 'production'], 1, 'UNKNOWN_VERSION'],
    ['a stage the policy does not list', () => ['model', 'promote', 'iris', 'v1.0.0', 'qa'], 1, 'STAGE_NOT_ALLOWED'],
    ['a missing argument', () => ['model', 'promote', 'iris', 'v1.0.0'], 2, 'USAGE'],
  ] as const)('%s: clear error, non-zero exit, no stack trace', (_, args, exit) => {
    const r = gitml(dir, [...args()]);
    expect(r.code).toBe(exit);
    expect(r.stderr).toMatch(/^error: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('an existing version is refused', async () => {
    const other = record();
    await addRun(dir, other);
    const r = gitml(dir, ['model', 'register', 'iris', '--run', other.id, '--version', 'v1.0.0']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error: /m);
    expect(git(dir, 'tag', '--list', 'iris@*').split('\n')).toEqual(['iris@v0.0.1', 'iris@v1.0.0']);
  });

  test('deregister and deprecate through the CLI; models --all shows the deprecated model', async () => {
    const extra = record();
    await addRun(dir, extra);
    expectCode(gitml(dir, ['model', 'register', 'iris', '--run', extra.id, '--version', 'v2.0.0']), 0);
    const d = gitml(dir, ['model', 'deregister', 'iris', 'v2.0.0', '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ tag: 'iris@v2.0.0!', version: 'v2.0.0' });
    expectCode(gitml(dir, ['model', 'deregister', 'iris', 'v2.0.0']), 1);
    expectCode(gitml(dir, ['model', 'deprecate', 'iris']), 0);
    const tagTimes = () => git(dir, 'for-each-ref', '--format=%(refname:short) %(taggerdate:unix) %(*committerdate:unix)', 'refs/tags');
    expect(JSON.parse(gitml(dir, ['models', '--json']).stdout).models.filter((m: { registered: boolean }) => m.registered), tagTimes()).toEqual([]);
    // the table says the model is hidden, not that there are none
    const hidden = gitml(dir, ['models']);
    expect(hidden.code, hidden.stderr).toBe(0);
    expect(hidden.stdout.trim()).toBe('no models to list: 1 deprecated model is hidden (`gitml models --all` lists it)');
    const all = JSON.parse(gitml(dir, ['models', '--all', '--json']).stdout);
    expect(all.models[0]).toMatchObject({ name: 'iris', deprecated: true, latest: 'v1.0.0' });
    expectCode(gitml(dir, ['model', 'deprecate', 'iris']), 1);
    // registering a new version revives the model, as in GTO
    const again = record();
    await addRun(dir, again);
    expectCode(gitml(dir, ['model', 'register', 'iris', '--run', again.id]), 0);
    expect(JSON.parse(gitml(dir, ['models', '--json']).stdout).models[0], tagTimes()).toMatchObject({ deprecated: false, latest: 'v2.0.1' });
  });

  test('concurrent promotions from separate processes never write the same #N', async () => {
    const before = git(dir, 'tag', '--list', 'iris#*').split('\n').filter(Boolean).length;
    const jobs = ['dev', 'staging', 'production', 'dev', 'staging', 'production'].map((stage, i) => gitmlAsync(dir, ['model', 'promote', 'iris', i % 2 ? 'v1.0.0' : 'v0.0.1', stage]));
    const results = await Promise.all(jobs);
    expect(results.map((r) => r.code), results.map((r) => r.stderr).join('\n')).toEqual([0, 0, 0, 0, 0, 0]);
    const tags = git(dir, 'tag', '--list', 'iris#*').split('\n').filter(Boolean);
    const counters = tags.map((t) => Number(t.split('#').at(-1)));
    expect(new Set(counters).size).toBe(counters.length);
    expect(tags.length).toBeGreaterThan(before);
  });
});

describe('--push', () => {
  let dir: string;
  let remote: string;
  const run = record();
  beforeAll(async () => {
    dir = makeRegistryRepo();
    remote = tmpDir();
    git(remote, 'init', '-q', '--bare');
    git(dir, 'remote', 'add', 'origin', remote);
    await addRun(dir, run);
  });
  afterAll(() => {
    removeDir(dir);
    removeDir(remote);
  });

  test('pushes the new tag (and the runs commit it reaches) to the remote', () => {
    const r = gitml(dir, ['model', 'register', 'iris', '--run', run.id, '--push', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).pushed).toBe('origin');
    expectCode(gitml(dir, ['model', 'promote', 'iris', 'v0.0.1', 'staging', '--push', 'origin']), 0);
    expect(git(remote, 'tag', '--list').split('\n')).toEqual(['iris#staging#1', 'iris@v0.0.1']);
    expect(git(remote, 'cat-file', '-t', 'iris@v0.0.1^{commit}')).toBe('commit');
  });

  test('without --push, the hint names the remote', async () => {
    const other = record();
    await addRun(dir, other);
    const r = gitml(dir, ['model', 'register', 'iris', '--run', other.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/push it with: git push origin iris@v0\.0\.2 \(or use --push\)/);
  });

  test('an unreachable remote fails the push but keeps the local tag', () => {
    const r = gitml(dir, ['model', 'promote', 'iris', 'v0.0.1', 'dev', '--push', 'nowhere']);
    expect(r.code, r.stderr).toBe(3);
    expect(git(dir, 'tag', '--list', 'iris#dev*')).toBe('iris#dev#2');
  });
});
