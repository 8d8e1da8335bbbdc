/**
 * listRuns: every run on the branch (through the cached catalog), filtered, sorted and limited.
 */
import type { RunRecord } from './types.js';
import { openRuns } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { loadCatalog } from './catalog.js';
import { matches, parseWhere, sorter } from './query.js';

export interface ListRunsOptions {
  dir: string;
  experiment?: string;
  /** One status, or several separated by commas. */
  status?: string;
  /** Source branch the run was made from. */
  branch?: string;
  /** Source commit (a prefix is enough). */
  commit?: string;
  /** Conditions that must all hold, e.g. `params.C>=1`, `metrics.accuracy>0.9`. */
  where?: string[];
  /** A key to sort by, `-` prefix for descending; default newest first. */
  sort?: string;
  limit?: number;
  config?: RunStoreConfig;
}

export interface RunProblem {
  path: string;
  message: string;
}

/**
 * Records come without `spec` (the resolved experiment spec; `getRun` has it) and are shared
 * with the in-process cache: treat them as read-only.
 *
 * Example: `listRuns({ dir, experiment: 'train', where: ['metrics.accuracy>0.9'], sort: '-metrics.accuracy', limit: 5 })`.
 */
export async function listRuns(opts: ListRunsOptions): Promise<{ runs: RunRecord[]; problems: RunProblem[] }> {
  const conds = (opts.where ?? []).map(parseWhere);
  const cmp = opts.sort ? sorter(opts.sort) : undefined;
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const repo = openRuns(opts.dir, config);
  const cat = await loadCatalog(repo);
  const statuses = opts.status ? new Set(opts.status.split(',').map((s) => s.trim())) : undefined;
  const runs: RunRecord[] = [];
  for (const { record: r } of cat.runs.values()) {
    if (opts.experiment !== undefined && r.experiment !== opts.experiment) continue;
    if (statuses && !statuses.has(r.status)) continue;
    if (opts.branch !== undefined && r.source?.branch !== opts.branch) continue;
    if (opts.commit !== undefined && !(r.source?.commit ?? '').startsWith(opts.commit)) continue;
    if (conds.length && !conds.every((c) => matches(r, c))) continue;
    runs.push(r);
  }
  runs.sort(cmp ?? ((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)));
  if (opts.limit !== undefined && opts.limit >= 0) runs.length = Math.min(runs.length, opts.limit);
  const problems = [...cat.problems.values()].map((p) => ({ path: p.path, message: p.message }));
  return { runs, problems };
}
