import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cancelEntry, listQueue } from '../../core/queue/cancel.js';
import { claimNext, settleLost } from '../../core/queue/claim.js';
import { enqueue, queueKey } from '../../core/queue/enqueue.js';
import { queuePaths } from '../../core/queue/store.js';
import { isGitmlError } from '../../core/errors.js';
import { ROOT, makeRepo, removeDir } from '../support/repo.js';

const WORKER = path.join(ROOT, 'test/queue/worker.mjs');
const C = 'a'.repeat(40);
const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});
// The worker processes run the compiled queue: test/support/global-setup.ts compiles dist/ once
// before any test (compiling again here would rewrite dist/ under the other test files' CLIs).

function repo(): string {
  const d = makeRepo({ 'README.md': 'x\n' });
  dirs.push(d);
  return d;
}
const add = (dir: string, experiment: string, params: Record<string, string | number | boolean> = {}, compute = 'local', concurrency = 1) =>
  enqueue({ dir, experiment, commit: C, params, compute, concurrency, trigger: { kind: 'queue' } });

function runWorker(dir: string, mode: 'drain' | 'hold') {
  const child = spawn(process.execPath, [WORKER, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (err += b));
  const firstLine = new Promise<string>((resolve) => child.stdout.on('data', () => out.includes('\n') && resolve(out.split('\n')[0])));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  return { child, firstLine, done };
}

describe('queue', () => {
  it('keeps one entry per (commit, experiment, params), in order of arrival, in the git common dir', async () => {
    const dir = repo();
    const a = await add(dir, 'train', { lr: 0.5, epochs: 3 });
    const again = await add(dir, 'train', { epochs: 3, lr: 0.5 });
    expect(a.added).toBe(true);
    expect(again.added).toBe(false);
    expect(again.entry.id).toBe(a.entry.id);
    expect(a.entry.id).toBe(queueKey(C, 'train', { epochs: 3, lr: 0.5 }));
    const b = await add(dir, 'train', { lr: 0.1, epochs: 3 });
    const c = await add(dir, 'eval');
    expect(new Set([a.entry.id, b.entry.id, c.entry.id]).size).toBe(3);
    expect((await listQueue({ dir })).map((e) => e.id)).toEqual([a.entry.id, b.entry.id, c.entry.id]);
    const p = await queuePaths(dir);
    expect(p.root).toBe(path.join(dir, '.git', 'gitml', 'queue'));
    // a writer killed mid-write leaves a temp file: ignored
    writeFileSync(path.join(p.entries, '.tmp-1-deadbeef'), '{"id": "half');
    expect((await listQueue({ dir })).length).toBe(3);
    // a finished entry is still the key's entry: enqueuing it again does not run it again
    const claim = (await claimNext({ dir }))!;
    await claim.finish({ state: 'completed', runId: 'r1' });
    expect((await add(dir, 'train', { lr: 0.5, epochs: 3 })).added).toBe(false);
  });

  it('respects per-compute concurrency and claims in order', async () => {
    const dir = repo();
    const a = await add(dir, 'a');
    const b = await add(dir, 'b');
    const d1 = await add(dir, 'd1', {}, 'docker', 2);
    const d2 = await add(dir, 'd2', {}, 'docker', 2);
    const d3 = await add(dir, 'd3', {}, 'docker', 2);
    const c1 = (await claimNext({ dir }))!;
    expect(c1.entry.id).toBe(a.entry.id);
    expect(c1.entry.state).toBe('running');
    // local is full (1): the docker ones come next, two at a time
    expect((await claimNext({ dir }))!.entry.id).toBe(d1.entry.id);
    const c3 = (await claimNext({ dir }))!;
    expect(c3.entry.id).toBe(d2.entry.id);
    expect(await claimNext({ dir })).toBeUndefined();
    await c1.finish({ state: 'failed', error: 'exit 1' });
    expect((await claimNext({ dir }))!.entry.id).toBe(b.entry.id);
    await c3.finish({ state: 'completed' });
    expect((await claimNext({ dir }))!.entry.id).toBe(d3.entry.id);
    const states = Object.fromEntries((await listQueue({ dir })).map((e) => [e.experiment, e.state]));
    expect(states).toEqual({ a: 'failed', b: 'running', d1: 'running', d2: 'completed', d3: 'running' });
  });

  it('two processes claiming at once never start one entry twice', async () => {
    const dir = repo();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await add(dir, 'sweep', { i }, 'local', 30)).entry.id);
    const w1 = runWorker(dir, 'drain');
    const w2 = runWorker(dir, 'drain');
    const [r1, r2] = await Promise.all([w1.done, w2.done]);
    expect(r1.code, r1.err).toBe(0);
    expect(r2.code, r2.err).toBe(0);
    const got1 = r1.out.split('\n').filter(Boolean);
    const got2 = r2.out.split('\n').filter(Boolean);
    expect(got1.filter((x) => got2.includes(x))).toEqual([]);
    expect([...got1, ...got2].sort()).toEqual([...ids].sort());
    const entries = await listQueue({ dir });
    expect(entries.every((e) => e.state === 'completed' && e.attempts === 1)).toBe(true);
    expect(readdirSync((await queuePaths(dir)).claims)).toEqual([]);
  }, 120_000);

  it('a SIGKILLed worker: its entry is settled lost and retried once, then given up', async () => {
    const dir = repo();
    const { entry } = await add(dir, 'train');
    const other = await add(dir, 'other', {}, 'docker');
    const w = runWorker(dir, 'hold');
    expect(await w.firstLine).toBe(entry.id);
    // while the worker lives, its claim holds: nothing else on local may start
    expect((await claimNext({ dir, filter: (e) => e.compute === 'local' }))).toBeUndefined();
    w.child.kill('SIGKILL');
    await w.done;
    const retry = (await claimNext({ dir, filter: (e) => e.compute === 'local' }))!;
    expect(retry.entry.id).toBe(entry.id);
    expect(retry.entry.lost).toBe(1);
    expect(retry.entry.attempts).toBe(2);
    await retry.finish({ state: 'completed', runId: 'r' });

    // the second time it stays lost
    const w2 = runWorker(dir, 'hold');
    expect(await w2.firstLine).toBe(other.entry.id);
    w2.child.kill('SIGKILL');
    await w2.done;
    expect((await settleLost({ dir })).map((e) => e.outcome)).toEqual(['requeued']);
    const w3 = runWorker(dir, 'hold');
    expect(await w3.firstLine).toBe(other.entry.id);
    w3.child.kill('SIGKILL');
    await w3.done;
    expect(await settleLost({ dir })).toEqual([expect.objectContaining({ id: other.entry.id, outcome: 'lost' })]);
    const final = (await listQueue({ dir })).find((e) => e.id === other.entry.id)!;
    expect(final.state).toBe('lost');
    expect(await claimNext({ dir })).toBeUndefined();
    expect(existsSync(path.join((await queuePaths(dir)).claims, `${other.entry.id}.claim`))).toBe(false);
  }, 120_000);

  it('cancel: a queued entry at once, a running one by request, a final one unchanged; unknown ids refused', async () => {
    const dir = repo();
    const a = await add(dir, 'a');
    const b = await add(dir, 'b', {}, 'docker');
    expect((await cancelEntry({ dir, id: a.entry.id })).outcome).toBe('canceled');
    const run = (await claimNext({ dir }))!;
    expect(run.entry.id).toBe(b.entry.id); // a was canceled: never claimed
    expect(run.cancelRequested()).toBe(false);
    expect((await cancelEntry({ dir, id: b.entry.id })).outcome).toBe('requested');
    expect(run.cancelRequested()).toBe(true);
    await run.finish({ state: 'canceled' });
    expect((await cancelEntry({ dir, id: b.entry.id })).outcome).toBe('unchanged');
    for (const id of ['0123456789abcdef', '../../etc/passwd']) {
      const e = await cancelEntry({ dir, id }).catch((x) => x);
      expect(isGitmlError(e, 'UNKNOWN_QUEUE_ENTRY')).toBe(true);
    }
  });
});
