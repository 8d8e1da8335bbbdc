/**
 * Compare view data: params side by side (differences flagged) and final metric deltas against
 * the first run (core/runs compareRuns, what `gitml runs compare` prints), and one metric's
 * series of every run for the overlaid chart.
 */
import { compareRuns, type RunComparison } from '../../../core/runs/compare.js';
import { readRunMetrics } from '../../../core/runs/read.js';
import type { MetricPoint } from '../../../core/runs/types.js';

export interface CompareData extends RunComparison {
  /** The metric shown overlaid (the primary metric when the runs have it, else the first). */
  metric?: string;
  series: MetricPoint[][];
}

export async function loadCompare(o: { dir: string; ids: string[]; metric?: string }): Promise<CompareData> {
  const cmp = await compareRuns({ dir: o.dir, ids: o.ids });
  const metric = o.metric && cmp.metrics.some((m) => m.name === o.metric) ? o.metric : cmp.metrics[0]?.name;
  const series = metric === undefined ? [] : await Promise.all(cmp.runs.map(async (r) => (await readRunMetrics({ dir: o.dir, id: r.id }))[metric] ?? []));
  return { ...cmp, metric, series };
}

/** The metric after `cur` in the compare view's `m` cycle. */
export function nextMetric(cmp: RunComparison, cur: string | undefined): string | undefined {
  const names = cmp.metrics.map((m) => m.name);
  if (!names.length) return undefined;
  return names[(names.indexOf(cur ?? '') + 1) % names.length];
}
