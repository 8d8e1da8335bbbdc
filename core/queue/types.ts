/**
 * The daemon's queue: one JSON file per entry in the repository's git common dir
 * (`.git/gitml/queue/entries/<id>.json`), so every worktree of a clone shares one queue and
 * nothing of it is ever committed.
 */
import type { ParamValue } from '../runs/types.js';

/** `queued` → `running` → `completed` | `failed`; `lost` when its worker died twice; `canceled` by the user. */
export type QueueState = 'queued' | 'running' | 'completed' | 'failed' | 'lost' | 'canceled';

export const FINAL_QUEUE_STATES: readonly QueueState[] = ['completed', 'failed', 'lost', 'canceled'];

/** Who holds a claim: written into the O_EXCL claim file and copied into the entry. */
export interface ClaimOwner {
  pid: number;
  host: string;
  at: string;
}

export interface QueueEntry {
  /** 16 hex characters of the key's sha256: one entry per (commit, experiment, params). */
  id: string;
  /** Order of arrival (a counter kept under the queue lock). */
  seq: number;
  experiment: string;
  commit: string;
  /** Branch the commit was seen on (recorded on the run). */
  branch?: string;
  /** Resolved params, every declared one (so an explicit default and an omitted one are the same key). */
  params: Record<string, ParamValue>;
  /** Compute target name and its concurrency, resolved at the commit when enqueued. */
  compute: string;
  concurrency: number;
  state: QueueState;
  /** Why it was queued: `{kind: 'daemon', ref}` or `{kind: 'queue'}` from the CLI. */
  trigger: { kind: string; ref?: string; event?: string };
  createdAt: string;
  updatedAt: string;
  /** How many times a worker started it. */
  attempts: number;
  /** How many times its worker died while running it (settled as lost; retried once). */
  lost: number;
  claim?: ClaimOwner;
  /**
   * A retraining on drift (core/monitor/retrain.ts queueRetraining): when its run completes,
   * the worker registers the model it made (and promotes it by the service's policy).
   */
  retrain?: { service: string; model: string; report: string };
  /** Set by `gitml queue cancel` on a running entry: its worker stops the run. */
  cancelRequested?: boolean;
  runId?: string;
  /** The run's final status (completed, failed, timed_out, canceled). */
  runStatus?: string;
  error?: string;
}
