/**
 * The runs table of `gitml ui` as plain data: which runs (from core/runs' listRuns, the same
 * cached catalog `gitml runs` reads), which columns (the experiment's primary metric first, then
 * the most common metrics and params), the filter typed in the `/` prompt (the `--where`
 * grammar, plus bare words matched against id, experiment, status and branch), the sort, and
 * the window of rows that fits the screen. No terminal here: the views only draw what this
 * computes, and the tests check it without one.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../../../core/errors.js';
import { listRuns, type RunProblem } from '../../../core/runs/list.js';
import { closest, mapRef, matches, parseWhere, sorter, type Condition } from '../../../core/runs/query.js';
import type { RunRecord } from '../../../core/runs/types.js';
import { fmtDuration, fmtNum } from '../../output.js';
import { oneLine } from './text.js';

export interface PrimaryMetric {
  name: string;
  goal: 'maximize' | 'minimize';
}

export interface RunsData {
  runs: RunRecord[];
  problems: RunProblem[];
  /** Runs on the branch (before --experiment). */
  recorded: number;
  /** Primary metric of each experiment that declares one (gitml/experiments/NAME.yaml `metrics.primary`). */
  primaries: Record<string, PrimaryMetric>;
  /** Metric and param names, most common first. */
  metricNames: string[];
  paramNames: string[];
  /** Runs of each experiment that declares a primary metric (which experiment the table is about). */
  counts?: Record<string, number>;
  /**
   * Only the first rows by the default sort, not every run (`loadRuns` with `limit`: the first
   * screen, drawn before every record is read); `total` runs match.
   */
  partial?: boolean;
  total?: number;
}

export interface LoadRunsOptions {
  dir: string;
  experiment?: string;
  /**
   * Read only this many runs, the first by the table's default sort (best primary metric first),
   * through the runs index: the first screen then costs the rows it shows, not the whole history.
   */
  limit?: number;
}

/** Orders already computed by the index for a runs array (sortRuns then costs nothing). */
const presorted = new WeakMap<RunRecord[], Map<string, RunRecord[]>>();
const sortSpec = (s: Sort) => `${s.desc ? '-' : ''}${s.key}`;

/**
 * Every run (of one experiment when given), newest first, with the names the table can show.
 * The order by the default sort comes from the index too (its columns, not the records), so the
 * table's first sort is free.
 *
 * Example: `const data = await loadRuns({ dir, experiment: 'train' })`.
 */
export async function loadRuns(o: LoadRunsOptions): Promise<RunsData> {
  const primaries = await readPrimaries(o.dir);
  // Which experiment's primary metric leads the table: counted on the index's experiment column.
  const counts: Record<string, number> = {};
  const named = o.experiment !== undefined ? [o.experiment].filter((e) => primaries[e]) : Object.keys(primaries);
  for (const e of named) counts[e] = (await listRuns({ dir: o.dir, experiment: e, limit: 0 })).total;
  const primary = pickPrimary(primaries, counts, o.experiment);
  const sort = defaultSort(primary);
  // A primary metric no run has recorded yet is refused as a sort key by listRuns: no presorted order then.
  const byPrimary = sort
    ? await listRuns({ dir: o.dir, experiment: o.experiment, sort: sortSpec(sort), limit: o.limit }).catch((e: unknown) => {
        if (isGitmlError(e, 'USAGE')) return undefined;
        throw e;
      })
    : undefined;
  const partial = o.limit !== undefined;
  const list = partial && byPrimary ? byPrimary : await listRuns({ dir: o.dir, experiment: o.experiment, limit: o.limit });
  if (sort && byPrimary) presorted.set(list.runs, new Map([[sortSpec(sort), byPrimary.runs]]));
  return {
    runs: list.runs,
    problems: list.problems,
    recorded: list.recorded,
    primaries,
    metricNames: byFrequency(list.runs, 'metrics'),
    paramNames: byFrequency(list.runs, 'params'),
    counts,
    total: list.total,
    ...(partial && list.total > list.runs.length ? { partial: true } : {}),
  };
}

function byFrequency(runs: RunRecord[], map: 'metrics' | 'params'): string[] {
  const freq = new Map<string, number>();
  for (const r of runs) for (const k of Object.keys(r[map] ?? {})) freq.set(k, (freq.get(k) ?? 0) + 1);
  return [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
}

/**
 * `metrics.primary` and `metrics.goal` of each experiment file, read without validating (a
 * broken YAML file elsewhere must not hide the run history; `gitml validate` reports it).
 */
export async function readPrimaries(dir: string): Promise<Record<string, PrimaryMetric>> {
  const folder = path.join(dir, 'gitml', 'experiments');
  const files = await readdir(folder).catch(() => [] as string[]);
  const out: Record<string, PrimaryMetric> = {};
  const { parse } = await import('yaml');
  for (const f of files) {
    if (!/\.ya?ml$/.test(f)) continue;
    try {
      const doc = parse(await readFile(path.join(folder, f), 'utf8')) as { metrics?: { primary?: unknown; goal?: unknown } } | null;
      const p = doc?.metrics?.primary;
      if (typeof p === 'string' && p) out[f.replace(/\.ya?ml$/, '')] = { name: p, goal: doc?.metrics?.goal === 'minimize' ? 'minimize' : 'maximize' };
    } catch {
      /* unreadable file: no primary metric for it */
    }
  }
  return out;
}

/** The primary metric of the table: the chosen experiment's, else that of the experiment with the most runs. */
export function tablePrimary(data: RunsData, experiment?: string): PrimaryMetric | undefined {
  if (data.counts) return pickPrimary(data.primaries, data.counts, experiment);
  const count: Record<string, number> = {};
  for (const r of data.runs) if (data.primaries[r.experiment]) count[r.experiment] = (count[r.experiment] ?? 0) + 1;
  return pickPrimary(data.primaries, count, experiment);
}

function pickPrimary(primaries: Record<string, PrimaryMetric>, counts: Record<string, number>, experiment?: string): PrimaryMetric | undefined {
  if (experiment !== undefined) return primaries[experiment];
  const top = Object.entries(counts)
    .filter(([e, n]) => n > 0 && primaries[e])
    .sort((a, b) => b[1] - a[1])[0];
  return top ? primaries[top[0]] : undefined;
}

export interface Column {
  /** A record key in the `--where`/`--sort` grammar: `id`, `metrics.accuracy`, `params.C`. */
  key: string;
  title: string;
  width: number;
  align: 'left' | 'right';
}

const FIXED: Column[] = [
  { key: 'id', title: 'RUN', width: 14, align: 'left' },
  { key: 'experiment', title: 'EXPERIMENT', width: 12, align: 'left' },
  { key: 'status', title: 'STATUS', width: 9, align: 'left' },
  { key: 'startedAt', title: 'STARTED', width: 16, align: 'left' },
  { key: 'durationMs', title: 'TIME', width: 7, align: 'right' },
];

/**
 * The columns that fit `width`: the fixed ones, then the primary metric, then the chosen metric
 * and param keys in order (default: the most common metrics, then params). Columns that do not
 * fit are left out, never squeezed into unreadable slivers.
 */
export function columnsFor(data: RunsData, o: { width: number; primary?: PrimaryMetric; chosen?: string[] }): Column[] {
  const keys = o.chosen ?? defaultColumnKeys(data, o.primary);
  const cols: Column[] = [];
  let used = 0;
  const add = (c: Column) => {
    if (used + c.width + (cols.length ? 1 : 0) > o.width) return false;
    used += c.width + (cols.length ? 1 : 0);
    cols.push(c);
    return true;
  };
  for (const c of FIXED) if (o.width >= 60 || c.key !== 'startedAt') add(c);
  const ordered = o.primary ? [`metrics.${o.primary.name}`, ...keys.filter((k) => k !== `metrics.${o.primary!.name}`)] : keys;
  for (const key of ordered) {
    const name = key.slice(key.indexOf('.') + 1);
    const isMetric = key.startsWith('metrics.');
    // Room for the title and the sort arrow.
    const w = Math.min(14, Math.max(isMetric ? 8 : 6, name.length + 1));
    const primary = o.primary && key === `metrics.${o.primary.name}`;
    if (!add({ key, title: (primary ? '★' : '') + name.toUpperCase(), width: w + (primary ? 1 : 0), align: isMetric ? 'right' : 'left' })) break;
  }
  return cols;
}

export function defaultColumnKeys(data: RunsData, primary?: PrimaryMetric): string[] {
  const metrics = data.metricNames.filter((m) => m !== primary?.name).slice(0, 4).map((m) => `metrics.${m}`);
  const params = data.paramNames.slice(0, 4).map((p) => `params.${p}`);
  return [...(primary ? [`metrics.${primary.name}`] : []), ...metrics, ...params];
}

/** Every key the column chooser offers, metrics first. */
export function allColumnKeys(data: RunsData): string[] {
  return [...data.metricNames.map((m) => `metrics.${m}`), ...data.paramNames.map((p) => `params.${p}`)];
}

function when(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 16).replace('T', ' ');
}

/** The text of one cell, one line, safe for the terminal, cut to the column. */
export function cellText(r: RunRecord, col: Column): string {
  let v: string;
  // Ids are cut, not ellipsed: their first characters are what `gitml runs show PREFIX` takes.
  if (col.key === 'id') return oneLine(r.id).slice(0, col.width).padEnd(col.width);
  else if (col.key === 'startedAt') v = when(r.startedAt);
  else if (col.key === 'durationMs') v = fmtDuration(r.durationMs);
  else if (col.key.startsWith('metrics.')) v = fmtNum(r.metrics?.[col.key.slice(8)]);
  else if (col.key.startsWith('params.')) {
    const p = r.params?.[col.key.slice(7)];
    v = typeof p === 'number' ? fmtNum(p) : p === undefined ? '' : String(p);
  } else v = String((r as unknown as Record<string, unknown>)[col.key] ?? '');
  return fit(oneLine(v), col.width, col.align);
}

/** Pad or cut (with an ellipsis) to exactly `width` characters. */
export function fit(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (s.length > width) return width <= 1 ? s.slice(0, width) : s.slice(0, width - 1) + '…';
  return align === 'right' ? s.padStart(width) : s.padEnd(width);
}

export interface Filter {
  conditions: Condition[];
  words: string[];
}

/**
 * Read the `/` prompt: space-separated terms, each either a `--where` condition (`metrics.acc>0.9`,
 * `params.kernel=rbf`, `status=failed`) or a bare word matched (contains) against the run id,
 * experiment, status and source branch. Names of params and metrics no run has are refused with
 * a "did you mean", as `gitml runs --where` does, so a typo is an error and not an empty table.
 * Throws GitmlError USAGE.
 */
export function parseFilter(text: string, data: Pick<RunsData, 'metricNames' | 'paramNames'>): Filter {
  const conditions: Condition[] = [];
  const words: string[] = [];
  for (const term of text.trim().split(/\s+/).filter(Boolean)) {
    if (!/[<>=!~]/.test(term)) {
      words.push(term.toLowerCase());
      continue;
    }
    const c = parseWhere(term);
    const ref = mapRef(c.key);
    if (ref && ref.map !== 'inputs') {
      const names = ref.map === 'metrics' ? data.metricNames : data.paramNames;
      if (!names.includes(ref.name)) {
        const hint = closest(ref.name, names);
        throw new GitmlError('USAGE', `no run has ${c.key}${hint ? ` (did you mean ${ref.map}.${hint}?)` : ''}`, { key: c.key, hint });
      }
    }
    conditions.push(c);
  }
  return { conditions, words };
}

/** Lowercased text a bare word is looked for in, built once per record (records are immutable). */
const haystacks = new WeakMap<RunRecord, string>();
function haystack(r: RunRecord): string {
  let h = haystacks.get(r);
  if (h === undefined) {
    h = `${r.id}\u0000${r.experiment}\u0000${r.status}\u0000${r.source?.branch ?? ''}`.toLowerCase();
    haystacks.set(r, h);
  }
  return h;
}

export function applyFilter(runs: RunRecord[], f: Filter): RunRecord[] {
  if (!f.conditions.length && !f.words.length) return runs;
  const out: RunRecord[] = [];
  for (const r of runs) {
    if (f.words.length) {
      const h = haystack(r);
      if (!f.words.every((w) => h.includes(w))) continue;
    }
    if (f.conditions.length && !f.conditions.every((c) => matches(r, c))) continue;
    out.push(r);
  }
  return out;
}

export interface Sort {
  key: string;
  desc: boolean;
}

/** Sorted copy (newest first when `sort` is undefined: the order listRuns returns). */
export function sortRuns(runs: RunRecord[], sort: Sort | undefined): RunRecord[] {
  if (!sort) return runs;
  const known = presorted.get(runs)?.get(sortSpec(sort));
  if (known) return known;
  return [...runs].sort(sorter(sortSpec(sort)));
}

/** Default sort: best primary metric first when the table has one. */
export function defaultSort(primary: PrimaryMetric | undefined): Sort | undefined {
  return primary ? { key: `metrics.${primary.name}`, desc: primary.goal !== 'minimize' } : undefined;
}

/** The next sort in the `s` cycle over the visible columns: each column descending, then ascending, then the next. */
export function nextSort(cols: Column[], cur: Sort | undefined): Sort {
  const keys = cols.map((c) => c.key);
  if (!cur || !keys.includes(cur.key)) return { key: keys[0], desc: true };
  if (cur.desc) return { key: cur.key, desc: false };
  return { key: keys[(keys.indexOf(cur.key) + 1) % keys.length], desc: true };
}

export interface TableView {
  rows: RunRecord[];
  /** Error of the filter text, shown under the prompt (the table keeps the last good rows). */
  error?: { code: string; message: string };
}

/**
 * Filter then sort; a bad filter leaves the previous rows in place and carries the error, so the
 * table never turns into an empty one because of a half-typed condition.
 */
export function tableView(data: RunsData, filterText: string, sort: Sort | undefined, previous?: RunRecord[], sorted?: RunRecord[]): TableView {
  let f: Filter;
  try {
    f = parseFilter(filterText, data);
  } catch (e) {
    if (!isGitmlError(e)) throw e;
    return { rows: previous ?? sorted ?? sortRuns(data.runs, sort), error: { code: e.code, message: e.message } };
  }
  try {
    // Filtering keeps the order: sorted once per sort (`sorted`), each key press only filters.
    return { rows: applyFilter(sorted ?? sortRuns(data.runs, sort), f) };
  } catch (e) {
    if (!isGitmlError(e)) throw e;
    return { rows: previous ?? data.runs, error: { code: e.code, message: e.message } };
  }
}

/**
 * The first row to draw so the cursor stays visible, moving the window as little as possible
 * (the table renders only these rows, whatever the number of runs).
 */
export function windowStart(total: number, cursor: number, height: number, prevStart = 0): number {
  if (height <= 0 || total <= height) return 0;
  let start = Math.min(Math.max(0, prevStart), total - height);
  if (cursor < start) start = cursor;
  else if (cursor >= start + height) start = cursor - height + 1;
  return start;
}

/** Keep the cursor on the same run after a reload or a new filter (by id), else clamp it. */
export function followCursor(rows: RunRecord[], id: string | undefined, fallback: number): number {
  if (id !== undefined) {
    const i = rows.findIndex((r) => r.id === id);
    if (i >= 0) return i;
  }
  return Math.max(0, Math.min(fallback, rows.length - 1));
}
