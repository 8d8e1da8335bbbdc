/**
 * listRuns: every run on the branch (through the cached catalog), filtered, sorted and limited.
 */
import { GitmlError, isGitmlError } from '../errors.js';
import { resolveCommit } from '../git.js';
import { RUN_STATUSES, type RunRecord } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { loadCatalog, type Catalog } from './catalog.js';
import { closest, mapRef, matches, parseWhere, sorter } from './query.js';

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

/**
 * Records come without `spec` (the resolved experiment spec; `getRun` has it) and are shared
 * with the in-process cache: treat them as read-only.
 *
 * Example: `listRuns({ dir, experiment: 'train', where: ['metrics.accuracy>0.9'], sort: '-metrics.accuracy', limit: 5 })`.
 */
export async function listRuns(opts: ListRunsOptions): Promise<{ runs: RunRecord[]; problems: RunProblem[]; recorded: number }> {
  const conds = (opts.where ?? []).map(parseWhere);
  const cmp = opts.sort ? sorter(opts.sort) : undefined;
  const statuses = opts.status !== undefined ? parseStatuses(opts.status) : undefined;
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const repo = openRuns(opts.dir, config);
  const commit = opts.commit !== undefined ? await resolveSourceCommit(repo, opts.commit) : undefined;
  const cat = await loadCatalog(repo);
  // Params and metrics named by a condition or the sort key must exist on some run: a typo
  // would otherwise quietly match nothing (or sort nothing).
  const refs = [...conds.map((c) => ({ key: c.key, what: '--where' })), ...(opts.sort ? [{ key: opts.sort.replace(/^[-+]/, ''), what: '--sort' }] : [])]
    .map((r) => ({ ...r, ref: mapRef(r.key) }))
    .filter((r) => r.ref !== undefined);
  let unseen = refs;
  const runs: RunRecord[] = [];
  for (const { record: r } of cat.runs.values()) {
    if (unseen.length) unseen = unseen.filter(({ ref }) => (r[ref!.map] as Record<string, unknown> | undefined)?.[ref!.name] === undefined);
    if (opts.experiment !== undefined && r.experiment !== opts.experiment) continue;
    if (statuses && !statuses.has(r.status)) continue;
    if (opts.branch !== undefined && r.source?.branch !== opts.branch) continue;
    if (commit !== undefined && !(r.source?.commit ?? '').startsWith(commit)) continue;
    if (conds.length && !conds.every((c) => matches(r, c))) continue;
    runs.push(r);
  }
  if (unseen.length && cat.runs.size > 0) throw unknownName(cat, unseen[0].what, unseen[0].key, unseen[0].ref!);
  runs.sort(cmp ?? ((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)));
  if (opts.limit !== undefined && opts.limit >= 0) runs.length = Math.min(runs.length, opts.limit);
  const problems = [...cat.problems.values()].map((p) => ({ path: p.path, message: p.message }));
  return { runs, problems, recorded: cat.runs.size };
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
    if (t) return await resolveCommit(repo.dir, t);
  } catch (e) {
    if (!isGitmlError(e, 'UNKNOWN_REVISION') && !isGitmlError(e, 'USAGE')) throw e;
  }
  throw new GitmlError('USAGE', `--commit: ${JSON.stringify(text)} is neither a commit id (hex digits, a prefix is enough) nor a revision of this repository`, { commit: text });
}

function unknownName(cat: Catalog, what: string, key: string, ref: { map: 'params' | 'metrics' | 'inputs'; name: string }): GitmlError {
  const names = new Set<string>();
  for (const { record } of cat.runs.values()) for (const k of Object.keys((record[ref.map] as object | undefined) ?? {})) names.add(k);
  const hint = closest(ref.name, names);
  const known = [...names].sort();
  const list = known.length ? `; recorded ${ref.map}: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', ...' : ''}` : `; no run records any ${ref.map}`;
  return new GitmlError('USAGE', `${what}: no run has ${key}${hint ? ` (did you mean ${ref.map}.${hint}?)` : ''}${list}`, { key });
}
