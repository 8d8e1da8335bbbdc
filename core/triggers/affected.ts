/**
 * Which experiments a new commit on a branch affects: an experiment is affected when its
 * `triggers.branches` globs match the branch and a file changed since the last commit the
 * daemon processed on that branch matches its `triggers.paths` globs, its own YAML, or its
 * code folder. A new branch, or a branch whose last processed commit is no longer an
 * ancestor (a force-push), is compared with its merge-base with the default branch.
 *
 * Planning is split from reading: `matchExperiments` is pure (entities, branch and changed
 * files in, names out, table-tested); `affectedExperiments` reads git. Invalid gitml YAML at
 * the commit is a result `{ ok: false, problems }`, never a throw, so a daemon keeps going.
 *
 * @example
 *   const r = await affectedExperiments({ dir, branch: 'main', commit, previous });
 *   if (r.ok) for (const e of r.experiments) enqueue(e.name);
 *   else log('invalid gitml YAML', r.problems);
 */
import path from 'node:path';
import picomatch from 'picomatch';
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { loadFromFiles } from '../entities/load.js';
import { commitFiles } from '../entities/sources.js';
import type { Entities, Experiment, Loaded, Problem } from '../entities/types.js';

/** How the commit's changes were computed. */
export type BaseKind =
  /** the last processed commit on the branch, an ancestor of the new one */
  | 'previous'
  /** a new branch or a force-push: the merge-base with the default branch */
  | 'merge-base'
  /** no common history: every file of the commit counts as changed */
  | 'none';

export interface AffectedExperiment {
  name: string;
  /** Changed files that made it affected (at most 20, for logs). */
  matched: string[];
}

export type AffectedResult =
  | { ok: true; branch: string; commit: string; base?: string; baseKind: BaseKind; changed: string[]; experiments: AffectedExperiment[]; entities: Entities }
  | { ok: false; branch: string; commit: string; problems: Problem[] };

export interface AffectedOptions {
  /** Repository root. */
  dir: string;
  /** Branch name without refs/heads/. */
  branch: string;
  /** The new commit (full id). */
  commit: string;
  /** The last commit processed on this branch; undefined for a branch seen for the first time. */
  previous?: string;
  /** The default branch (merge-base of new and force-pushed branches). Default: `defaultBranch(dir)`. */
  defaultBranch?: string;
  /** The ref of the default branch for the merge-base (default `refs/heads/<defaultBranch>`; a daemon following a remote gives its remote-tracking ref). */
  defaultRef?: string;
}

/** The experiment's own file and its code folder: these always count as its paths. */
function ownGlobs(e: Loaded<Experiment>): string[] {
  const code = path.posix.normalize((e.spec.code ?? '.').replace(/\\/g, '/')).replace(/\/+$/, '');
  return [e.file, code === '.' || code === '' ? '**' : `${code}/**`];
}

/**
 * Pure: the experiments whose triggers match `branch` and `changed` (repository-relative,
 * '/'-separated). Experiments without `triggers` are never started by a commit. Without
 * `branches`, only the default branch triggers; without `paths`, only the experiment's own
 * YAML and code folder do.
 */
export function matchExperiments(experiments: Iterable<Loaded<Experiment>>, branch: string, changed: string[], defaultBranchName: string): AffectedExperiment[] {
  const out: AffectedExperiment[] = [];
  for (const e of experiments) {
    const t = e.spec.triggers;
    if (!t) continue;
    const branches = t.branches?.length ? t.branches : [defaultBranchName];
    if (!picomatch(branches)(branch)) continue;
    const isMatch = picomatch([...(t.paths ?? []), ...ownGlobs(e)], { dot: true });
    const matched = changed.filter((f) => isMatch(f));
    if (matched.length) out.push({ name: e.name, matched: matched.slice(0, 20) });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The repository's default branch: origin/HEAD when set, else `main` or `master` when present, else the current branch. */
export async function defaultBranch(dir: string): Promise<string> {
  const o = await runGit(dir, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']);
  if (o.code === 0 && o.stdout.trim()) return o.stdout.trim().replace(/^origin\//, '');
  for (const b of ['main', 'master']) {
    if ((await runGit(dir, ['rev-parse', '--verify', '--quiet', `refs/heads/${b}^{commit}`])).code === 0) return b;
  }
  const h = await runGit(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  return h.code === 0 && h.stdout.trim() ? h.stdout.trim() : 'main';
}

async function isAncestor(dir: string, a: string, b: string): Promise<boolean> {
  return (await runGit(dir, ['merge-base', '--is-ancestor', a, b])).code === 0;
}

/** Where to compare `commit` from, per the rules in the file comment. */
async function chooseBase(dir: string, o: AffectedOptions, def: string): Promise<{ base?: string; baseKind: BaseKind }> {
  if (o.previous && o.previous !== o.commit && (await isAncestor(dir, o.previous, o.commit))) return { base: o.previous, baseKind: 'previous' };
  if (o.previous === o.commit) return { base: o.commit, baseKind: 'previous' };
  const mb = await runGit(dir, ['merge-base', o.commit, o.defaultRef ?? `refs/heads/${def}`]);
  const base = mb.stdout.trim();
  if (mb.code === 0 && /^[0-9a-f]{40,64}$/.test(base)) return { base, baseKind: 'merge-base' };
  return { baseKind: 'none' };
}

function zlist(s: string): string[] {
  return s.split('\0').filter(Boolean);
}

/** Files changed between `base` and `commit` (renames count at both paths), or every file when there is no base. */
export async function changedFiles(dir: string, commit: string, base?: string): Promise<string[]> {
  const args = base
    ? ['diff', '--name-only', '--no-renames', '-z', base, commit, '--']
    : ['ls-tree', '-r', '--name-only', '-z', '--full-tree', commit];
  const r = await runGit(dir, args);
  if (r.code !== 0) throw new GitmlError('IO', `git ${args[0]} failed: ${r.stderr.trim()}`, { args }, { retryable: true });
  return zlist(r.stdout);
}

/**
 * Read the gitml entities at `commit` and decide which experiments it affects. Bad YAML is a
 * `{ ok: false }` result; only git itself failing (the repository gone) throws.
 */
export async function affectedExperiments(o: AffectedOptions): Promise<AffectedResult> {
  const def = o.defaultBranch ?? (await defaultBranch(o.dir));
  const loaded = await loadFromFiles(o.dir, await commitFiles(o.dir, o.commit), o.commit);
  if (!loaded.value) return { ok: false, branch: o.branch, commit: o.commit, problems: loaded.errors };
  const { base, baseKind } = await chooseBase(o.dir, o, def);
  const changed = base === o.commit ? [] : await changedFiles(o.dir, o.commit, base);
  const experiments = matchExperiments(loaded.value.experiments.values(), o.branch, changed, def);
  return { ok: true, branch: o.branch, commit: o.commit, base, baseKind, changed, experiments, entities: loaded.value };
}
