/**
 * Claiming queue entries. A worker claims an entry by creating its claim file with O_EXCL
 * (holding pid and host) and marking it `running`, all under the queue lock, so two workers
 * never start one entry and the per-compute `concurrency` is never exceeded. The claim file
 * lives as long as the run; the final state is written before it is removed, so a worker
 * killed at any point leaves either a final entry or a running one with a dead claim.
 *
 * Settling: a running entry whose claim belongs to a dead process of this host (or has no
 * claim file at all) is lost; the first time it is queued again (retried once), the second
 * time it stays `lost`. Claims of other hosts are left alone (their liveness cannot be seen
 * from here).
 *
 * @example
 *   const c = await claimNext({ dir });
 *   if (c) { const r = await run(c.entry); await c.finish({ state: 'completed', runId: r.runId }); }
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { GitmlError, fromSystemError } from '../errors.js';
import { createExclusive } from '../fs.js';
import { pidAlive } from '../pid.js';
import { claimFile, listEntries, queuePaths, readEntry, sweepTemps, withQueueLock, writeEntry, type QueuePaths } from './store.js';
import { FINAL_QUEUE_STATES, type ClaimOwner, type QueueEntry, type QueueState } from './types.js';

export interface ClaimOptions {
  dir: string;
  /** Only entries this returns true for (e.g. one compute target). */
  filter?: (e: QueueEntry) => boolean;
  clock?: () => number;
  /** This worker's identity (tests); default this process on this host. */
  owner?: { pid: number; host: string };
}

export interface FinishResult {
  state: Extract<QueueState, 'completed' | 'failed' | 'canceled'>;
  runId?: string;
  runStatus?: string;
  error?: string;
}

export interface Claim {
  entry: QueueEntry;
  /** Record the final state, then drop the claim. */
  finish(r: FinishResult): Promise<QueueEntry>;
  /** Whether `gitml queue cancel` asked this entry to stop. */
  cancelRequested(): boolean;
  /** Hand the entry back (queued again, as if never claimed; a stopping daemon's runs in flight). */
  release(): Promise<QueueEntry>;
}

export interface SettleEvent {
  id: string;
  experiment: string;
  /** `requeued`: lost once, queued again; `lost`: lost a second time, given up. */
  outcome: 'requeued' | 'lost';
  owner?: ClaimOwner;
}

function readClaim(file: string): ClaimOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClaimOwner;
  } catch {
    return undefined;
  }
}

/** Whether the process holding this claim is known to be dead. */
function claimDead(owner: ClaimOwner | undefined, host: string): boolean {
  if (!owner) return true;
  return owner.host === host && !pidAlive(owner.pid);
}

/** Settle lost entries and drop stray claim files (call under the queue lock). */
function settleLocked(p: QueuePaths, entries: QueueEntry[], host: string, now: string): SettleEvent[] {
  const events: SettleEvent[] = [];
  const byId = new Map(entries.map((e) => [e.id, e]));
  for (const e of entries) {
    if (e.state !== 'running') continue;
    const file = claimFile(p, e.id);
    const owner = readClaim(file);
    if (!claimDead(owner, host) || (!owner && e.claim && e.claim.host !== host)) continue;
    const lost = e.lost + 1;
    const next: QueueEntry = { ...e, lost, updatedAt: now, state: lost >= 2 ? 'lost' : 'queued', error: `its worker (pid ${owner?.pid ?? e.claim?.pid ?? '?'} on ${owner?.host ?? e.claim?.host ?? '?'}) died while running it` };
    delete next.claim;
    writeEntry(p, next);
    rmSync(file, { force: true });
    byId.set(e.id, next);
    events.push({ id: e.id, experiment: e.experiment, outcome: lost >= 2 ? 'lost' : 'requeued', owner: owner ?? e.claim });
  }
  // A claim file whose entry is final or gone: its worker died between the two writes.
  let names: string[] = [];
  try {
    names = readdirSync(p.claims);
  } catch {
    /* none */
  }
  for (const n of names) {
    const id = n.replace(/\.claim$/, '');
    const e = byId.get(id);
    // Or whose entry is still queued: claim and `running` are written together under this
    // lock, so that is a worker killed between the two writes.
    if (!e || e.state === 'queued' || FINAL_QUEUE_STATES.includes(e.state)) rmSync(claimFile(p, id), { force: true });
  }
  for (const [i, e] of entries.entries()) entries[i] = byId.get(e.id) ?? e;
  return events;
}

/** Settle entries whose worker died (see the file comment). */
export async function settleLost(o: { dir: string; clock?: () => number; host?: string }): Promise<SettleEvent[]> {
  const p = await queuePaths(o.dir);
  return withQueueLock(p, () => settleLocked(p, listEntries(p), o.host ?? hostname(), new Date((o.clock ?? Date.now)()).toISOString()));
}

/**
 * Claim the first queued entry (in order of arrival) whose compute target has room under
 * its concurrency. Resolves undefined when nothing can start now.
 */
export async function claimNext(o: ClaimOptions): Promise<Claim | undefined> {
  const p = await queuePaths(o.dir);
  const me = { pid: o.owner?.pid ?? process.pid, host: o.owner?.host ?? hostname() };
  const clock = o.clock ?? Date.now;
  const entry = await withQueueLock(p, () => {
    const now = new Date(clock()).toISOString();
    const entries = listEntries(p);
    settleLocked(p, entries, me.host, now);
    sweepTemps(p, clock());
    const running = new Map<string, number>();
    for (const e of entries) if (e.state === 'running') running.set(e.compute, (running.get(e.compute) ?? 0) + 1);
    for (const e of entries) {
      if (e.state !== 'queued' || (o.filter && !o.filter(e))) continue;
      if ((running.get(e.compute) ?? 0) >= e.concurrency) continue;
      const owner: ClaimOwner = { ...me, at: now };
      let created: boolean;
      try {
        created = createExclusive(claimFile(p, e.id), JSON.stringify(owner));
      } catch (err) {
        throw fromSystemError(err);
      }
      if (!created) continue; // a claim the lock did not see: leave it
      const next: QueueEntry = { ...e, state: 'running', claim: owner, attempts: e.attempts + 1, updatedAt: now };
      delete next.error;
      writeEntry(p, next);
      return next;
    }
    return undefined;
  });
  if (!entry) return undefined;
  return {
    entry,
    cancelRequested: () => readEntry(p, entry.id)?.cancelRequested === true,
    release: () => settle({ state: 'queued' }),
    finish: (r) => settle(r),
  };
  function settle(r: Omit<FinishResult, 'state'> & { state: FinishResult['state'] | 'queued' }): Promise<QueueEntry> {
    return withQueueLock(p, () => {
        const cur = readEntry(p, entry!.id);
        const owner = readClaim(claimFile(p, entry!.id));
        if (!cur || cur.state !== 'running' || !owner || owner.pid !== me.pid || owner.host !== me.host) {
          throw new GitmlError('INTERNAL', `queue entry ${entry!.id} is no longer claimed by this worker`, { id: entry!.id });
        }
        const next: QueueEntry = { ...cur, state: r.state, updatedAt: new Date(clock()).toISOString() };
        if (r.state === 'queued') next.attempts = Math.max(0, cur.attempts - 1);
        delete next.claim;
        delete next.error;
        if (r.runId) next.runId = r.runId;
        if (r.runStatus) next.runStatus = r.runStatus;
        if (r.error) next.error = r.error;
        writeEntry(p, next);
        rmSync(claimFile(p, entry!.id), { force: true });
        return next;
      });
  }
}
