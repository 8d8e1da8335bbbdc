/**
 * listRuns: every run on the branch (through the runs index), filtered, sorted and limited.
 */
import { GitmlError, isGitmlError } from '../errors.js';
import { RUN_STATUSES, type RunRecord } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { catalogProblems, damageNotice, discardIndex, loadCatalog, overRuns, runCount, shadowed, type Catalog } from './catalog.js';
import { closest, compareValues, compileCondition, fieldOf, mapRef, matches, parseWhere, sortKey, type Condition } from './query.js';
import { IndexFileError, isColumnKey, type Column, type IndexFile } from './runs-index.js';

const STATUSES: readonly string[] = RUN_STATUSES;

export interface ListRunsOptions {
  dir: string;
  experiment?: string;
  /** One status, or several separated by commas. */
  status?: string;
  /** Source branch the run was made from. */
  branch?: string;
  /** Source commit: a hex prefix, or another revision (`HEAD`, `main~2`, a tag). */
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

export interface ListRunsResult<R = RunRecord> {
  /** The matching runs, sorted, at most `limit` of them. */
  runs: R[];
  problems: RunProblem[];
  /** Runs on the branch. */
  recorded: number;
  /** Runs that match, before `limit`. */
  total: number;
  /** What the index had to say on this call (e.g. rebuilt after damage); absent when nothing. */
  notices?: string[];
}

/**
 * Records come without `spec` (the resolved experiment spec; `getRun` has it) and may be shared
 * with the in-process index: treat them as read-only.
 *
 * The query runs on the index (catalog.ts): filters and the sort key are read from its columns,
 * and only the rows returned are read and parsed. Keys without a column (`inputs.x`, `source`,
 * `artifacts`...) are answered from the full rows, with the same rules (query.ts).
 *
 * Example: `listRuns({ dir, experiment: 'train', where: ['metrics.accuracy>0.9'], sort: '-metrics.accuracy', limit: 5 })`.
 */
export function listRuns(opts: ListRunsOptions): Promise<ListRunsResult> {
  return listWith(opts, false);
}

/**
 * listRuns with each run as its record's compact JSON text (`JSON.stringify(record)`, UTF-8)
 * instead of the record: rows of the index come back as the bytes stored there, checked but
 * never parsed, so `gitml runs --json` over 100,000 runs neither parses nor re-serialises them
 * (cli/output.ts writeJsonListing pretty-prints the text as JSON.stringify would).
 */
export function listRunsJson(opts: ListRunsOptions): Promise<ListRunsResult<Uint8Array>> {
  return listWith(opts, true);
}

async function listWith<R extends boolean>(opts: ListRunsOptions, raw: R): Promise<ListRunsResult<R extends true ? Uint8Array : RunRecord>>;
async function listWith(opts: ListRunsOptions, raw: boolean): Promise<ListRunsResult<RunRecord | Uint8Array>> {
  const conds = (opts.where ?? []).map(parseWhere);
  const sort = opts.sort ? sortKey(opts.sort) : undefined;
  const statuses = opts.status !== undefined ? parseStatuses(opts.status) : undefined;
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const repo = openRuns(opts.dir, config);
  const commit = opts.commit !== undefined ? await resolveSourceCommit(repo, opts.commit) : undefined;
  try {
    return await query(repo, opts, conds, sort, statuses, commit, [], raw);
  } catch (e) {
    // Damage found in a row or column while reading: the index is never the truth, rebuild it.
    if (!(e instanceof IndexFileError)) throw e;
    discardIndex(repo);
    return query(repo, opts, conds, sort, statuses, commit, [damageNotice(e)], raw);
  }
}

async function query(
  repo: RunsRepo,
  opts: ListRunsOptions,
  conds: Condition[],
  sort: { key: string; desc: boolean } | undefined,
  statuses: Set<string> | undefined,
  commit: string | undefined,
  said: string[],
  raw: boolean,
): Promise<ListRunsResult<RunRecord | Uint8Array>> {
  const cat = await loadCatalog(repo);
  const notices = [...said, ...cat.notices.splice(0)];
  const base = cat.base && cat.base.n ? cat.base : null;
  const sh = shadowed(cat);
  const extra = overRuns(cat).map((e) => e.record);
  const recorded = runCount(cat);

  // Params and metrics named by a condition or the sort key must exist on some run: a typo
  // would otherwise quietly match nothing (or sort nothing).
  const refs = [...conds.map((c) => ({ key: c.key, what: '--where' })), ...(sort ? [{ key: sort.key, what: '--sort' }] : [])]
    .map((r) => ({ ...r, ref: mapRef(r.key)! }))
    .filter((r) => r.ref !== undefined);
  if (recorded > 0) {
    const unseen = refs.find(({ ref }) => !seen(base, sh, extra, ref));
    if (unseen) throw unknownName(base, extra, unseen.what, unseen.key, unseen.ref);
  }

  const recordMatches = (r: RunRecord): boolean => {
    if (opts.experiment !== undefined && r.experiment !== opts.experiment) return false;
    if (statuses && !statuses.has(r.status)) return false;
    if (opts.branch !== undefined && r.source?.branch !== opts.branch) return false;
    if (commit !== undefined && !(r.source?.commit ?? '').startsWith(commit)) return false;
    return conds.every((c) => matches(r, c));
  };

  // Candidates: snapshot rows, in row order (null: every row, none shadowed, never listed one
  // by one), and journal runs (encoded as -1 - k).
  let baseCand: Int32Array | null = new Int32Array(0);
  if (base) {
    const keys = [...conds.map((c) => c.key), ...(sort ? [sort.key] : [])];
    const fromRows = keys.some((k) => !isColumnKey(k) || base.header.objectKeys.includes(k));
    if (fromRows) {
      const all = base.allRecords();
      const out = new Int32Array(base.n);
      let m = 0;
      for (let i = 0; i < base.n; i++) if (!sh.has(i) && recordMatches(all[i])) out[m++] = i;
      baseCand = out.subarray(0, m);
    } else {
      // Column at a time, each filter over the rows the previous ones kept (a query in a new
      // process runs this cold, before the JIT: a tight loop per column costs a fraction of a
      // closure chain per row).
      const filters: Array<[string, (v: unknown) => boolean]> = [];
      if (opts.experiment !== undefined) filters.push(['experiment', (v) => v === opts.experiment]);
      if (statuses) filters.push(['status', (v) => statuses.has(v as string)]);
      if (opts.branch !== undefined) filters.push(['source.branch', (v) => v === opts.branch]);
      if (commit !== undefined) filters.push(['source.commit', (v) => (typeof v === 'string' ? v : '').startsWith(commit)]);
      const numeric = new Map<(v: unknown) => boolean, NumberRange>();
      for (const c of conds) {
        const f = compileCondition(c);
        filters.push([c.key, f]);
        const r = numberRange(c);
        if (r) numeric.set(f, r);
      }
      // A column with postings first: its rows come without testing every row.
      filters.sort((a, b) => Number(!base.header.columns[a[0]]?.posts) - Number(!base.header.columns[b[0]]?.posts));
      let rows: Int32Array | null = null;
      for (const [key, f] of filters) {
        rows = (rows === null && fromPostings(base, key, f)) || filterColumn(base.n, base.column(key), f, numeric.get(f), rows);
      }
      if (sh.size) rows = withoutShadowed(rows ?? rangeInt32(base.n), sh);
      baseCand = rows;
    }
  }
  const extraCand: number[] = [];
  extra.forEach((r, k) => {
    if (recordMatches(r)) extraCand.push(-1 - k);
  });
  const limit = opts.limit !== undefined && opts.limit >= 0 ? opts.limit : undefined;
  const nBase = baseCand === null ? base!.n : baseCand.length;
  const total = nBase + extraCand.length;
  const baseAt: (k: number) => number = baseCand === null ? (k) => k : (k) => baseCand![k];
  let order: number[];
  if (!sort) {
    // Newest first: snapshot rows are stored in that order, journal runs are merged in.
    if (extraCand.length === 0) order = firstOf(nBase, baseAt, limit);
    else order = mergeNewestFirst(nBase, baseAt, extraCand, extra, base, limit);
  } else {
    const key = sort.key;
    let col: Column | undefined;
    let baseVal: (i: number) => unknown = () => undefined;
    if (base) {
      if (isColumnKey(key) && !base.header.objectKeys.includes(key)) {
        col = base.column(key);
        if (col) baseVal = (i) => col!.value(i);
      } else {
        const all = base.allRecords();
        baseVal = (i) => fieldOf(all[i], key);
      }
    }
    const numeric = col && extraCand.length === 0 ? numericKeys(col, baseCand, nBase) : undefined;
    if (numeric) order = topKNumeric(nBase, baseAt, limit, numeric, sort.desc);
    else {
      const cand = firstOf(nBase, baseAt, undefined);
      for (const x of extraCand) cand.push(x);
      // Snapshot rows are stored newest first, so between two of them the row number is the id
      // order: ids are read only when journal runs take part.
      const idOf = (x: number) => (x >= 0 ? base!.idAt(x) : extra[-1 - x].id);
      const val = (x: number) => (x >= 0 ? baseVal(x) : fieldOf(extra[-1 - x], key));
      const cmp = extraCand.length ? (a: number, b: number) => compareValues(val(a), idOf(a), val(b), idOf(b), sort.desc) : (a: number, b: number) => compareValuesTie(val(a), val(b), sort.desc, a < b ? -1 : a > b ? 1 : 0);
      order = topK(cand, limit, cmp);
    }
  }
  return answer(cat, base, extra, order, recorded, total, notices, raw);
}

/** The result for `order` (snapshot rows and journal runs), each run read as a record or as its JSON text. */
function answer(
  cat: Catalog,
  base: IndexFile | null,
  extra: RunRecord[],
  order: number[],
  recorded: number,
  total: number,
  notices: string[],
  raw: boolean,
): ListRunsResult<RunRecord | Uint8Array> {
  const fromBase = order.filter((x) => x >= 0);
  const got: Array<RunRecord | Uint8Array> = base && fromBase.length ? (raw ? base.rawRecords(fromBase) : base.records(fromBase)) : [];
  let runs = got;
  if (fromBase.length < order.length) {
    const byRow = new Map(fromBase.map((x, k) => [x, got[k]]));
    runs = order.map((x) => (x >= 0 ? byRow.get(x)! : raw ? Buffer.from(JSON.stringify(extra[-1 - x])) : extra[-1 - x]));
  }
  const problems = catalogProblems(cat).map((p) => ({ path: p.path, message: p.message }));
  return { runs, problems, recorded, total, ...(notices.length ? { notices } : {}) };
}

/** The first `limit` (all when undefined) of `n` candidates. */
function firstOf(n: number, at: (k: number) => number, limit: number | undefined): number[] {
  const m = limit === undefined ? n : Math.min(limit, n);
  const out = new Array<number>(m);
  for (let k = 0; k < m; k++) out[k] = at(k);
  return out;
}

function rangeInt32(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function withoutShadowed(rows: Int32Array, sh: Set<number>): Int32Array {
  const out = new Int32Array(rows.length);
  let m = 0;
  for (let k = 0; k < rows.length; k++) if (!sh.has(rows[k])) out[m++] = rows[k];
  return out.subarray(0, m);
}

const T_NULL = 1;
const T_NUM = 2;
const T_STR = 3;

/**
 * The rows whose value in column `key` passes `f`, from the column's postings (see
 * runs-index.ts), or undefined when it has none or `f` passes rows without a value.
 */
function fromPostings(base: IndexFile, key: string, f: (v: unknown) => boolean): Int32Array | undefined {
  const p = base.postings(key);
  if (!p || f(undefined)) return undefined;
  const lists: Int32Array[] = [];
  p.dict.forEach((s, code) => {
    if (f(s)) lists.push(p.rowsOf(code));
  });
  if (lists.length === 1) return lists[0];
  const out = new Int32Array(lists.reduce((a, l) => a + l.length, 0));
  let at = 0;
  for (const l of lists) {
    out.set(l, at);
    at += l.length;
  }
  return out.sort();
}

/**
 * The test `compileCondition(c)` makes for a number (not null, not missing) when `c` compares
 * with a numeric value (`=`, `!=`, `<`, `<=`, `>`, `>=`), as an interval: the number passes when
 * it lies between `lo` and `hi` (each end included or not), or, with `out`, when it does not.
 * NaN lies in no interval. Undefined for other conditions (`~`, a text value), which then go
 * through compileCondition itself. test/runs/list-fast.test.ts holds the two to the same answers.
 */
export interface NumberRange {
  lo: number;
  loIn: boolean;
  hi: number;
  hiIn: boolean;
  out: boolean;
}

export function numberRange(c: Condition): NumberRange | undefined {
  if (c.value.trim() === '' || !Number.isFinite(Number(c.value))) return undefined;
  const b = Number(c.value);
  const r = (lo: number, loIn: boolean, hi: number, hiIn: boolean, out = false): NumberRange => ({ lo, loIn, hi, hiIn, out });
  switch (c.op) {
    case '=':
      return r(b, true, b, true);
    case '!=':
      return r(b, true, b, true, true);
    case '>':
      return r(b, false, Infinity, true);
    case '>=':
      return r(b, true, Infinity, true);
    case '<':
      return r(-Infinity, true, b, false);
    case '<=':
      return r(-Infinity, true, b, true);
  }
  return undefined;
}

/** numberRange as a test of one number (what the scan below does inline). */
export function inRange(r: NumberRange, a: number): boolean {
  return ((a > r.lo || (r.loIn && a === r.lo)) && (a < r.hi || (r.hiIn && a === r.hi))) !== r.out;
}

/**
 * The rows of `rows` (null: every one of the `n` rows) whose value in `col` passes `f`. `f` is
 * called once per distinct string (the column's dictionary), once per non-number type, and for
 * numbers per row, or not at all when `num` (numberRange) answers for numbers: the same answers
 * as calling it on every value.
 */
function filterColumn(n: number, col: Column | undefined, f: (v: unknown) => boolean, num: NumberRange | undefined, rows: Int32Array | null): Int32Array | null {
  if (!col) return f(undefined) ? rows : new Int32Array(0);
  const byTag = Uint8Array.from([f(undefined), f(null), 0, 0, f(true), f(false)], Number);
  const dictOk = Uint8Array.from(col.dict, (s) => Number(f(s)));
  const { tags, nums } = col;
  const out = new Int32Array(rows === null ? n : rows.length);
  const m = num ? scanNumbers(tags, nums, dictOk, byTag, num, rows, n, out) : scan(tags, nums, dictOk, byTag, f, rows, n, out);
  return out.subarray(0, m);
}

function scan(tags: Uint8Array, nums: Float64Array, dictOk: Uint8Array, byTag: Uint8Array, f: (v: unknown) => boolean, rows: Int32Array | null, n: number, out: Int32Array): number {
  let m = 0;
  const len = rows === null ? n : rows.length;
  for (let k = 0; k < len; k++) {
    const i = rows === null ? k : rows[k];
    const t = tags[i];
    if (t === T_STR ? dictOk[nums[i]] : t === T_NUM ? f(nums[i]) : byTag[t]) out[m++] = i;
  }
  return m;
}

/**
 * scan with numbers tested against an interval inline, one loop for all rows and one for some:
 * these loops run once, cold, in a new process, where every call and every extra branch counts.
 */
function scanNumbers(tags: Uint8Array, nums: Float64Array, dictOk: Uint8Array, byTag: Uint8Array, r: NumberRange, rows: Int32Array | null, n: number, out: Int32Array): number {
  const { lo, loIn, hi, hiIn } = r;
  const inside = !r.out;
  let m = 0;
  if (rows === null) {
    for (let i = 0; i < n; i++) {
      const t = tags[i];
      if (t === T_NUM) {
        const a = nums[i];
        if (((a > lo || (loIn && a === lo)) && (a < hi || (hiIn && a === hi))) === inside) out[m++] = i;
      } else if (t === T_STR ? dictOk[nums[i]] === 1 : byTag[t] === 1) out[m++] = i;
    }
    return m;
  }
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k];
    const t = tags[i];
    if (t === T_NUM) {
      const a = nums[i];
      if (((a > lo || (loIn && a === lo)) && (a < hi || (hiIn && a === hi))) === inside) out[m++] = i;
    } else if (t === T_STR ? dictOk[nums[i]] === 1 : byTag[t] === 1) out[m++] = i;
  }
  return m;
}

/**
 * The sort values of the `n` candidates when every one is a number or missing (NaN for
 * missing: NaN sorts as missing in compareValues too), else undefined (strings and booleans
 * compare as text there).
 */
function numericKeys(col: Column, cand: Int32Array | null, n: number): Float64Array | undefined {
  const out = new Float64Array(n);
  const { tags, nums } = col;
  for (let k = 0; k < n; k++) {
    const i = cand === null ? k : cand[k];
    const t = tags[i];
    if (t === T_NUM) out[k] = nums[i];
    else if (t === 0 || t === T_NULL) out[k] = NaN;
    else return undefined;
  }
  return out;
}

/**
 * The first `limit` of `n` snapshot candidates (in row order) by numeric keys (`keys[k]`
 * belongs to candidate k), in compareValuesTie's order: missing (NaN) last, ties by row
 * (newest first).
 */
function topKNumeric(n: number, at: (k: number) => number, limit: number | undefined, keys: Float64Array, desc: boolean): number[] {
  // `p` before `q` (p < q: q came later, so a tie keeps p first).
  const before = (p: number, q: number): boolean => {
    const a = keys[p];
    const b = keys[q];
    if (b !== b) return a === a || p < q;
    if (a !== a) return false;
    return a === b ? p < q : desc ? a > b : a < b;
  };
  if (limit === undefined || limit > 1000 || limit >= n) {
    const all = Array.from({ length: n }, (_, k) => k).sort((p, q) => (p === q ? 0 : before(p, q) ? -1 : 1));
    return all.slice(0, limit ?? n).map(at);
  }
  // Selection of the best `limit`, kept sorted; most candidates lose to the last one kept at
  // once, tested inline (a later candidate passes a kept one only by a strictly better value).
  const top = new Int32Array(limit);
  let m = 0;
  let worst = NaN;
  for (let p = 0; p < n; p++) {
    if (m === limit) {
      const a = keys[p];
      if (a !== a) continue;
      if (worst === worst && (desc ? !(a > worst) : !(a < worst))) continue;
    }
    let j = m < limit ? m++ : m - 1;
    while (j > 0 && before(p, top[j - 1])) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = p;
    worst = keys[top[m - 1]];
  }
  return Array.from(top.subarray(0, m), at);
}

const compareIds = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0);

/**
 * The default order (newest first) of snapshot candidates (already in that order) and journal
 * candidates (a few, sorted here), merged up to `limit`: no sort over every run, so a listing
 * after a few new runs costs what it cost before them.
 */
function mergeNewestFirst(nBase: number, baseAt: (k: number) => number, extraCand: number[], extra: RunRecord[], base: IndexFile | null, limit: number | undefined): number[] {
  const fromExtra = [...extraCand].sort((a, b) => compareIds(extra[-1 - a].id, extra[-1 - b].id));
  const all = nBase + fromExtra.length;
  const want = limit === undefined ? all : Math.min(limit, all);
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (out.length < want) {
    if (j >= fromExtra.length || (i < nBase && compareIds(base!.idAt(baseAt(i)), extra[-1 - fromExtra[j]].id) <= 0)) out.push(baseAt(i++));
    else out.push(fromExtra[j++]);
  }
  return out;
}

/** compareValues between two snapshot rows, `tie` standing for the id comparison. */
function compareValuesTie(a: unknown, b: unknown, desc: boolean, tie: number): number {
  const am = a === undefined || a === null || (typeof a === 'number' && Number.isNaN(a));
  const bm = b === undefined || b === null || (typeof b === 'number' && Number.isNaN(b));
  if (am || bm) return am === bm ? tie : am ? 1 : -1;
  let cmp: number;
  if (typeof a === 'number' && typeof b === 'number') cmp = a - b;
  else {
    const sa = String(a);
    const sb = String(b);
    cmp = sa < sb ? -1 : sa > sb ? 1 : 0;
  }
  if (cmp === 0) return tie;
  return desc ? -cmp : cmp;
}

/** The first `k` of `xs` in the order of `cmp`, as a stable sort then slice would give them. */
function topK(xs: number[], k: number | undefined, cmp: (a: number, b: number) => number): number[] {
  if (k === undefined || k >= xs.length || k > 1000) {
    const s = xs.sort(cmp);
    return k === undefined ? s : s.slice(0, k);
  }
  const out: number[] = [];
  if (k === 0) return out;
  for (const x of xs) {
    if (out.length === k && cmp(x, out[k - 1]) >= 0) continue;
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (cmp(out[m], x) <= 0) lo = m + 1;
      else hi = m;
    }
    out.splice(lo, 0, x);
    if (out.length > k) out.pop();
  }
  return out;
}

type MapRef = { map: 'params' | 'metrics' | 'inputs'; name: string };

/** true when some run has a value (null included) at params/metrics/inputs `name`. */
function seen(base: IndexFile | null, sh: Set<number>, extra: RunRecord[], ref: MapRef): boolean {
  if (extra.some((r) => (r[ref.map] as Record<string, unknown> | undefined)?.[ref.name] !== undefined)) return true;
  if (!base || !base.header.names[ref.map].includes(ref.name)) return false;
  if (sh.size === 0) return true;
  if (ref.map !== 'inputs') {
    const c = base.column(`${ref.map}.${ref.name}`);
    if (!c) return false;
    for (let i = 0; i < base.n; i++) if (c.tags[i] !== 0 && !sh.has(i)) return true;
    return false;
  }
  const all = base.allRecords();
  return all.some((r, i) => !sh.has(i) && r.inputs?.[ref.name] !== undefined);
}

function parseStatuses(text: string): Set<string> {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.find((s) => !STATUSES.includes(s));
  if (bad !== undefined || list.length === 0) {
    const hint = bad ? closest(bad, STATUSES) : undefined;
    throw new GitmlError('USAGE', `--status: unknown status ${JSON.stringify(bad ?? text)}${hint ? ` (did you mean ${hint}?)` : ''}; use ${STATUSES.join(', ')} (comma-separated for several)`, { status: text });
  }
  return new Set(list);
}

/** A hex prefix stays a prefix; anything else is resolved as a revision of the repository. */
async function resolveSourceCommit(repo: RunsRepo, text: string): Promise<string> {
  const t = text.trim();
  if (/^[0-9a-fA-F]{1,40}$/.test(t)) return t.toLowerCase();
  try {
    // core/git loads child_process: only a revision (not a hex prefix) needs it.
    if (t) return await (await import('../git.js')).resolveCommit(repo.dir, t);
  } catch (e) {
    if (!isGitmlError(e, 'UNKNOWN_REVISION') && !isGitmlError(e, 'USAGE')) throw e;
  }
  throw new GitmlError('USAGE', `--commit: ${JSON.stringify(text)} is neither a commit id (hex digits, a prefix is enough) nor a revision of this repository`, { commit: text });
}

function unknownName(base: IndexFile | null, extra: RunRecord[], what: string, key: string, ref: MapRef): GitmlError {
  const names = new Set<string>(base ? base.header.names[ref.map] : []);
  for (const record of extra) for (const k of Object.keys((record[ref.map] as object | undefined) ?? {})) names.add(k);
  const hint = closest(ref.name, names);
  const known = [...names].sort();
  const list = known.length ? `; recorded ${ref.map}: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', ...' : ''}` : `; no run records any ${ref.map}`;
  return new GitmlError('USAGE', `${what}: no run has ${key}${hint ? ` (did you mean ${ref.map}.${hint}?)` : ''}${list}`, { key });
}
