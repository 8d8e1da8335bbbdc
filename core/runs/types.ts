/**
 * The run record and the store contract shared by the runners (which write runs), the
 * registry (which tags the commit that recorded a run), the daemon, the Action and the UI.
 * The store itself (core/runs/store.ts) owns the on-branch layout.
 */
import type { Experiment } from '../entities/types.js';

export type RunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'canceled' | 'timed_out';
/** Every status, in the order a run goes through them. */
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'completed', 'failed', 'canceled', 'timed_out'];
export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'canceled', 'timed_out'];

export type ParamValue = string | number | boolean;

export interface ArtifactRef {
  /** Path relative to the run's outputs folder, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
  /** `inline`: a blob on the runs branch; `store`: in the content-addressed artifact store. */
  storage: 'inline' | 'store';
}

export interface InputRef {
  path: string;
  /** sha256 of the file, or of a sorted listing of (path, sha256) for a folder. */
  sha256: string;
  size: number;
}

export interface RunRecord {
  /** Format version of this record. */
  schema: 1;
  id: string;
  experiment: string;
  status: RunStatus;
  params: Record<string, ParamValue>;
  /** Final (last reported) value of each metric. */
  metrics: Record<string, number>;
  source: {
    commit: string;
    tree: string;
    branch?: string;
    /** true when run with --allow-dirty from a working tree that differed from the commit. */
    dirty?: boolean;
  };
  /** The experiment spec as resolved for this run (defaults applied). */
  spec?: Experiment;
  inputs: Record<string, InputRef>;
  environment?: { name: string; digest: string; image?: string; imageDigest?: string };
  compute: { name: string; type: string };
  host: string;
  user?: string;
  /** Who started it: cli, daemon, action, retrain, or a test. */
  trigger?: { kind: string; ref?: string; event?: string };
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  exitCode?: number | null;
  /** Why the run did not complete, in plain words (build failure, timeout, signal...). */
  error?: string;
  artifacts: ArtifactRef[];
  /** Free-form labels. */
  tags?: Record<string, string>;
}

export interface MetricPoint {
  name: string;
  value: number;
  step: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
}
