/**
 * buildReport: for each experiment, its newest run at the head commit against the newest
 * completed run of the base (a run of the merge-base itself when there is one, else the newest
 * completed run whose source commit the base branch contains), metric by metric.
 *
 * Reads through the runs store's own queries (listRuns, readRunMetrics); a base without runs
 * is an experiment with no `base`, never an error.
 *
 * @example
 *   const report = await buildReport({ dir, base: 'origin/main', head: 'HEAD', threshold: '1%' });
 *   process.stdout.write(renderMarkdown(report).text);
 */
import { isGitmlError } from '../errors.js';
import { resolveCommit, runGit } from '../git.js';
import { loadFromFiles } from '../entities/load.js';
import { commitFiles } from '../entities/sources.js';
import type { Experiment } from '../entities/types.js';
import { listRuns, readRunMetrics, runFolder } from '../runs/store.js';
import { loadRunStoreConfig, type RunStoreConfig } from '../runs/config.js';
import type { RunRecord } from '../runs/types.js';
import { goalFor, judge, parseThreshold, regressed, type Threshold } from './judge.js';
import type { ExperimentReport, Goal, MetricRow, ParamRow, Report, RunSummary, Series } from './types.js';

export interface BuildReportOptions {
  dir: string;
  /** The revision compared against (a branch, tag or commit). */
  base: string;
  head: string;
  /** Experiments to report; default: every experiment with a run at the head commit. */
  experiments?: string[];
  /** Worse than base by more than this is a regression: `0.01` absolute, `2%` relative. Default 0. */
  threshold?: string;
  /** Candidates looked at for the base branch's newest run (each costs an ancestry check). */
  scanLimit?: number;
  config?: RunStoreConfig;
}

const summary = (r: RunRecord): RunSummary => ({
  id: r.id,
  status: r.status,
  commit: r.source.commit,
  ...(r.source.branch ? { branch: r.source.branch } : {}),
  metrics: { ...(r.metrics ?? {}) },
  params: { ...(r.params ?? {}) },
  ...(r.error ? { error: r.error } : {}),
  folder: runFolder(r.experiment, r.id),
});

async function isAncestor(dir: string, a: string, b: string): Promise<boolean> {
  return (await runGit(dir, ['merge-base', '--is-ancestor', a, b])).code === 0;
}

async function mergeBaseOf(dir: string, a: string, b: string): Promise<string | undefined> {
  const r = await runGit(dir, ['merge-base', a, b]);
  const s = r.stdout.trim();
  return r.code === 0 && /^[0-9a-f]{40,64}$/.test(s) ? s : undefined;
}

/** The base run of one experiment and where it was found. */
async function findBase(o: BuildReportOptions, config: RunStoreConfig, experiment: string, baseCommit: string, mergeBase: string | undefined): Promise<{ run: RunRecord; from: 'merge-base' | 'base-branch' } | undefined> {
  if (mergeBase) {
    const at = await listRuns({ dir: o.dir, config, experiment, status: 'completed', commit: mergeBase, limit: 1 });
    if (at.runs[0]) return { run: at.runs[0], from: 'merge-base' };
  }
  const recent = await listRuns({ dir: o.dir, config, experiment, status: 'completed', limit: o.scanLimit ?? 200 });
  const checked = new Map<string, boolean>();
  for (const r of recent.runs) {
    const c = r.source.commit;
    if (!checked.has(c)) checked.set(c, await isAncestor(o.dir, c, baseCommit));
    if (checked.get(c)) return { run: r, from: 'base-branch' };
  }
  return undefined;
}

async function seriesOf(dir: string, config: RunStoreConfig, id: string | undefined, metric: string): Promise<Array<{ step: number; value: number }>> {
  if (!id) return [];
  try {
    return ((await readRunMetrics({ dir, config, id, metric }))[metric] ?? []).map((p) => ({ step: p.step, value: p.value }));
  } catch (e) {
    if (isGitmlError(e, 'PARAM')) return []; // the run recorded no series of that metric
    throw e;
  }
}

function metricRows(base: RunSummary | undefined, head: RunSummary | undefined, primary: string | undefined, goal: Goal | undefined): MetricRow[] {
  const names = new Set([...Object.keys(base?.metrics ?? {}), ...Object.keys(head?.metrics ?? {})]);
  if (primary) names.add(primary);
  const rows = [...names].map((name): MetricRow => {
    const b = typeof base?.metrics[name] === 'number' ? base.metrics[name] : undefined;
    const h = typeof head?.metrics[name] === 'number' ? head.metrics[name] : undefined;
    const g = goalFor(name, primary, goal);
    return { name, primary: name === primary, base: b, head: h, ...(b !== undefined && h !== undefined ? { delta: h - b } : {}), ...(g ? { goal: g } : {}), change: judge(b, h, g) };
  });
  return rows.sort((x, y) => (x.primary !== y.primary ? (x.primary ? -1 : 1) : x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

function paramRows(base: RunSummary | undefined, head: RunSummary | undefined): ParamRow[] {
  if (!base || !head) return [];
  const names = [...new Set([...Object.keys(base.params), ...Object.keys(head.params)])].sort();
  return names.filter((n) => JSON.stringify(base.params[n]) !== JSON.stringify(head.params[n])).map((name) => ({ name, base: base.params[name], head: head.params[name] }));
}

async function experimentReport(o: BuildReportOptions, config: RunStoreConfig, th: Threshold, name: string, spec: Experiment | undefined, headCommit: string, baseCommit: string, mergeBase: string | undefined): Promise<ExperimentReport> {
  const headRun = (await listRuns({ dir: o.dir, config, experiment: name, commit: headCommit, limit: 1 })).runs[0];
  const found = await findBase(o, config, name, baseCommit, mergeBase);
  const head = headRun ? summary(headRun) : undefined;
  const base = found ? summary(found.run) : undefined;
  const primary = spec?.metrics?.primary;
  const goal = primary ? goalFor(primary, primary, spec?.metrics?.goal) : undefined;
  const metrics = metricRows(base, head, primary, goal);
  const p = metrics.find((m) => m.primary);
  let series: Series | undefined;
  if (primary) {
    const [b, h] = await Promise.all([seriesOf(o.dir, config, base?.id, primary), seriesOf(o.dir, config, head?.id, primary)]);
    if (b.length || h.length) series = { metric: primary, base: b, head: h };
  }
  return {
    experiment: name,
    ...(primary ? { primary } : {}),
    ...(goal ? { goal } : {}),
    ...(head ? { head } : {}),
    ...(base ? { base, baseFrom: found!.from } : {}),
    metrics,
    params: paramRows(base, head),
    ...(series ? { series } : {}),
    regressed: head?.status === 'completed' && p ? regressed(p.base, p.head, goal, th) : false,
  };
}

export async function buildReport(o: BuildReportOptions): Promise<Report> {
  const th = parseThreshold(o.threshold);
  const [baseCommit, headCommit] = await Promise.all([resolveCommit(o.dir, o.base), resolveCommit(o.dir, o.head)]);
  const mergeBase = await mergeBaseOf(o.dir, baseCommit, headCommit);
  const config = o.config ?? (await loadRunStoreConfig(o.dir));
  const loaded = await loadFromFiles(o.dir, await commitFiles(o.dir, headCommit), headCommit);
  const specs = loaded.value?.experiments;
  let names = o.experiments;
  if (!names) {
    const atHead = await listRuns({ dir: o.dir, config, commit: headCommit });
    names = [...new Set(atHead.runs.map((r) => r.experiment))];
  }
  names = [...new Set(names)].sort();
  const experiments: ExperimentReport[] = [];
  for (const n of names) experiments.push(await experimentReport(o, config, th, n, specs?.get(n)?.spec, headCommit, baseCommit, mergeBase));
  return {
    base: { rev: o.base, commit: baseCommit },
    head: { rev: o.head, commit: headCommit },
    ...(mergeBase ? { mergeBase } : {}),
    threshold: th.text,
    experiments,
    regressed: experiments.some((e) => e.regressed),
    failed: experiments.some((e) => e.head !== undefined && e.head.status !== 'completed'),
  };
}
