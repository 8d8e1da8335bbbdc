/**
 * The runs table of `gitml ui` as plain data: which runs (core/runs' run table: the columns of
 * the runs index `gitml runs` reads, no records held), which columns (the experiment's primary metric first, then
 * the most common metrics and params), the filter typed in the `/` prompt (the `--where`
 * grammar, plus bare words matched against id, experiment, status and branch), the sort, and
 * the window of rows that fits the screen. No terminal here: the views only draw what this
 * computes, and the tests check it without one.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../../../core/errors.js';
import { closest, mapRef, parseWhere, type Condition } from '../../../core/runs/query.js';
import { conditionImplies, openRunTable, type RowTest, type RunTable } from '../../../core/runs/table.js';
import { fmtDuration, fmtNum } from '../../output.js';
import { oneLine } from './text.js';

export interface PrimaryMetric {
  name: string;
  goal: 'maximize' | 'minimize';
}

/**
 * A row of the table is a position in `table` (core/runs/table.ts: the runs index's columns, no
 * records held), 0 the newest run; `rows` below are lists of positions.
 */
export interface RunsData {
  table: RunTable;
  problems: Array<{ path: string; message: string }>;
  /** Runs on the branch (before --experiment). */
  recorded: number;
  /** Primary metric of each experiment that declares one (gitml/experiments/NAME.yaml `metrics.primary`). */
  primaries: Record<string, PrimaryMetric>;
  /** Metric and param names, most common first. */
  metricNames: string[];
  paramNames: string[];
  /** Runs of each experiment that declares a primary metric (which experiment the table is about). */
  counts: Record<string, number>;
}

export interface LoadRunsOptions {
  dir: string;
  experiment?: string;
}

/**
 * Every run (of one experiment when given), newest first, with the names the table can show:
 * the runs index's columns (core/runs openRunTable), so loading 100,000 runs parses no record;
 * a run's full record is read when it is opened (detail, compare, log).
 *
 * Example: `const data = await loadRuns({ dir, experiment: 'train' })`.
 */
export async function loadRuns(o: LoadRunsOptions): Promise<RunsData> {
  const [primaries, table] = await Promise.all([readPrimaries(o.dir), openRunTable({ dir: o.dir, experiment: o.experiment })]);
  // Which experiment's primary metric leads the table: counted on the index's experiment column.
  const counts: Record<string, number> = {};
  if (o.experiment !== undefined) {
    if (primaries[o.experiment]) counts[o.experiment] = table.n;
  } else {
    const by = table.countBy('experiment');
    for (const e of Object.keys(primaries)) counts[e] = by.get(e) ?? 0;
  }
  return {
    table,
    problems: table.problems,
    recorded: table.recorded,
    primaries,
    metricNames: byFrequency(table, 'metrics'),
    paramNames: byFrequency(table, 'params'),
    counts,
  };
}

/** All positions of the table, newest first. */
export function allRows(data: RunsData): number[] {
  return rowsCache(data).all;
}

const caches = new WeakMap<RunTable, { all: number[]; sorted: Map<string, number[]> }>();
function rowsCache(data: RunsData) {
  let c = caches.get(data.table);
  if (!c) caches.set(data.table, (c = { all: data.table.all(), sorted: new Map() }));
  return c;
}

function byFrequency(table: RunTable, map: 'metrics' | 'params'): string[] {
  const names = table.names(map);
  const freq = table.presence(names.map((k) => `${map}.${k}`));
  return names
    .map((k): [string, number] => [k, freq.get(`${map}.${k}`) ?? 0])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k]) => k);
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
  return pickPrimary(data.primaries, data.counts, experiment);
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

/** The text of one cell of the row at `pos`, one line, safe for the terminal, cut to the column. */
export function cellText(table: RunTable, pos: number, col: Column): string {
  // Ids are cut, not ellipsed: their first characters are what `gitml runs show PREFIX` takes.
  if (col.key === 'id') return oneLine(table.id(pos)).slice(0, col.width).padEnd(col.width);
  return fit(oneLine(cellValue(table.value(pos, col.key), col.key)), col.width, col.align);
}

/** How a value at `key` is shown in a cell. */
export function cellValue(v: unknown, key: string): string {
  if (key === 'startedAt') return when(typeof v === 'string' ? v : undefined);
  if (key === 'durationMs') return fmtDuration(typeof v === 'number' ? v : undefined);
  if (key.startsWith('metrics.')) return fmtNum(v);
  if (key.startsWith('params.')) return typeof v === 'number' ? fmtNum(v) : v === undefined ? '' : String(v);
  return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
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

/** The rows of `rows` (positions, in order) that pass the filter. */
export function applyFilter(data: RunsData, rows: number[], f: Filter): number[] {
  if (!f.conditions.length && !f.words.length) return rows;
  const tests: RowTest[] = [...f.words.map((w) => data.table.testWord(w)), ...f.conditions.map((c) => data.table.test(c))];
  return data.table.filter(rows, tests);
}

/**
 * true when every run `next` keeps, `prev` keeps too (by the text: each of prev's words is part
 * of one of next's, each of prev's conditions is implied by one of next's), so filtering prev's
 * result gives next's: the common case of typing a filter one character at a time.
 */
export function narrows(next: Filter, prev: Filter): boolean {
  return prev.words.every((w) => next.words.some((x) => x.includes(w))) && prev.conditions.every((c) => next.conditions.some((x) => conditionImplies(x, c)));
}

export interface Sort {
  key: string;
  desc: boolean;
}

/** The positions sorted (newest first when `sort` is undefined: the order of the table); one sort per key kept. */
export function sortRuns(data: RunsData, sort: Sort | undefined): number[] {
  const c = rowsCache(data);
  if (!sort) return c.all;
  const spec = sortSpec(sort);
  let out = c.sorted.get(spec);
  if (!out) {
    out = data.table.sort(c.all, sort.key, sort.desc);
    c.sorted.clear();
    c.sorted.set(spec, out);
  }
  return out;
}
const sortSpec = (s: Sort) => `${s.desc ? '-' : ''}${s.key}`;

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
  rows: number[];
  /** Error of the filter text, shown under the prompt (the table keeps the last good rows). */
  error?: { code: string; message: string };
}

/** The last good filter of a table view and its rows, for filtering on from there. */
export interface FilterMemo {
  sorted: number[];
  filter: Filter;
  rows: number[];
}

/**
 * Filter then sort; a bad filter leaves the previous rows in place and carries the error, so the
 * table never turns into an empty one because of a half-typed condition. With `memo` (the last
 * good filter over the same sorted rows), a filter that only narrows it filters its rows, not
 * every run; `memo` is updated.
 */
export function tableView(data: RunsData, filterText: string, sort: Sort | undefined, previous?: number[], sorted?: number[], memo?: { current?: FilterMemo }): TableView {
  const all = sorted ?? sortRuns(data, sort);
  let f: Filter;
  try {
    f = parseFilter(filterText, data);
  } catch (e) {
    if (!isGitmlError(e)) throw e;
    return { rows: previous ?? all, error: { code: e.code, message: e.message } };
  }
  try {
    const last = memo?.current;
    // Filtering keeps the order: sorted once per sort (`sorted`), each key press only filters.
    const from = last && last.sorted === all && narrows(f, last.filter) ? last.rows : all;
    const rows = applyFilter(data, from, f);
    if (memo) memo.current = { sorted: all, filter: f, rows };
    return { rows };
  } catch (e) {
    if (!isGitmlError(e)) throw e;
    return { rows: previous ?? all, error: { code: e.code, message: e.message } };
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
export function followCursor(data: RunsData, rows: number[], id: string | undefined, fallback: number): number {
  if (id !== undefined) {
    // The run's position by binary search over the ids, then where it is among the rows (fast if it is near the cursor).
    const pos = data.table.positionOf(id);
    if (pos >= 0) {
      if (rows[fallback] === pos) return fallback;
      const i = rows.indexOf(pos);
      if (i >= 0) return i;
    }
  }
  return Math.max(0, Math.min(fallback, rows.length - 1));
}
