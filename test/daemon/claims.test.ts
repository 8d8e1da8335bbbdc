/**
 * Claims on a remote, for several daemons following one remote: the claim ref is created by a
 * push that fails when it exists; a claim past its expiry is taken over once; a finished claim
 * stays. Then two real daemons in two clones: one pushed commit runs once between them; a
 * daemon SIGKILLed mid-run has its claim taken over by the other, which runs the entry.
 */
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimOnRemote, claimRef, readRemoteClaim } from '../../core/queue/remote-claim.js';
import { git, gitml, removeDir, tmpDir } from '../support/repo.js';
import { startDaemon, type Running } from './support.js';

let parent: string;
let work: string;
let bare: string;
const daemons: Running[] = [];

beforeAll(() => {
  parent = tmpDir('gitml-daemon-claims-');
  work = path.join(parent, 'work');
  bare = path.join(parent, 'remote.git');
  const r = gitml(parent, ['init', work, '--template', 'python']);
  if (r.code !== 0) throw new Error(r.stderr);
  git(parent, 'init', '-q', '--bare', '-b', 'main', bare);
  git(work, 'remote', 'add', 'origin', bare);
  git(work, 'push', '-q', 'origin', 'main');
  for (const c of ['a', 'b']) git(parent, 'clone', '-q', bare, path.join(parent, c));
});
afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  removeDir(parent);
});

describe('claims on a remote', () => {
  it('the first claim wins, a second is refused with the holder; done stays; an expired one is taken over once', async () => {
    const a = path.join(parent, 'a');
    const b = path.join(parent, 'b');
    const first = await claimOnRemote({ dir: a, remote: 'origin', id: '00000000000000a1', ttlMs: 60_000 });
    expect(first.ok).toBe(true);
    const second = await claimOnRemote({ dir: b, remote: 'origin', id: '00000000000000a1', ttlMs: 60_000 });
    expect(second).toMatchObject({ ok: false, holder: { state: 'running', pid: process.pid } });
    if (first.ok) await first.claim.done({ runId: 'r1', status: 'completed' });
    expect((await readRemoteClaim(b, 'origin', '00000000000000a1'))?.info).toMatchObject({ state: 'done', runId: 'r1' });
    expect(await claimOnRemote({ dir: b, remote: 'origin', id: '00000000000000a1', ttlMs: 60_000 })).toMatchObject({ ok: false, holder: { state: 'done' } });

    // A claim written an hour ago with a minute to live: its worker stopped renewing it.
    const stale = await claimOnRemote({ dir: a, remote: 'origin', id: '00000000000000a2', ttlMs: 60_000, clock: () => Date.now() - 3_600_000 });
    expect(stale.ok).toBe(true);
    const [x, y] = await Promise.all([
      claimOnRemote({ dir: a, remote: 'origin', id: '00000000000000a2', ttlMs: 60_000 }),
      claimOnRemote({ dir: b, remote: 'origin', id: '00000000000000a2', ttlMs: 60_000 }),
    ]);
    expect([x.ok, y.ok].filter(Boolean)).toHaveLength(1); // taken over by exactly one
    const winner = x.ok ? x : y;
    expect(winner).toMatchObject({ tookOver: { expiresAt: expect.any(String) } });
    // The stale holder learns it lost the claim when it renews.
    if (stale.ok) await expect(stale.claim.renew()).rejects.toThrow(/taken over/);
    expect(git(bare, 'for-each-ref', '--format=%(refname)', 'refs/gitml/claims/')).toContain(claimRef('00000000000000a2'));
  });

  it('an unreachable remote is a REMOTE error', async () => {
    git(path.join(parent, 'a'), 'remote', 'add', 'gone', path.join(parent, 'nowhere.git'));
    await expect(claimOnRemote({ dir: path.join(parent, 'a'), remote: 'gone', id: '00000000000000a3', ttlMs: 1000 })).rejects.toMatchObject({ code: 'REMOTE' });
  });
});

describe('two daemons following one remote', () => {
  const runsOf = (commit: string) => {
    expect(gitml(work, ['pull']).code).toBe(0);
    return (JSON.parse(gitml(work, ['runs', 'list', '--json']).stdout) as { runs: Array<{ id: string; source: { commit: string } }> }).runs.filter((r) => r.source.commit === commit);
  };
  const push = (text: string) => {
    appendFileSync(path.join(work, 'src/train.py'), `\n${text}\n`);
    git(work, 'commit', '-qam', `train: ${text.split('\n')[0]}`);
    git(work, 'push', '-q', 'origin', 'main');
    return git(work, 'rev-parse', 'HEAD');
  };
  let da: Running;
  let db: Running;

  it('a pushed commit runs once between them; the other says it is claimed elsewhere', async () => {
    da = startDaemon(path.join(parent, 'a'), ['--remote', 'origin', '--interval', '1s', '--reconcile', '0', '--claim-ttl', '4s']);
    db = startDaemon(path.join(parent, 'b'), ['--remote', 'origin', '--interval', '1s', '--reconcile', '0', '--claim-ttl', '4s']);
    daemons.push(da, db);
    await Promise.all([da.waitFor((e) => e.event === 'ready'), db.waitFor((e) => e.event === 'ready')]);
    const c = push('# once');
    const fin = await Promise.race([da.waitFor((e) => e.event === 'run-finished', 120_000), db.waitFor((e) => e.event === 'run-finished', 120_000)]);
    const [runner, other] = da.events.includes(fin) ? [da, db] : [db, da];
    await other.waitFor((e) => e.event === 'claimed-elsewhere' && e.commit === c, 30_000);
    await runner.waitFor((e) => e.event === 'pushed', 60_000);
    expect([...da.events, ...db.events].filter((e) => e.event === 'run-started' && e.commit === c)).toHaveLength(1);
    expect(runsOf(c)).toHaveLength(1);
  }, 240_000);

  it('a daemon SIGKILLed mid-run: the other takes its claim over and runs the entry', async () => {
    const c = push('import time\ntime.sleep(6)');
    const started = await Promise.race([da.waitFor((e) => e.event === 'run-started' && e.commit === c, 60_000), db.waitFor((e) => e.event === 'run-started' && e.commit === c, 60_000)]);
    const [victim, survivor] = da.events.includes(started) ? [da, db] : [db, da];
    await victim.stop('SIGKILL');
    const taken = await survivor.waitFor((e) => e.event === 'claim-taken-over' && e.id === started.id, 60_000);
    expect(taken.from).toBe(`${hostname()}:${victim.child.pid}`);
    const fin = await survivor.waitFor((e) => e.event === 'run-finished' && e.id === started.id, 120_000);
    expect(fin.status).toBe('completed');
    await survivor.waitFor((e) => e.event === 'pushed' && (survivor.events.indexOf(e) > survivor.events.indexOf(fin)), 60_000);
    expect(runsOf(c).filter((r) => r.id === fin.runId)).toHaveLength(1);
    expect(await survivor.stop()).toBe(0);
  }, 240_000);
});
