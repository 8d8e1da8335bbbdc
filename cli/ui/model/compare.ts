/**
 * Compare view data: params side by side (differences flagged) and final metric deltas against
 * the first run (core/runs compareRuns, what `gitml runs compare` prints), and one metric's
 * series of every run for the overlaid chart.
 */
import { compareRuns, type RunComparison } from '../../../core/runs/compare.js';
import { readRunMetrics } from '../../../core/runs/read.js';
import type { MetricPoint } from '../../../core/runs/types.js';

export interface CompareData extends RunComparison {
  /** Metrics with a recorded series in at least one of the runs (what `m` cycles through). */
  seriesNames: string[];
  /** The metric shown overlaid: the one asked for when some run has its series, else the first. */
  metric?: string;
  series: MetricPoint[][];
}

export async function loadCompare(o: { dir: string; ids: string[]; metric?: string }): Promise<CompareData> {
  const cmp = await compareRuns({ dir: o.dir, ids: o.ids });
  const all = await Promise.all(cmp.runs.map((r) => readRunMetrics({ dir: o.dir, id: r.id })));
  const seriesNames = [...new Set(all.flatMap((s) => Object.keys(s)))].sort();
  const metric = o.metric !== undefined && seriesNames.includes(o.metric) ? o.metric : seriesNames[0];
  return { ...cmp, seriesNames, metric, series: metric === undefined ? [] : all.map((s) => s[metric] ?? []) };
}

/** The metric after `cur` in the compare view's `m` cycle. */
export function nextMetric(c: CompareData, cur: string | undefined): string | undefined {
  if (!c.seriesNames.length) return undefined;
  return c.seriesNames[(c.seriesNames.indexOf(cur ?? '') + 1) % c.seriesNames.length];
}
