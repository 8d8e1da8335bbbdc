/**
 * compareRuns: params and final metrics of several runs side by side, with each metric's delta
 * against the first run.
 */
import type { ParamValue, RunRecord } from './types.js';
import { openRuns } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { locateRun } from './get.js';

export interface RunComparison {
  runs: RunRecord[];
  params: Array<{ name: string; values: (ParamValue | undefined)[]; differs: boolean }>;
  /** `deltas[i]` = value of run i minus value of run 0 (undefined when either is missing). */
  metrics: Array<{ name: string; values: (number | undefined)[]; deltas: (number | undefined)[] }>;
}

export async function compareRuns(opts: { dir: string; ids: string[]; config?: RunStoreConfig }): Promise<RunComparison> {
  const repo = openRuns(opts.dir, opts.config ?? (await loadRunStoreConfig(opts.dir)));
  const runs: RunRecord[] = [];
  for (const id of opts.ids) runs.push((await locateRun(repo, id)).record);
  const names = (pick: (r: RunRecord) => Record<string, unknown>) => [...new Set(runs.flatMap((r) => Object.keys(pick(r) ?? {})))].sort();
  const params = names((r) => r.params).map((name) => {
    const values = runs.map((r) => r.params?.[name]);
    return { name, values, differs: new Set(values.map((v) => JSON.stringify(v))).size > 1 };
  });
  const metrics = names((r) => r.metrics).map((name) => {
    const values = runs.map((r) => (typeof r.metrics?.[name] === 'number' ? r.metrics[name] : undefined));
    const base = values[0];
    return { name, values, deltas: values.map((v) => (v === undefined || base === undefined ? undefined : v - base)) };
  });
  return { runs, params, metrics };
}
