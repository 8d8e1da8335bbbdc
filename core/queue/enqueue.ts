/**
 * Add an entry to the queue, once per key: the same (commit, experiment, params) enqueued
 * again, by a second daemon pass or a second `gitml queue add`, is the existing entry,
 * whatever its state, so nothing runs twice.
 *
 * @example
 *   const { entry, added } = await enqueue({ dir, experiment: 'train', commit, params: { lr: 0.5 }, compute: 'local', concurrency: 1, trigger: { kind: 'queue' } });
 */
import { createHash } from 'node:crypto';
import type { ParamValue } from '../runs/types.js';
import { nextSeq, queuePaths, readEntry, withQueueLock, writeEntry } from './store.js';
import type { QueueEntry } from './types.js';

export interface EnqueueOptions {
  dir: string;
  experiment: string;
  commit: string;
  branch?: string;
  params: Record<string, ParamValue>;
  compute: string;
  concurrency?: number;
  trigger: QueueEntry['trigger'];
  retrain?: QueueEntry['retrain'];
  clock?: () => number;
}

/**
 * The entry id of a key: params with sorted names, so their order never makes a second entry.
 * A retraining's key also holds its drift report: the same code retrained on a later report
 * is a new entry, not the one that ran before.
 */
export function queueKey(commit: string, experiment: string, params: Record<string, ParamValue>, report?: string): string {
  const sorted = Object.keys(params)
    .sort()
    .map((k) => [k, params[k]]);
  return createHash('sha256').update(JSON.stringify(report === undefined ? [commit, experiment, sorted] : [commit, experiment, sorted, report])).digest('hex').slice(0, 16);
}

export async function enqueue(o: EnqueueOptions): Promise<{ entry: QueueEntry; added: boolean }> {
  const p = await queuePaths(o.dir);
  const id = queueKey(o.commit, o.experiment, o.params, o.retrain?.report);
  return withQueueLock(p, () => {
    const existing = readEntry(p, id);
    if (existing) return { entry: existing, added: false };
    const now = new Date((o.clock ?? Date.now)()).toISOString();
    const entry: QueueEntry = {
      id,
      seq: nextSeq(p),
      experiment: o.experiment,
      commit: o.commit,
      ...(o.branch ? { branch: o.branch } : {}),
      params: o.params,
      compute: o.compute,
      concurrency: Math.max(1, Math.floor(o.concurrency ?? 1)),
      state: 'queued',
      trigger: o.trigger,
      ...(o.retrain ? { retrain: o.retrain } : {}),
      createdAt: now,
      updatedAt: now,
      attempts: 0,
      lost: 0,
    };
    writeEntry(p, entry);
    return { entry, added: true };
  });
}
