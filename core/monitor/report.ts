/**
 * `monitorService`: compare a service's sampled requests with its model's training
 * reference, column by column, and say whether the data drifted.
 *
 * The test per column follows Evidently's defaults (overridable per service or per call):
 * reference of at most 1,000 rows: Kolmogorov-Smirnov for numeric columns with more than 5
 * distinct values, chi-squared otherwise (drifted when p < 0.05); larger references: normed
 * Wasserstein for numeric columns with more than 5 distinct values, Jensen-Shannon otherwise
 * (drifted above 0.1). PSI (above 0.1) on request. The dataset has drifted when the share of
 * drifted input columns reaches `shareThreshold` (0.5); the predictions are reported on their own.
 *
 * Example:
 *   const r = await monitorService({ dir: '.', service: 'iris', requests: 'samples.jsonl' });
 *   r.columns.filter((c) => c.drifted).map((c) => c.name)   // ['petal_length']
 */
import { createHash } from 'node:crypto';
import { GitmlError } from '../errors.js';
import { CategoricalColumn, NumericColumn, OTHER_CATEGORY, type Column } from './columns.js';
import { scrapeHealth, type HealthReport } from './health.js';
import { loadReference, serviceTarget, type Reference } from './reference.js';
import { readSampleLog, type ReadStats, type Window } from './requests.js';
import { binOf, chi2, jensenShannon, ks2samp, psi, quantileEdges, sorted, wassersteinNormed } from './stats.js';

export const DRIFT_METHODS = ['auto', 'ks', 'chi2', 'psi', 'js', 'wasserstein'] as const;
export type DriftMethod = (typeof DRIFT_METHODS)[number];

/** Default thresholds: a p-value below (ks, chi2) or a distance above (psi, js, wasserstein). */
export const DEFAULT_THRESHOLDS: Record<Exclude<DriftMethod, 'auto'>, number> = { ks: 0.05, chi2: 0.05, psi: 0.1, js: 0.1, wasserstein: 0.1 };

/** Reference columns that are not model inputs: `prediction` is compared with the outputs, labels are skipped. */
const PREDICTION = 'prediction';
const LABELS = new Set(['label', 'target', 'y']);

export interface MonitorOptions {
  dir: string;
  service: string;
  /**
   * A sample log (JSON lines as the scoring server writes them). Without it, the sample logs
   * of the service's deployed replicas are read (core/monitor/deployed.ts).
   */
  requests?: string;
  window?: Window;
  /** Override the test for every column. */
  method?: DriftMethod;
  threshold?: number;
  shareThreshold?: number;
  /** Values kept per numeric column for KS and Wasserstein (a uniform reservoir). */
  reservoir?: number;
  /** `/metrics` URLs of the service's replicas, for its health. */
  metrics?: string[];
  /** Called every 100,000 rows read. */
  onProgress?: (rows: number) => void;
}

export interface ColumnReport {
  name: string;
  kind: 'numeric' | 'categorical';
  method: Exclude<DriftMethod, 'auto'>;
  statistic: number | null;
  pvalue?: number;
  threshold: number;
  drifted: boolean;
  /** 'ok', or why no statistic was computed: the requests lack the column, carry only values of another type, or there is nothing to compare. */
  status: 'ok' | 'missing' | 'invalid' | 'no-data';
  reference: { rows: number; missing: number; unique: number; constant: boolean };
  current: { rows: number; missing: number; invalid: number; sampled: number };
  /** Shares per bin (numeric: quantile bins of the reference; categorical: categories). */
  histogram: { labels: string[]; reference: number[]; current: number[] };
}

export interface MonitorReport {
  /** Content id of the report (sha256 of its canonical JSON without this field, 16 hex digits): what a retraining run's lineage names. */
  id: string;
  service: string;
  model: string;
  version: string;
  run: string;
  reference: { output: string; path: string; kind: 'reference' | 'sample'; rows: number; note?: string };
  current: { file: string } & ReadStats;
  /** The input columns. */
  columns: ColumnReport[];
  /** The model's predictions against the reference's `prediction` column, when it has one. */
  prediction?: ColumnReport;
  /** Input columns that drifted. */
  driftedColumns: string[];
  /** Anything drifted: an input column or the predictions (the exit status of `gitml monitor`). */
  drifted: boolean;
  driftShare: number;
  shareThreshold: number;
  datasetDrift: boolean;
  /** Nothing to compare yet: no sampled rows in the window. */
  noData: boolean;
  /** From the replicas' /metrics, when their URLs were given. */
  health?: HealthReport;
}

type Kind = 'numeric' | 'categorical';

function kindOf(values: unknown[]): Kind {
  const present = values.filter((v) => v !== null && v !== undefined);
  return present.length > 0 && present.every((v) => typeof v === 'number') ? 'numeric' : 'categorical';
}

interface Plan {
  name: string;
  kind: Kind;
  refValues: unknown[];
  refSorted?: Float64Array;
  edges?: { inner: number[]; constant: boolean };
  acc: Column;
}

export async function monitorService(o: MonitorOptions): Promise<MonitorReport> {
  const target = await serviceTarget(o.dir, o.service);
  const ref = await loadReference(o.dir, target.ref);
  const drift = (target.monitoring.drift ?? {}) as { method?: string; threshold?: number };
  const method = o.method ?? (drift.method as DriftMethod | undefined) ?? 'auto';
  if (!DRIFT_METHODS.includes(method)) throw new GitmlError('USAGE', `unknown drift method ${JSON.stringify(method)} (one of ${DRIFT_METHODS.join(', ')})`);
  const threshold = o.threshold ?? drift.threshold;
  if (o.requests !== undefined) return compare(ref, target.service, { ...o, requests: o.requests }, method, threshold);
  const { withDeployedSampleLogs } = await import('./deployed.js');
  return withDeployedSampleLogs(o.dir, target, (logs) => compare(ref, target.service, { ...o, requests: logs.files, requestsLabel: logs.label }, method, threshold));
}

/** The comparison itself, once the reference is known (exported for tests and the daemon). */
export async function compare(ref: Reference, service: string, o: Pick<MonitorOptions, 'window' | 'shareThreshold' | 'reservoir' | 'metrics' | 'onProgress'> & { requests: string | string[]; requestsLabel?: string }, method: DriftMethod, threshold?: number): Promise<MonitorReport> {
  const names = [...new Set(ref.rows.flatMap((r) => Object.keys(r)))].filter((n) => !LABELS.has(n));
  const plans: Plan[] = names.map((name) => {
    const refValues = ref.rows.map((r) => r[name]);
    const kind = kindOf(refValues);
    if (kind === 'numeric') {
      const nums = refValues.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      const refSorted = sorted(nums);
      const edges = refSorted.length ? quantileEdges(refSorted, 10) : { inner: [], constant: false };
      return { name, kind, refValues, refSorted, edges, acc: new NumericColumn(edges.inner, o.reservoir ?? 200_000, hashSeed(name)) };
    }
    return { name, kind, refValues, acc: new CategoricalColumn() };
  });
  const byName = new Map(plans.map((p) => [p.name, p]));
  const inputPlans = plans.filter((p) => p.name !== PREDICTION);
  const predPlan = byName.get(PREDICTION);

  const stats = await readSampleLog(o.requests, o.window ?? {}, (row) => {
    for (const p of inputPlans) p.acc.add(row.inputs[p.name]);
    if (predPlan && row.hasPrediction) predPlan.acc.add(row.prediction);
  }, o.onProgress);

  const all = plans.map((p) => columnReport(p, method, threshold));
  const columns = all.filter((c) => c.name !== PREDICTION);
  const prediction = all.find((c) => c.name === PREDICTION);
  const judged = columns.filter((c) => c.status !== 'no-data');
  const driftedColumns = judged.filter((c) => c.drifted).map((c) => c.name);
  const shareThreshold = o.shareThreshold ?? 0.5;
  const driftShare = judged.length ? driftedColumns.length / judged.length : 0;
  const noData = stats.rows === 0;
  const small = ref.rows.length < 100;
  const health = o.metrics?.length ? await scrapeHealth({ urls: o.metrics }) : undefined;
  const report: Omit<MonitorReport, 'id'> = {
    service,
    model: ref.model,
    version: ref.version,
    run: ref.runId,
    reference: {
      ...ref.source,
      rows: ref.rows.length,
      ...(small ? { note: `only ${ref.rows.length} reference row${ref.rows.length === 1 ? '' : 's'} (${ref.source.kind === 'sample' ? 'the model\'s sample data: set `reference:` in the Model to an output with the training rows' : 'a small reference'}): the tests have little power` } : {}),
    },
    current: { file: o.requestsLabel ?? (Array.isArray(o.requests) ? o.requests.join(', ') : o.requests), ...stats },
    columns,
    ...(prediction ? { prediction } : {}),
    driftedColumns: noData ? [] : driftedColumns,
    drifted: !noData && (driftedColumns.length > 0 || prediction?.drifted === true),
    driftShare: noData ? 0 : driftShare,
    shareThreshold,
    datasetDrift: !noData && judged.length > 0 && driftShare >= shareThreshold,
    noData,
    ...(health ? { health } : {}),
  };
  return { id: createHash('sha256').update(JSON.stringify(report)).digest('hex').slice(0, 16), ...report };
}

function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function chooseMethod(p: Plan, refRows: number, unique: number, requested: DriftMethod): Exclude<DriftMethod, 'auto'> {
  const numericTests = new Set(['ks', 'wasserstein']);
  if (requested !== 'auto') {
    if (p.kind === 'categorical' && numericTests.has(requested)) requested = 'auto';
    else if (p.kind === 'numeric' && requested === 'chi2' && unique > 5) requested = 'auto';
    else return requested as Exclude<DriftMethod, 'auto'>;
  }
  if (refRows <= 1000) return p.kind === 'numeric' && unique > 5 ? 'ks' : 'chi2';
  return p.kind === 'numeric' && unique > 5 ? 'wasserstein' : 'js';
}

function columnReport(p: Plan, requested: DriftMethod, thresholdOverride?: number): ColumnReport {
  const acc = p.acc;
  const refMissing = p.refValues.filter((v) => v === null || v === undefined).length;
  const refRows = p.refValues.length - refMissing;
  const cur = { rows: acc.count, missing: acc.missing, invalid: acc.invalid, sampled: acc instanceof NumericColumn ? Math.min(acc.count, acc.cap) : acc.count };

  // Category labels (union, reference first) or numeric bins.
  let labels: string[];
  let refCounts: number[];
  let curCounts: number[];
  let uniqueRef: number;
  let curSorted: Float64Array | undefined;
  if (acc instanceof NumericColumn) {
    const inner = p.edges!.inner;
    refCounts = new Array(inner.length + 1).fill(0);
    for (const v of p.refSorted!) refCounts[binOf(inner, v)]++;
    curCounts = Array.from(acc.bins);
    labels = refCounts.map((_, k) => (k === 0 ? `< ${fmt(inner[0])}` : k === inner.length ? `>= ${fmt(inner[k - 1])}` : `[${fmt(inner[k - 1])}, ${fmt(inner[k])})`));
    uniqueRef = new Set(p.refSorted!).size;
    curSorted = acc.sample();
  } else {
    const refMap = new Map<string, number>();
    for (const v of p.refValues) if (v !== null && v !== undefined) refMap.set(String(v), (refMap.get(String(v)) ?? 0) + 1);
    labels = [...new Set([...refMap.keys(), ...acc.counts.keys()])];
    refCounts = labels.map((l) => refMap.get(l) ?? 0);
    curCounts = labels.map((l) => acc.counts.get(l) ?? 0);
    labels = labels.map((l) => (l === OTHER_CATEGORY ? '(other)' : l));
    uniqueRef = refMap.size;
  }
  const unique = acc instanceof NumericColumn ? new Set([...p.refSorted!, ...curSorted!]).size : labels.length;
  const method = chooseMethod(p, refRows, unique, requested);
  const threshold = thresholdOverride ?? DEFAULT_THRESHOLDS[method];
  const histogram = { labels, reference: shares(refCounts), current: shares(curCounts) };
  const base = {
    name: p.name,
    kind: p.kind,
    method,
    threshold,
    reference: { rows: refRows, missing: refMissing, unique: uniqueRef, constant: uniqueRef === 1 },
    current: cur,
    histogram,
  };
  if (refRows === 0) return { ...base, statistic: null, drifted: false, status: 'no-data' };
  if (acc.count === 0) {
    // Requests arrived but never carried this column: the served data lost a feature.
    const sawRows = acc.missing + acc.invalid > 0;
    return { ...base, statistic: null, drifted: sawRows, status: !sawRows ? 'no-data' : acc.invalid > 0 ? 'invalid' : 'missing' };
  }
  switch (method) {
    case 'ks': {
      const r = ks2samp(p.refSorted!, curSorted!);
      return { ...base, statistic: r.statistic, pvalue: r.pvalue, drifted: r.pvalue < threshold, status: 'ok' };
    }
    case 'chi2': {
      const r = chi2(refCounts, curCounts);
      return { ...base, statistic: r.statistic, pvalue: r.pvalue, drifted: r.pvalue < threshold, status: 'ok' };
    }
    case 'psi': {
      const s = psi(refCounts, curCounts);
      return { ...base, statistic: s, drifted: s > threshold, status: 'ok' };
    }
    case 'js': {
      const s = jensenShannon(refCounts, curCounts);
      return { ...base, statistic: s, drifted: s > threshold, status: 'ok' };
    }
    case 'wasserstein': {
      const s = wassersteinNormed(p.refSorted!, curSorted!);
      return { ...base, statistic: s, drifted: s > threshold, status: 'ok' };
    }
  }
}

function shares(counts: number[]): number[] {
  const t = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (t ? c / t : 0));
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(4).replace(/\.?0+$/, '');
}
