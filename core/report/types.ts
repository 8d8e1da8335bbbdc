/**
 * The base/head metrics comparison of a change: what `gitml report` prints and what the
 * GitHub Action posts on a pull request. Plain data, so `--format json` is this as it is.
 */
import type { ParamValue, RunStatus } from '../runs/types.js';

export type Goal = 'maximize' | 'minimize';

/** How a metric moved from base to head, judged by its goal. */
export type Change = 'better' | 'worse' | 'same' | 'new' | 'gone' | 'unjudged';

export interface RunSummary {
  id: string;
  status: RunStatus;
  commit: string;
  branch?: string;
  metrics: Record<string, number>;
  params: Record<string, ParamValue>;
  error?: string;
  /** Folder of the run on the runs branch (for links). */
  folder: string;
}

export interface MetricRow {
  name: string;
  primary: boolean;
  base?: number;
  head?: number;
  /** head - base, when both exist. */
  delta?: number;
  /** The goal the change was judged by; undefined when nothing says which way is better. */
  goal?: Goal;
  change: Change;
}

export interface ParamRow {
  name: string;
  base?: ParamValue;
  head?: ParamValue;
}

export interface Series {
  metric: string;
  base: Array<{ step: number; value: number }>;
  head: Array<{ step: number; value: number }>;
}

export interface ExperimentReport {
  experiment: string;
  primary?: string;
  goal?: Goal;
  head?: RunSummary;
  base?: RunSummary;
  /** Where the base run came from: a run of the merge-base itself, or the newest run on the base branch. */
  baseFrom?: 'merge-base' | 'base-branch';
  /** Metrics, the primary first, then by name. */
  metrics: MetricRow[];
  /** Params whose values differ between base and head. */
  params: ParamRow[];
  series?: Series;
  /** The primary metric is worse than base by more than the threshold. */
  regressed: boolean;
}

export interface Report {
  base: { rev: string; commit: string };
  head: { rev: string; commit: string };
  mergeBase?: string;
  /** The threshold the regressions were judged with, as given (`0.01`, `2%`). */
  threshold: string;
  experiments: ExperimentReport[];
  /** Some experiment regressed. */
  regressed: boolean;
  /** Some head run did not complete. */
  failed: boolean;
}
