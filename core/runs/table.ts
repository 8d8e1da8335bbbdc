/**
 * A run table: every run of a listing held as the runs index's columns, not as records. A row
 * is a position (0 = newest run, the default listing order); the value of a row at a key is read
 * from the index column (a type tag and a Float64 per row), so a table of 100,000 runs costs the
 * columns read so far (9 bytes a row each), not 100,000 parsed records. Runs changed since the
 * snapshot (the journal, at most 1,000) are records.
 *
 * Filters (`--where` conditions, the same rules as listRuns through query.ts compileCondition)
 * are compiled once per condition against the columns: a string column's condition is decided
 * once per dictionary entry, a number column's is one comparison, so filtering a table of
 * 100,000 runs is a loop over typed arrays. Sorts build one key array per column and compare
 * numbers (a string column sorts by each dictionary entry's rank).
 *
 * Keys the index has no column for (`inputs.x`, `source`, `artifacts`...) are answered from the
 * records, read one at a time and dropped, the values at the key kept (slower the first time,
 * but the table never holds the records).
 *
 * Example: `const t = await openRunTable({ dir, experiment: 'train' }); t.filter(t.all(), [parseWhere('metrics.acc>0.9')])`.
 */
import { GitmlError } from '../errors.js';
import type { RunRecord } from './types.js';
import { openRuns } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { catalogProblems, damageNotice, discardIndex, loadCatalog, overRuns, runCount, shadowed } from './catalog.js';
import { closest, compareValues, compileCondition, fieldOf, mapRef, type Condition } from './query.js';
import { IndexFileError, isColumnKey, type Column, type IndexFile } from './runs-index.js';

export interface RunTableOptions {
  dir: string;
  /** Only the runs of this experiment. */
  experiment?: string;
  config?: RunStoreConfig;
}

/** A test of the row at a position. */
export type RowTest = (pos: number) => boolean;

const T_NUM = 2;
const T_STR = 3;
const T_TRUE = 4;
const T_FALSE = 5;

/** A snapshot row that is not in the table (its value was not read). */
const NOT_READ = Symbol('not read');

/** Rows read at once when a key has no column (fewer than an eighth of the snapshot: IndexFile.records then reads them one by one and keeps none). */
const RECORD_CHUNK = 2048;

export class RunTable {
  /** Number of rows (runs in the table). */
  readonly n: number;
  private keys = new Map<string, { miss: Uint8Array; key: Float64Array; generic?: unknown[] }>();
  private fields = new Map<string, unknown[]>();
  /** The snapshot's ids text, lowercased (null: the ids are not all 26 characters, or lowercasing changed the length). */
  private idText?: string | null;

  /**
   * @param handles per position: the snapshot row (>= 0) or -1 - k for journal run k; newest first.
   */
  constructor(
    private readonly base: IndexFile | null,
    private readonly handles: Int32Array,
    private readonly extra: RunRecord[],
    /** Runs on the branch (every experiment). */
    readonly recorded: number,
    readonly problems: Array<{ path: string; message: string }>,
    /** Drops the index files and memory (damage found while reading a column or a row). */
    private readonly discard: () => void = () => undefined,
  ) {
    this.n = handles.length;
  }

  /** Every position, newest first. */
  all(): number[] {
    return Array.from({ length: this.n }, (_, i) => i);
  }

  id(pos: number): string {
    const h = this.handles[pos];
    return h >= 0 ? this.base!.idAt(h) : this.extra[-1 - h].id;
  }

  /** The position of run `id`, or -1 (positions are in id order, newest first: a binary search). */
  positionOf(id: string): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.id(mid) > id) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.n && this.id(lo) === id ? lo : -1;
  }

  /** The value at `key` of the row at `pos` (`metrics.accuracy`, `params.C`, `status`, `source.branch`...). */
  value(pos: number, key: string): unknown {
    const h = this.handles[pos];
    if (h < 0) return fieldOf(this.extra[-1 - h], key);
    const c = this.columnOf(key);
    if (c !== null) return c ? c.value(h) : undefined;
    return fieldOf(this.guard(() => this.base!.records([h]))[0], key);
  }

  /** The full index records of these positions (without `spec`, as listRuns returns them). */
  records(positions: number[]): RunRecord[] {
    const fromBase = positions.map((p) => this.handles[p]).filter((h) => h >= 0);
    const got = this.base && fromBase.length ? this.readRecords(fromBase) : [];
    const byRow = new Map(fromBase.map((h, k) => [h, got[k]]));
    return positions.map((p) => {
      const h = this.handles[p];
      return h >= 0 ? byRow.get(h)! : this.extra[-1 - h];
    });
  }

  /** How many rows have a value at each of these keys (params.x, metrics.x). */
  presence(keys: string[]): Map<string, number> {
    const out = new Map<string, number>();
    const extra: RunRecord[] = [];
    // Which snapshot rows are in the table: all of them (the common case), or those marked.
    let inTable: Uint8Array | undefined;
    let baseCount = 0;
    for (let p = 0; p < this.n; p++) {
      const h = this.handles[p];
      if (h >= 0) {
        baseCount++;
        (inTable ??= new Uint8Array(this.base!.n))[h] = 1;
      } else extra.push(this.extra[-1 - h]);
    }
    const all = this.base !== null && baseCount === this.base.n;
    for (const key of keys) {
      let count = 0;
      for (const r of extra) if (fieldOf(r, key) !== undefined) count++;
      const c = baseCount ? this.columnOf(key) : undefined;
      if (c) {
        const tags = c.tags;
        const n = tags.length;
        if (all) for (let h = 0; h < n; h++) count += tags[h] !== 0 ? 1 : 0;
        else for (let h = 0; h < n; h++) count += tags[h] !== 0 && inTable![h] === 1 ? 1 : 0;
      } else if (c === null) {
        const rows: number[] = [];
        for (let p = 0; p < this.n; p++) if (this.handles[p] >= 0) rows.push(this.handles[p]);
        this.eachRecord(rows, (r) => {
          if (fieldOf(r, key) !== undefined) count++;
        });
      }
      out.set(key, count);
    }
    return out;
  }

  /** The number of rows for each value of a string column (e.g. `experiment`). */
  countBy(key: string): Map<string, number> {
    const out = new Map<string, number>();
    const c = this.columnOf(key);
    for (let p = 0; p < this.n; p++) {
      const h = this.handles[p];
      const v = h < 0 ? fieldOf(this.extra[-1 - h], key) : c ? c.value(h) : c === null ? this.value(p, key) : undefined;
      if (typeof v === 'string') out.set(v, (out.get(v) ?? 0) + 1);
    }
    return out;
  }

  /**
   * The test of one condition for every position, compiled once: the same answers as listRuns
   * gives (query.ts compileCondition on each value), decided per dictionary entry for strings.
   */
  test(c: Condition): RowTest {
    return this.testValue(c.key, compileCondition(c), c);
  }

  /**
   * A test of `f` on the value at `key` of a row. With `cond`, a number is compared directly
   * (what compileCondition does with two numbers) instead of through `f`.
   */
  testValue(key: string, f: (v: unknown) => boolean, cond?: Condition): RowTest {
    const extraOk = (h: number) => f(fieldOf(this.extra[-1 - h], key));
    const c = this.base ? this.columnOf(key) : undefined;
    if (c === null) {
      // No column: the values at `key` from the records (read once for the key), the answers kept as bits.
      const vals = this.fieldValues(key);
      const ok = new Uint8Array(this.base!.n);
      for (let h = 0; h < ok.length; h++) if (vals[h] !== NOT_READ) ok[h] = f(vals[h]) ? 1 : 0;
      return (p) => {
        const h = this.handles[p];
        return h >= 0 ? ok[h] === 1 : extraOk(h);
      };
    }
    if (!c) {
      const none = f(undefined);
      return (p) => {
        const h = this.handles[p];
        return h >= 0 ? none : extraOk(h);
      };
    }
    const { tags, nums } = c;
    const consts = [f(undefined), f(null), false, false, f(true), f(false)];
    const dictOk = Uint8Array.from(c.dict, (s) => (f(s) ? 1 : 0));
    const num = (cond && numberTest(cond)) || ((x: number) => f(x));
    const handles = this.handles;
    return (p) => {
      const h = handles[p];
      if (h < 0) return extraOk(h);
      const t = tags[h];
      if (t === T_NUM) return num(nums[h]);
      if (t === T_STR) return dictOk[nums[h]] === 1;
      return consts[t];
    };
  }

  /**
   * A test that `word` (lowercase) occurs in the run's id, experiment, status or source branch
   * (case-insensitive): a bare word of the UI filter.
   */
  testWord(word: string): RowTest {
    const extraOk = (h: number) => {
      const r = this.extra[-1 - h];
      return `${r.id}\u0000${r.experiment}\u0000${r.status}\u0000${r.source?.branch ?? ''}`.toLowerCase().includes(word);
    };
    if (/[\u0000\n]/.test(word) || !this.base) {
      // Across fields: matched against the joined text, as a record's would be.
      return (p) => {
        const h = this.handles[p];
        return h < 0 ? extraOk(h) : ['id', 'experiment', 'status', 'source.branch'].map((k) => String(this.value(p, k) ?? '')).join('\u0000').toLowerCase().includes(word);
      };
    }
    // One bit per snapshot row, set in tight loops over the index's arrays: the ids text
    // searched with indexOf, then each field's dictionary entries tested once.
    const n = this.base.n;
    const mask = new Uint8Array(n);
    this.markIds(word, mask);
    const others: RowTest[] = [];
    for (const key of ['experiment', 'status', 'source.branch']) {
      const c = this.columnOf(key);
      if (c === null) {
        others.push(this.testValue(key, (v) => typeof v === 'string' && v.toLowerCase().includes(word)));
        continue;
      }
      if (!c) continue;
      const ok = Uint8Array.from(c.dict, (s) => (s.toLowerCase().includes(word) ? 1 : 0));
      if (!ok.includes(1)) continue;
      const { tags, nums } = c;
      for (let h = 0; h < n; h++) if (tags[h] === T_STR && ok[nums[h]] === 1) mask[h] = 1;
    }
    const handles = this.handles;
    return (p) => {
      const h = handles[p];
      if (h < 0) return extraOk(h);
      if (mask[h] === 1) return true;
      for (const t of others) if (t(p)) return true;
      return false;
    };
  }

  /**
   * Read ahead what a bare word is tested on (the ids text, the experiment, status and branch
   * columns), so that the first word typed costs its test only. For idle time.
   */
  prepareWords(): void {
    if (!this.base) return;
    this.lowerIdText();
    for (const key of ['experiment', 'status', 'source.branch']) this.columnOf(key);
  }

  /** The snapshot's ids text lowercased, when the ids are gitml's (26 characters each: a hit's row is its offset / 27); else null. */
  private lowerIdText(): string | null {
    if (this.idText === undefined) {
      const base = this.base!;
      const fixed = base.header.idWidth === 26 && base.header.ids.len === base.n * 27 - 1;
      // Joined again from the split ids (the index file keeps its ids section to itself): once, while idle (prepareWords).
      const lower = fixed ? this.guard(() => base.ids()).join('\n').toLowerCase() : '';
      this.idText = fixed && lower.length === base.n * 27 - 1 ? lower : null;
    }
    return this.idText;
  }

  /** Set mask[row] for each snapshot row whose id contains `word` (lowercase), case-insensitively. */
  private markIds(word: string, mask: Uint8Array): void {
    const base = this.base!;
    const text = this.lowerIdText();
    if (text === null) {
      const ids = this.guard(() => base.ids());
      for (let h = 0; h < ids.length; h++) if (ids[h].toLowerCase().includes(word)) mask[h] = 1;
      return;
    }
    // A word has no line break: a hit lies inside one id; the search goes on from the next one.
    for (let at = text.indexOf(word); at >= 0; ) {
      const row = (at / 27) | 0;
      mask[row] = 1;
      at = text.indexOf(word, (row + 1) * 27);
    }
  }

  /** The positions of `rows` that pass every test, in their order. */
  filter(rows: readonly number[], tests: RowTest[]): number[] {
    if (!tests.length) return rows as number[];
    const out: number[] = [];
    if (tests.length === 1) {
      const t = tests[0];
      for (const p of rows) if (t(p)) out.push(p);
      return out;
    }
    outer: for (const p of rows) {
      for (const t of tests) if (!t(p)) continue outer;
      out.push(p);
    }
    return out;
  }

  /**
   * `rows` sorted by the value at `key` (listRuns's --sort order, query.ts compareValues: missing
   * values last, ties newest first).
   */
  sort(rows: readonly number[], key: string, desc: boolean): number[] {
    const k = this.sortKeys(key);
    if (k.generic) {
      const g = k.generic;
      return [...rows].sort((a, b) => compareValues(g[a], this.id(a), g[b], this.id(b), desc));
    }
    const { miss, key: v } = k;
    let ascending = true;
    for (let i = 1; i < rows.length && ascending; i++) ascending = rows[i - 1] < rows[i];
    if (!ascending) {
      const sign = desc ? -1 : 1;
      return [...rows].sort((a, b) => {
        const ma = miss[a];
        const mb = miss[b];
        if (ma || mb) return ma === mb ? a - b : ma ? 1 : -1;
        const d = v[a] - v[b];
        return d === 0 ? a - b : sign * d;
      });
    }
    return rankSort(rows, miss, v, desc);
  }

  /** Names of every param or metric some run of the table has (the index header's names, then the journal's). */
  names(map: 'params' | 'metrics'): string[] {
    const out = new Set<string>(this.base ? this.base.header.names[map] : []);
    for (const r of this.extra) for (const k of Object.keys((r[map] as object | undefined) ?? {})) out.add(k);
    return [...out];
  }

  /** A GitmlError USAGE when no run has the param or metric `key` names (what listRuns says for a typo). */
  checkName(key: string, names: string[]): void {
    const ref = mapRef(key);
    if (!ref || ref.map === 'inputs' || names.includes(ref.name)) return;
    const hint = closest(ref.name, names);
    throw new GitmlError('USAGE', `no run has ${key}${hint ? ` (did you mean ${ref.map}.${hint}?)` : ''}`, { key, hint });
  }

  /** A column of the snapshot for `key`: undefined when no row has a value there, null when the index has no column for it. */
  private columnOf(key: string): Column | undefined | null {
    if (!this.base) return undefined;
    if (!isColumnKey(key) || this.base.header.objectKeys.includes(key)) return null;
    return this.guard(() => this.base!.column(key));
  }

  /** Damage found while reading the index: dropped (the next openRunTable rebuilds it) and said as a GitmlError. */
  private guard<T>(read: () => T): T {
    try {
      return read();
    } catch (e) {
      // A table kept across a reload whose snapshot was rewritten (and closed): the new table is on its way.
      if ((e as NodeJS.ErrnoException)?.code === 'EBADF') throw new GitmlError('IO', 'the runs index was rewritten; reading it again', {});
      if (!(e instanceof IndexFileError)) throw e;
      this.discard();
      throw new GitmlError('IO', `${damageNotice(e)} on the next load`, { reason: e.reason });
    }
  }

  /**
   * The value at `key` of each snapshot row in the table (NOT_READ for the others), for a key
   * without a column: every record read once (about a second at 100,000 runs) and the values of
   * the last two such keys kept, not the records, so typing a condition on it costs that once.
   */
  private fieldValues(key: string): unknown[] {
    const held = this.fields.get(key);
    if (held) return held;
    const vals: unknown[] = new Array(this.base!.n).fill(NOT_READ);
    const rows: number[] = [];
    for (let p = 0; p < this.n; p++) if (this.handles[p] >= 0) rows.push(this.handles[p]);
    let k = 0;
    this.eachRecord(rows, (r) => {
      vals[rows[k++]] = fieldOf(r, key);
    });
    if (this.fields.size >= 2) this.fields.delete(this.fields.keys().next().value!);
    this.fields.set(key, vals);
    return vals;
  }

  private readRecords(rows: number[]): RunRecord[] {
    const out: RunRecord[] = [];
    this.eachRecord(rows, (r) => out.push(r));
    return out;
  }

  /** Records of snapshot rows, read in chunks and not kept by the index. */
  private eachRecord(rows: number[], fn: (r: RunRecord) => void): void {
    const base = this.base!;
    const chunk = Math.max(1, Math.min(RECORD_CHUNK, Math.floor(base.n / 8)));
    for (let i = 0; i < rows.length; i += chunk) for (const r of this.guard(() => base.records(rows.slice(i, i + chunk)))) fn(r);
  }

  private sortKeys(key: string): { miss: Uint8Array; key: Float64Array; generic?: unknown[] } {
    let k = this.keys.get(key);
    if (k) return k;
    const c = this.columnOf(key);
    k = (c === null ? undefined : this.columnSortKeys(key, c)) ?? this.genericSortKeys(key, c);
    this.keys.set(key, k);
    return k;
  }

  /**
   * Sort keys straight from a column when its values are all numbers or all strings (a string's
   * key is its rank among the strings); undefined for booleans or mixed types.
   */
  private columnSortKeys(key: string, c: Column | undefined): { miss: Uint8Array; key: Float64Array } | undefined {
    const miss = new Uint8Array(this.n);
    const v = new Float64Array(this.n);
    let numbers = 0;
    let strings = 0;
    const extraStrings = new Map<number, string>();
    const tags = c?.tags;
    const nums = c?.nums;
    for (let p = 0; p < this.n; p++) {
      const h = this.handles[p];
      if (h >= 0) {
        const t = tags ? tags[h] : 0;
        if (t === T_NUM) {
          const x = nums![h];
          if (x !== x) miss[p] = 1;
          else {
            v[p] = x;
            numbers++;
          }
        } else if (t === T_STR) {
          v[p] = nums![h];
          strings++;
        } else if (t === T_TRUE || t === T_FALSE) return undefined;
        else miss[p] = 1;
      } else {
        const x = fieldOf(this.extra[-1 - h], key);
        if (x === undefined || x === null || (typeof x === 'number' && Number.isNaN(x))) miss[p] = 1;
        else if (typeof x === 'number') {
          v[p] = x;
          numbers++;
        } else if (typeof x === 'string') {
          extraStrings.set(p, x);
          strings++;
        } else return undefined;
      }
      if (numbers && strings) return undefined;
    }
    if (strings) {
      const dict = c?.dict ?? [];
      // The default sort compares UTF-16 code units, as `<` on two strings does (compareValues).
      const distinct = [...new Set([...dict, ...extraStrings.values()])].sort();
      const rank = new Map(distinct.map((s, i) => [s, i]));
      const dictRank = Float64Array.from(dict, (s) => rank.get(s)!);
      for (let p = 0; p < this.n; p++) {
        if (miss[p]) continue;
        const x = extraStrings.get(p);
        v[p] = x !== undefined ? rank.get(x)! : dictRank[v[p]];
      }
    }
    return { miss, key: v };
  }

  /** Sort keys as values, compared with compareValues (booleans, mixed types, keys without a column). */
  private genericSortKeys(key: string, c: Column | undefined | null): { miss: Uint8Array; key: Float64Array; generic: unknown[] } {
    const values: unknown[] = new Array(this.n);
    for (let p = 0; p < this.n; p++) {
      const h = this.handles[p];
      values[p] = h < 0 ? fieldOf(this.extra[-1 - h], key) : c ? c.value(h) : undefined;
    }
    if (c === null && this.base) {
      const vals = this.fieldValues(key);
      for (let p = 0; p < this.n; p++) if (this.handles[p] >= 0) values[p] = vals[this.handles[p]];
    }
    return { miss: new Uint8Array(0), key: new Float64Array(0), generic: values };
  }
}

/** Which word of a Float64's two 32-bit halves is the high one on this machine. */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * `rows` (ascending positions) ordered by their keys `v` (missing ones last), ties in position
 * order: the order a comparator sort with compareValues gives, by a stable radix sort over the
 * keys' bits (four passes of 16 bits, the same at 100,000 rows as 17 comparator calls a row
 * would cost several times over).
 */
function rankSort(rows: readonly number[], miss: Uint8Array, v: Float64Array, desc: boolean): number[] {
  const m = rows.length;
  const f = new Float64Array(1);
  const w = new Uint32Array(f.buffer);
  const hi = new Uint32Array(m);
  const lo = new Uint32Array(m);
  const at = new Int32Array(m);
  const missing: number[] = [];
  let c = 0;
  for (let i = 0; i < m; i++) {
    const p = rows[i];
    if (miss[p]) {
      missing.push(p);
      continue;
    }
    // `+ 0`: -0 and 0 are one key (compareValues: their difference is 0, a tie). The bits of a
    // double, made to order as unsigned integers: negatives flipped whole, positives' sign set.
    f[0] = v[p] + 0;
    let h = w[HI];
    let l = w[1 - HI];
    if (h & 0x80000000) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    } else h = (h | 0x80000000) >>> 0;
    if (desc) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    }
    hi[c] = h;
    lo[c] = l;
    at[c++] = p;
  }
  let ord = new Int32Array(c);
  for (let i = 0; i < c; i++) ord[i] = i;
  let tmp = new Int32Array(c);
  const count = new Int32Array(65537);
  for (let pass = 0; pass < 4; pass++) {
    const words = pass < 2 ? lo : hi;
    const shift = pass % 2 ? 16 : 0;
    count.fill(0);
    for (let i = 0; i < c; i++) count[((words[i] >>> shift) & 0xffff) + 1]++;
    // A digit every key shares orders nothing.
    if (c === 0 || count[((words[0] >>> shift) & 0xffff) + 1] === c) continue;
    for (let d = 0; d < 65536; d++) count[d + 1] += count[d];
    for (let i = 0; i < c; i++) {
      const k = ord[i];
      tmp[count[(words[k] >>> shift) & 0xffff]++] = k;
    }
    const t = ord;
    ord = tmp;
    tmp = t;
  }
  const out: number[] = new Array(m);
  for (let i = 0; i < c; i++) out[i] = at[ord[i]];
  for (let i = 0; i < missing.length; i++) out[c + i] = missing[i];
  return out;
}

/** compileCondition for a number value when the condition's value is a number too: one comparison. */
function numberTest(c: Condition): ((x: number) => boolean) | undefined {
  if (c.op === '~' || c.value.trim() === '' || !Number.isFinite(Number(c.value))) return undefined;
  const b = Number(c.value);
  switch (c.op) {
    case '=':
      return (a) => a === b;
    case '!=':
      return (a) => a !== b;
    case '>':
      return (a) => a > b;
    case '>=':
      return (a) => a >= b;
    case '<':
      return (a) => a < b;
    case '<=':
      return (a) => a <= b;
  }
  return undefined;
}

/**
 * true when every run matching `a` also matches `b`, by their text alone: the same condition, a
 * `~` whose value contains b's, or a bound at least as tight (`metrics.x>0.5` implies
 * `metrics.x>0.4`). Used to filter the previous result again instead of every run when a
 * condition is typed one character at a time. false when unsure.
 */
export function conditionImplies(a: Condition, b: Condition): boolean {
  if (a.key !== b.key) return false;
  if (a.op === b.op && a.value === b.value) return true;
  if (a.op === '~' && b.op === '~') return a.value.includes(b.value);
  const num = (s: string) => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined);
  const x = num(a.value);
  const y = num(b.value);
  if (x === undefined || y === undefined) return false;
  // Only numbers compare numerically on both sides; a string value compares as text under either bound.
  if (!a.key.startsWith('metrics.')) return false;
  const lower = (op: string) => op === '>' || op === '>=';
  const upper = (op: string) => op === '<' || op === '<=';
  if (lower(a.op) && lower(b.op)) return x > y || (x === y && (a.op === '>' || b.op === '>='));
  if (upper(a.op) && upper(b.op)) return x < y || (x === y && (a.op === '<' || b.op === '<='));
  if (a.op === '=' && lower(b.op)) return b.op === '>' ? x > y : x >= y;
  if (a.op === '=' && upper(b.op)) return b.op === '<' ? x < y : x <= y;
  return false;
}

/**
 * The run table of the branch (one experiment's when given), newest first, from the runs index:
 * ids and columns, no records parsed.
 */
export async function openRunTable(o: RunTableOptions): Promise<RunTable> {
  const config = o.config ?? (await loadRunStoreConfig(o.dir));
  const repo = openRuns(o.dir, config);
  try {
    return await build(repo, o);
  } catch (e) {
    // Damage found while reading: the index is never the truth, rebuild it.
    if (!(e instanceof IndexFileError)) throw e;
    discardIndex(repo);
    return build(repo, o);
  }
}

async function build(repo: ReturnType<typeof openRuns>, o: RunTableOptions): Promise<RunTable> {
  const cat = await loadCatalog(repo);
  cat.notices.splice(0);
  const base = cat.base && cat.base.n ? cat.base : null;
  const sh = shadowed(cat);
  const extra = overRuns(cat)
    .map((e) => e.record)
    .filter((r) => o.experiment === undefined || r.experiment === o.experiment)
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const rows: number[] = [];
  if (base) {
    let keep: (i: number) => boolean = () => true;
    if (o.experiment !== undefined) {
      const c = base.column('experiment');
      const code = c ? c.dict.indexOf(o.experiment) : -1;
      keep = c && code >= 0 ? (i) => c.tags[i] === T_STR && c.nums[i] === code : () => false;
    }
    for (let i = 0; i < base.n; i++) if (!sh.has(i) && keep(i)) rows.push(i);
  }
  // Snapshot rows are newest first; the journal's runs are merged in by id.
  const handles = new Int32Array(rows.length + extra.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < rows.length || j < extra.length) {
    if (j >= extra.length || (i < rows.length && base!.idAt(rows[i]) >= extra[j].id)) handles[k++] = rows[i++];
    else handles[k++] = -1 - j++;
  }
  const problems = catalogProblems(cat).map((p) => ({ path: p.path, message: p.message }));
  return new RunTable(base, handles, extra, runCount(cat), problems, () => discardIndex(repo));
}
