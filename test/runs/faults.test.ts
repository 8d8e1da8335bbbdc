import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { closeRunStore, getRun, listRuns, pushRuns, recordRun, runFolder, runStoreConfig } from '../../core/runs/store.js';
import { git, makeRepo, removeDir, ROOT, tmpDir } from '../support/repo.js';
import { rec } from './helpers.js';

// No background `git gc --auto` while tests run fsck and delete repositories.
process.env.GITML_AUTO_GC = '0';

const WRITER = path.join(ROOT, 'test/runs/fixtures/writer.mjs');
const dirs: string[] = [];
const repo = () => {
  const d = makeRepo({ 'README.md': '# p\n' });
  dirs.push(d);
  return d;
};
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});
const code = async (p: Promise<unknown>) => p.then(() => 'no error', (e) => (e as { code?: string }).code);

function startWriter(dir: string, count: number, tag: string, outputs?: string) {
  const child = spawn(process.execPath, [WRITER, ROOT, dir, String(count), tag, ...(outputs ? [outputs] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, done, ids: () => out.split('\n').filter(Boolean), err: () => err };
}

function fsckClean(dir: string): void {
  const r = spawnSync('git', ['fsck', '--no-dangling'], { cwd: dir, encoding: 'utf8' });
  expect(r.stderr.split('\n').filter((l) => /error|missing|broken|corrupt/i.test(l))).toEqual([]);
  expect(r.status).toBe(0);
}

describe('concurrency and crashes', () => {
  test('8 writer processes at once, with git pack-refs and git gc running alongside: every run is kept', async () => {
    const dir = repo();
    const writers = Array.from({ length: 8 }, (_, w) => startWriter(dir, 12, `w${w}`));
    // git itself at work meanwhile: pack-refs moves refs/heads/runs into packed-refs under its
    // lock; gc packs loose objects and removes the emptied objects/xx folders.
    let packing = true;
    let gcs = 0;
    const packer = (async () => {
      for (let i = 0; packing; i++) {
        spawnSync('git', ['pack-refs', '--all'], { cwd: dir });
        if (i % 10 === 5 && spawnSync('git', ['gc', '--quiet'], { cwd: dir }).status === 0) gcs++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const results = await Promise.all(writers.map((w) => w.done));
    packing = false;
    await packer;
    results.forEach((r, i) => expect(r.code, writers[i].err()).toBe(0));
    expect(gcs).toBeGreaterThan(0);
    const ids = writers.flatMap((w) => w.ids());
    expect(ids).toHaveLength(96);
    const listed = await listRuns({ dir });
    expect(new Set(listed.runs.map((r) => r.id))).toEqual(new Set(ids));
    expect(git(dir, 'rev-list', '--count', 'runs')).toBe('96');
    expect(existsSync(path.join(dir, '.git/refs/heads/runs.lock'))).toBe(false);
    fsckClean(dir);
  });

  test('writers killed with SIGKILL mid-record leave a valid branch holding every returned run', async () => {
    const dir = repo();
    const outputs = tmpDir();
    dirs.push(outputs);
    const returned: string[] = [];
    for (let round = 0; round < 10; round++) {
      const w = startWriter(dir, 1000, `k${round}`, outputs);
      // wait until it has recorded something, then kill it at an arbitrary point
      const t0 = Date.now();
      while (w.ids().length < 2 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
      w.child.kill('SIGKILL');
      await w.done;
      returned.push(...w.ids());
      fsckClean(dir);
      // the next writer must get through, clearing a lock the dead one may have left
      const config = { ...runStoreConfig(undefined, dir), staleLockMs: 0, lockTimeoutMs: 20_000 };
      await recordRun({ dir, config, record: rec({ experiment: 'after' }) });
    }
    expect(returned.length).toBeGreaterThanOrEqual(12);
    const have = new Set((await listRuns({ dir })).runs.map((r) => r.id));
    for (const id of returned) expect(have.has(id), id).toBe(true);
    fsckClean(dir);
  });
});

describe('locks', () => {
  const lockFile = (dir: string) => path.join(dir, '.git/refs/heads/runs.lock');
  function plantLock(dir: string, owner?: { pid: number; host?: string }, ageMs = 60_000): string {
    const f = lockFile(dir);
    mkdirSync(path.dirname(f), { recursive: true });
    closeSync(openSync(f, 'wx'));
    const old = (Date.now() - ageMs) / 1000;
    utimesSync(f, old, old);
    if (owner) {
      const ino = statSync(f).ino;
      const od = path.join(dir, '.git/gitml/locks');
      mkdirSync(od, { recursive: true });
      writeFileSync(path.join(od, `refs%2Fheads%2Fruns.${ino}.owner`), JSON.stringify({ pid: owner.pid, host: owner.host ?? hostname(), ino, time: Date.now() - ageMs }));
    }
    return f;
  }
  const deadPid = () => {
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(r.stdout);
  };

  test('a stale lock whose owner process is dead is cleared and the record goes through', async () => {
    const dir = repo();
    await recordRun({ dir, record: rec() });
    const f = plantLock(dir, { pid: deadPid() });
    const config = { ...runStoreConfig(undefined, dir), staleLockMs: 1000, lockTimeoutMs: 5000 };
    const r = rec();
    await recordRun({ dir, config, record: r });
    expect(existsSync(f)).toBe(false);
    expect((await getRun({ dir, id: r.id })).record.id).toBe(r.id);
  });

  test('a lock whose owner is alive, from another host, or unknown (git) is never cleared: LOCK_HELD', async () => {
    const dir = repo();
    await recordRun({ dir, record: rec() });
    const tip = git(dir, 'rev-parse', 'runs');
    const config = { ...runStoreConfig(undefined, dir), staleLockMs: 0, lockTimeoutMs: 300 };
    for (const owner of [{ pid: process.pid }, { pid: deadPid(), host: 'some-other-host' }, undefined]) {
      const f = plantLock(dir, owner);
      expect(await code(recordRun({ dir, config, record: rec() }))).toBe('LOCK_HELD');
      expect(existsSync(f)).toBe(true);
      expect(git(dir, 'rev-parse', 'runs')).toBe(tip);
      removeDir(f);
    }
    await recordRun({ dir, config, record: rec() });
    expect(git(dir, 'rev-list', '--count', 'runs')).toBe('2');
  });
});

describe('a branch others have touched', () => {
  function foreignCommit(dir: string, files: Record<string, string>, message = 'hand edit'): string {
    const env = { ...process.env, GIT_INDEX_FILE: path.join(dir, '.git/tmp-index') };
    const run = (args: string[], input?: string) => {
      const r = spawnSync('git', args, { cwd: dir, env, input, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return r.stdout.trim();
    };
    run(['read-tree', 'runs']);
    for (const [p, content] of Object.entries(files)) {
      const blob = run(['hash-object', '-w', '--stdin'], content);
      run(['update-index', '--add', '--cacheinfo', `100644,${blob},${p}`]);
    }
    const tree = run(['write-tree']);
    const commit = run(['commit-tree', tree, '-p', 'runs', '-m', message]);
    run(['update-ref', 'refs/heads/runs', commit]);
    return commit;
  }

  test('a non-gitml commit and a malformed record: the problem is reported, the rest still listed, recording continues', async () => {
    const dir = repo();
    const good = rec();
    await recordRun({ dir, record: good });
    await listRuns({ dir }); // warm the cache before the foreign commit
    const badId = rec().id;
    const badFolder = runFolder('train', badId);
    const wrongId = rec().id;
    foreignCommit(dir, {
      'README.md': 'runs of this project\n',
      [`${badFolder}/run.json`]: '{ "id": "oops", ',
      [`${runFolder('train', wrongId)}/run.json`]: JSON.stringify(rec({ id: 'someone-else' })),
    });
    const l = await listRuns({ dir });
    expect(l.runs.map((r) => r.id)).toEqual([good.id]);
    expect(l.problems.map((p) => p.path).sort()).toEqual([badFolder, runFolder('train', wrongId)].sort());
    expect(await code(getRun({ dir, id: badId }))).toBe('RUNS_BRANCH_CORRUPT');
    const next = rec();
    await recordRun({ dir, record: next });
    const l2 = await listRuns({ dir });
    expect(l2.runs.map((r) => r.id).sort()).toEqual([good.id, next.id].sort());
    expect(l2.problems).toHaveLength(2);
    expect(git(dir, 'show', 'runs:README.md')).toBe('runs of this project');
  });

  test('a rewritten branch (rewound, old history garbage-collected) is re-read from the branch', async () => {
    const dir = repo();
    const a = rec();
    const b = rec();
    const c = rec();
    const first = await recordRun({ dir, record: a });
    await recordRun({ dir, record: b });
    await recordRun({ dir, record: c });
    expect((await listRuns({ dir })).runs).toHaveLength(3);
    git(dir, 'update-ref', 'refs/heads/runs', first.commit);
    expect((await listRuns({ dir })).runs.map((r) => r.id)).toEqual([a.id]);
    // Rewrite again to something new, then collect the old objects: the cached tree is gone.
    const d = rec();
    await recordRun({ dir, record: d });
    expect((await listRuns({ dir })).runs.map((r) => r.id)).toEqual([d.id, a.id]);
    const amended = foreignCommit(dir, { 'NOTES.md': 'x\n' });
    git(dir, 'update-ref', 'refs/heads/runs', git(dir, 'commit-tree', `${first.commit}^{tree}`, '-m', 'squashed history'));
    git(dir, 'reflog', 'expire', '--expire=now', '--all');
    git(dir, 'gc', '-q', '--prune=now');
    expect(amended).toMatch(/^[0-9a-f]{40}$/);
    const l = await listRuns({ dir });
    expect(l.runs.map((r) => r.id)).toEqual([a.id]);
    expect((await getRun({ dir, id: a.id })).commit).toBe(git(dir, 'rev-parse', 'runs'));
    fsckClean(dir);
  });
});

test('an unreachable remote fails with REMOTE', async () => {
  const dir = repo();
  await recordRun({ dir, record: rec() });
  expect(await code(pushRuns({ dir, remote: path.join(tmpDir(), 'no-such-repo') }))).toBe('REMOTE');
});
