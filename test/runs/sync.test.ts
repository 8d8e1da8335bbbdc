import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { closeRunStore, getRun, listRuns, pullRuns, pushRuns, recordRun } from '../../core/runs/store.js';
import { git, gitml, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { rec } from './helpers.js';

// No background `git gc --auto` while tests run fsck and delete repositories.
process.env.GITML_AUTO_GC = '0';

const dirs: string[] = [];
const repo = () => {
  const d = makeRepo({ 'README.md': '# p\n' });
  dirs.push(d);
  return d;
};
const bare = () => {
  const d = tmpDir('gitml-remote-');
  dirs.push(d);
  spawnSync('git', ['init', '-q', '--bare', d]);
  return d;
};
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});
const ids = async (dir: string) => (await listRuns({ dir })).runs.map((r) => r.id).sort();

test('push, rejected push merged and retried, pull with union merge, tags both ways', async () => {
  const remote = bare();
  const a = repo();
  const b = repo();
  const a1 = rec();
  const first = await recordRun({ dir: a, record: a1 });
  git(a, 'tag', '-a', 'iris@v1.0.0', '-m', 'register', first.commit);
  // The user's own tags are not the registry's: push and pull leave them where they are.
  git(a, 'tag', 'release-1', first.commit);
  const pushed = await pushRuns({ dir: a, remote });
  expect(pushed.pushed).toBe(true);
  expect(git(remote, 'rev-parse', 'runs')).toBe(first.commit);
  expect(git(remote, 'rev-parse', 'iris@v1.0.0^{}')).toBe(first.commit);
  expect(git(remote, 'tag', '--list')).toBe('iris@v1.0.0');

  // B has its own history: its push is rejected, so it merges the remote's runs and retries.
  const b1 = rec();
  await recordRun({ dir: b, record: b1 });
  const pb = await pushRuns({ dir: b, remote });
  expect(pb.pushed).toBe(true);
  expect(pb.action).toBe('merge');
  expect(pb.attempts).toBe(2);
  expect(await ids(b)).toEqual([a1.id, b1.id].sort());
  expect(git(remote, 'rev-parse', 'runs')).toBe(git(b, 'rev-parse', 'runs'));
  expect(git(b, 'rev-list', '--parents', '-1', 'runs').split(' ')).toHaveLength(3);

  // A recorded more meanwhile: pull gives the union, then push is a fast-forward.
  const a2 = rec();
  await recordRun({ dir: a, record: a2 });
  const pa = await pullRuns({ dir: a, remote });
  expect(pa.action).toBe('merge');
  expect(await ids(a)).toEqual([a1.id, a2.id, b1.id].sort());
  const pa2 = await pushRuns({ dir: a, remote });
  expect(pa2.attempts).toBe(1);
  expect(git(remote, 'rev-parse', 'runs')).toBe(git(a, 'rev-parse', 'runs'));

  // B pulls: fast-forward, and gets the tag.
  const pb2 = await pullRuns({ dir: b, remote });
  expect(pb2.action).toBe('fast-forward');
  expect(git(b, 'rev-parse', 'iris@v1.0.0^{}')).toBe(first.commit);
  // A tag someone pushed to the remote by hand is not the registry's either.
  git(remote, 'tag', 'nightly', first.commit);
  await pullRuns({ dir: b, remote });
  expect(git(b, 'tag', '--list')).toBe('iris@v1.0.0');
  expect(await ids(b)).toEqual(await ids(a));
  expect(git(b, 'for-each-ref', 'refs/gitml/')).toBe('');
  // getRun on B finds the commit that recorded a1 on A (what a tag would point to).
  expect((await getRun({ dir: b, id: a1.id })).commit).toBe(first.commit);
  expect(spawnSync('git', ['fsck', '--no-dangling'], { cwd: b }).status).toBe(0);
});

test('the same run recorded on both sides: the final record wins; conflicting tags are reported, not overwritten', async () => {
  const remote = bare();
  const a = repo();
  const b = repo();
  const x = rec({ status: 'running' });
  await recordRun({ dir: a, record: x });
  await recordRun({ dir: b, record: { ...x, status: 'completed', endedAt: '2026-01-02T04:00:00.000Z' } });
  const mine = await recordRun({ dir: a, record: rec() });
  git(a, 'tag', 'iris#production#1', mine.commit);
  await pushRuns({ dir: b, remote });
  git(b, 'tag', 'iris#production#1', git(b, 'rev-parse', 'runs'));
  await pushRuns({ dir: b, remote });
  const p = await pullRuns({ dir: a, remote });
  expect(p.action).toBe('merge');
  expect((await getRun({ dir: a, id: x.id })).record.status).toBe('completed');
  expect(p.rejectedTags).toEqual(['refs/tags/iris#production#1']);
  expect(git(a, 'rev-parse', 'iris#production#1')).toBe(mine.commit);
  const push = await pushRuns({ dir: a, remote });
  expect(push.rejectedTags).toEqual(['refs/tags/iris#production#1']);
});

test('gitml push / pull from the CLI; an unreachable remote exits 3', async () => {
  const remote = bare();
  const a = repo();
  const b = repo();
  const r = rec();
  await recordRun({ dir: a, record: r });
  const push = gitml(a, ['push', remote, '--json']);
  expect(push.code, push.stderr).toBe(0);
  expect(JSON.parse(push.stdout).pushed).toBe(true);
  const pull = gitml(b, ['pull', remote]);
  expect(pull.code, pull.stderr).toBe(0);
  expect(await ids(b)).toEqual([r.id]);
  const bad = gitml(a, ['push', path.join(remote, 'missing')]);
  expect(bad.code).toBe(3);
  expect(bad.stderr).toMatch(/^error: /m);
  expect(gitml(a, ['pull', path.join(remote, 'missing')]).code).toBe(3);
});
