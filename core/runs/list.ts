/**
 * listRuns: every run on the branch (through the runs index), filtered, sorted and limited.
 */
import { GitmlError, isGitmlError } from '../errors.js';
import { RUN_STATUSES, type RunRecord } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { catalogProblems, damageNotice, discardIndex, loadCatalog, overRuns, runCount, shadowed } from './catalog.js';
import { closest, compareValues, compileCondition, fieldOf, mapRef, matches, parseWhere, sortKey, type Condition } from './query.js';
import { IndexFileError, isColumnKey, type IndexFile } from './runs-index.js';

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

export interface ListRunsResult {
  /** The matching runs, sorted, at most `limit` of them. */
  runs: RunRecord[];
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
export async function listRuns(opts: ListRunsOptions): Promise<ListRunsResult> {
  const conds = (opts.where ?? []).map(parseWhere);
  const sort = opts.sort ? sortKey(opts.sort) : undefined;
  const statuses = opts.status !== undefined ? parseStatuses(opts.status) : undefined;
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const repo = openRuns(opts.dir, config);
  const commit = opts.commit !== undefined ? await resolveSourceCommit(repo, opts.commit) : undefined;
  try {
    return await query(repo, opts, conds, sort, statuses, commit, []);
  } catch (e) {
    // Damage found in a row or column while reading: the index is never the truth, rebuild it.
    if (!(e instanceof IndexFileError)) throw e;
    discardIndex(repo);
    return query(repo, opts, conds, sort, statuses, commit, [damageNotice(e)]);
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
): Promise<ListRunsResult> {
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

  // Candidates: snapshot rows (i >= 0) and journal runs (encoded as -1 - k).
  const cand: number[] = [];
  if (base) {
    const keys = [...conds.map((c) => c.key), ...(sort ? [sort.key] : [])];
    const fromRows = keys.some((k) => !isColumnKey(k) || base.header.objectKeys.includes(k));
    let test: (i: number) => boolean;
    if (fromRows) {
      const all = base.allRecords();
      test = (i) => recordMatches(all[i]);
    } else {
      const preds: Array<(i: number) => boolean> = [];
      const col = (k: string) => base.column(k);
      const on = (k: string, f: (v: unknown) => boolean) => {
        const c = col(k);
        const none = f(undefined);
        preds.push(c ? (i) => f(c.value(i)) : () => none);
      };
      if (opts.experiment !== undefined) on('experiment', (v) => v === opts.experiment);
      if (statuses) on('status', (v) => statuses.has(v as string));
      if (opts.branch !== undefined) on('source.branch', (v) => v === opts.branch);
      if (commit !== undefined) on('source.commit', (v) => (typeof v === 'string' ? v : '').startsWith(commit));
      for (const c of conds) on(c.key, compileCondition(c));
      test = (i) => {
        for (const p of preds) if (!p(i)) return false;
        return true;
      };
    }
    for (let i = 0; i < base.n; i++) if (!sh.has(i) && test(i)) cand.push(i);
  }
  extra.forEach((r, k) => {
    if (recordMatches(r)) cand.push(-1 - k);
  });
  const total = cand.length;
  const limit = opts.limit !== undefined && opts.limit >= 0 ? opts.limit : undefined;

  let order: number[];
  if (!sort && extra.length === 0) order = limit === undefined ? cand : cand.slice(0, limit); // snapshot rows are newest first
  else if (!sort) order = mergeNewestFirst(cand, extra, base, limit);
  else {
    // Snapshot rows are stored newest first, so between two of them the row number is the id
    // order: ids are read only when journal runs take part.
    const idOf = (x: number) => (x >= 0 ? base!.idAt(x) : extra[-1 - x].id);
    let cmp: (a: number, b: number) => number;
    {
      const key = sort.key;
      let baseVal: (i: number) => unknown = () => undefined;
      if (base) {
        if (isColumnKey(key) && !base.header.objectKeys.includes(key)) {
          const c = base.column(key);
          if (c) baseVal = (i) => c.value(i);
        } else {
          const all = base.allRecords();
          baseVal = (i) => fieldOf(all[i], key);
        }
      }
      const val = (x: number) => (x >= 0 ? baseVal(x) : fieldOf(extra[-1 - x], key));
      cmp = extra.length ? (a, b) => compareValues(val(a), idOf(a), val(b), idOf(b), sort.desc) : (a, b) => compareValuesTie(val(a), val(b), sort.desc, a < b ? -1 : a > b ? 1 : 0);
    }
    order = topK(cand, limit, cmp);
  }
  const fromBase = order.filter((x) => x >= 0);
  const got = base && fromBase.length ? base.records(fromBase) : [];
  const byRow = new Map(fromBase.map((x, k) => [x, got[k]]));
  const runs = order.map((x) => (x >= 0 ? byRow.get(x)! : extra[-1 - x]));
  const problems = catalogProblems(cat).map((p) => ({ path: p.path, message: p.message }));
  return { runs, problems, recorded, total, ...(notices.length ? { notices } : {}) };
}

const compareIds = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0);

/**
 * The default order (newest first) of snapshot candidates (already in that order) and journal
 * candidates (a few, sorted here), merged up to `limit`: no sort over every run, so a listing
 * after a few new runs costs what it cost before them.
 */
function mergeNewestFirst(cand: number[], extra: RunRecord[], base: IndexFile | null, limit: number | undefined): number[] {
  const fromBase = cand.filter((x) => x >= 0);
  const fromExtra = cand.filter((x) => x < 0).sort((a, b) => compareIds(extra[-1 - a].id, extra[-1 - b].id));
  const want = limit === undefined ? cand.length : Math.min(limit, cand.length);
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (out.length < want) {
    if (j >= fromExtra.length || (i < fromBase.length && compareIds(base!.idAt(fromBase[i]), extra[-1 - fromExtra[j]].id) <= 0)) out.push(fromBase[i++]);
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
