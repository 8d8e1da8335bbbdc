/**
 * A runs branch pulled from a remote is untrusted input: anyone who can push to it writes the
 * run.json files gitml reads. These runs are forged with plain git plumbing (as an attacker
 * would push them), then read by the commands a user runs on a pulled branch: the record's
 * fields must never become git options or paths outside their folder.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { buildManifest } from '../../core/package/manifest.js';
import { closeRunStore, artifactPath, getRun, listRuns } from '../../core/runs/store.js';
import { runFolder } from '../../core/runs/layout.js';
import { makeRegistryRepo, fakeRunId } from '../registry/fixtures.js';
import { GIT_ENV, git, gitml, removeDir, tmpDir } from '../support/repo.js';

process.env.GITML_AUTO_GC = '0';

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Write a blob and return its id. */
function blob(dir: string, content: string): string {
  return execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: dir, input: content, encoding: 'utf8' }).trim();
}

/**
 * Add a run folder to the runs branch the way anyone with push access could: run.json with
 * any content, plus inline artifacts, committed with plumbing (no gitml involved).
 */
function forgeRun(dir: string, record: Record<string, unknown>, artifacts: Record<string, string> = {}): string {
  const folder = runFolder(String(record.experiment), String(record.id));
  const index = path.join(tmpDir('gitml-forge-'), 'index');
  const env = { ...process.env, ...GIT_ENV, GIT_INDEX_FILE: index };
  const run = (args: string[]) => execFileSync('git', args, { cwd: dir, env, encoding: 'utf8' }).trim();
  const tip = spawnTip(dir);
  if (tip) run(['read-tree', tip]);
  run(['update-index', '--add', '--cacheinfo', `100644,${blob(dir, JSON.stringify(record, null, 2))},${folder}/run.json`]);
  for (const [name, content] of Object.entries(artifacts)) run(['update-index', '--add', '--cacheinfo', `100644,${blob(dir, content)},${folder}/artifacts/${name}`]);
  const tree = run(['write-tree']);
  const commit = run(['commit-tree', tree, ...(tip ? ['-p', tip] : []), '-m', `record ${record.id}\n\nGitml-Run: ${record.id}`]);
  run(['update-ref', 'refs/heads/runs', commit]);
  rmSync(path.dirname(index), { recursive: true, force: true });
  return commit;
}

function spawnTip(dir: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--verify', '--quiet', 'refs/heads/runs'], { cwd: dir, encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A registration tag as anyone with push access can write it (gitml's message format). */
function forgeTag(dir: string, tag: string, commit: string, meta: Record<string, unknown>): void {
  git(dir, 'tag', '-a', '-m', `Register\n\n${JSON.stringify({ gitml: 1, action: 'register', ...meta })}`, tag, commit);
}

const SAMPLE = '[{"x": 1.5}, {"x": 2.5}]';

function forgedRecord(over: Record<string, unknown>): Record<string, unknown> {
  return {
    schema: 1,
    id: fakeRunId(),
    experiment: 'train',
    status: 'completed',
    params: {},
    metrics: {},
    source: { commit: 'a'.repeat(40), tree: 'b'.repeat(40) },
    inputs: {},
    compute: { name: 'local', type: 'local' },
    host: 'x',
    startedAt: '2026-11-23T09:00:00.000Z',
    artifacts: [
      { path: 'model.pkl', size: 7, sha256: sha256('weights'), storage: 'inline' },
      { path: 'sample.json', size: SAMPLE.length, sha256: sha256(SAMPLE), storage: 'inline' },
    ],
    ...over,
  };
}

describe('a forged run record on a pulled runs branch', () => {
  test('source.commit "--output=FILE" never reaches git as an option (gitml manifest / image build / serve wrote FILE)', async () => {
    const dir = makeRegistryRepo();
    dirs.push(dir);
    const victim = path.join(tmpDir('gitml-victim-'), 'clobbered');
    dirs.push(path.dirname(victim));
    const rec = forgedRecord({ source: { commit: `--output=${victim}`, tree: 'b'.repeat(40) } });
    const commit = forgeRun(dir, rec, { 'model.pkl': 'weights', 'sample.json': SAMPLE });
    forgeTag(dir, 'iris@v1.0.0', commit, { model: 'iris', version: 'v1.0.0', run: rec.id });

    await expect(buildManifest({ dir, ref: 'iris@v1.0.0' })).rejects.toMatchObject({ code: 'RUNS_BRANCH_CORRUPT' });
    expect(existsSync(victim)).toBe(false);
    const cli = gitml(dir, ['manifest', 'iris@v1.0.0']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/source\.commit/);
    expect(existsSync(victim)).toBe(false);
    // Listing still works: the bad run is reported as a problem, not trusted.
    const list = await listRuns({ dir });
    expect(list.runs.map((r) => r.id)).not.toContain(rec.id);
    expect(list.problems.map((p) => p.path)).toContain(runFolder('train', rec.id));
  });

  test('an inline artifact whose sha256 is "../../.." is refused, nothing is written outside .git/gitml/cache', async () => {
    const dir = makeRegistryRepo();
    dirs.push(dir);
    const escapeName = `escaped-${path.basename(dir)}`;
    const rec = forgedRecord({ artifacts: [{ path: 'model.pkl', size: 7, sha256: `../../../../../${escapeName}`, storage: 'inline' }] });
    forgeRun(dir, rec, { 'model.pkl': 'weights' });
    await expect(artifactPath({ dir, id: rec.id, path: 'model.pkl' })).rejects.toMatchObject({ code: 'RUNS_BRANCH_CORRUPT' });
    expect(readdirSync(path.dirname(dir))).not.toContain(escapeName);
  });

  test.each([
    ['an artifact path that escapes the outputs folder', { artifacts: [{ path: '../../x', size: 1, sha256: 'a'.repeat(64), storage: 'inline' }] }, /artifacts\[0\]\.path/],
    ['an artifact stored nowhere known', { artifacts: [{ path: 'm.pkl', size: 1, sha256: 'a'.repeat(64), storage: 'http://evil' }] }, /artifacts\[0\]\.storage/],
    ['a negative or huge size', { artifacts: [{ path: 'm.pkl', size: -1, sha256: 'a'.repeat(64), storage: 'inline' }] }, /artifacts\[0\]\.size/],
    ['no source commit id', { source: { commit: 'HEAD~3', tree: '' } }, /source\.commit/],
    ['an environment digest that is not text', { environment: { name: 'py', digest: 12 } }, /environment/],
    ['an input without a digest', { inputs: { data: { path: 'd.csv' } } }, /inputs\.data/],
    ['tags that are not strings', { tags: { team: { x: 1 } } }, /tags\.team/],
  ])('%s: getRun says RUNS_BRANCH_CORRUPT and names the field; `gitml runs show` prints one error line', async (_what, over, field) => {
    const dir = makeRegistryRepo();
    dirs.push(dir);
    const rec = forgedRecord(over);
    forgeRun(dir, rec);
    const err = await getRun({ dir, id: rec.id }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('RUNS_BRANCH_CORRUPT');
    expect(err?.message).toMatch(field);
    const cli = gitml(dir, ['runs', 'show', String(rec.id)]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).not.toMatch(/unexpected/);
    expect(cli.stdout).toBe('');
  });
});
