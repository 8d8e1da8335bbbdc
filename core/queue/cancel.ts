/**
 * `gitml queue cancel ID`: a queued entry becomes `canceled` at once; a running one is asked
 * to stop (its worker cancels the run, which is recorded `canceled`); a final one is left as
 * it is and said so.
 */
import { GitmlError } from '../errors.js';
import { FINAL_QUEUE_STATES, type QueueEntry } from './types.js';
import { entryFile, listEntries, queuePaths, readEntry, withQueueLock, writeEntry } from './store.js';

export interface CancelResult {
  entry: QueueEntry;
  /** `canceled`: it will not run; `requested`: its worker was asked to stop; `unchanged`: already final. */
  outcome: 'canceled' | 'requested' | 'unchanged';
}

export async function cancelEntry(o: { dir: string; id: string; clock?: () => number }): Promise<CancelResult> {
  const p = await queuePaths(o.dir);
  entryFile(p, o.id); // checks the id's form
  return withQueueLock(p, () => {
    const e = readEntry(p, o.id);
    if (!e) {
      const known = listEntries(p).map((x) => x.id);
      throw new GitmlError('UNKNOWN_QUEUE_ENTRY', `there is no queue entry ${o.id} (see \`gitml queue list\`)`, { id: o.id, known: known.slice(0, 20) });
    }
    if (FINAL_QUEUE_STATES.includes(e.state)) return { entry: e, outcome: 'unchanged' as const };
    const now = new Date((o.clock ?? Date.now)()).toISOString();
    const next: QueueEntry = e.state === 'queued' ? { ...e, state: 'canceled', updatedAt: now } : { ...e, cancelRequested: true, updatedAt: now };
    writeEntry(p, next);
    return { entry: next, outcome: e.state === 'queued' ? ('canceled' as const) : ('requested' as const) };
  });
}

/** The queue's entries, in order of arrival. */
export async function listQueue(o: { dir: string }): Promise<QueueEntry[]> {
  return listEntries(await queuePaths(o.dir));
}
