/**
 * Finding one run: by full id straight from the layout (the month and bucket come from the id,
 * so only the experiment folders are tried), by a unique id prefix through the catalog.
 */
import { execFile } from 'node:child_process';
import { GitmlError } from '../errors.js';
import type { RunRecord } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { catalogProblems, discardIndex, loadCatalog, recordProblem, runsWithIdPrefix } from './catalog.js';
import { IndexFileError } from './runs-index.js';
import { isRunId } from './id.js';
import { isTreeMode, type TreeEntry } from './git/objects.js';
import { RUN_FILE, runFolderSegments } from './layout.js';

export interface LocatedRun {
  /** Runs-branch tip the run was read from. */
  tip: string;
  /** Folder on the branch. */
  path: string;
  /** Entries of the run folder. */
  entries: TreeEntry[];
  record: RunRecord;
}

function notFound(id: string): GitmlError {
  return new GitmlError('RUN_NOT_FOUND', `no run ${JSON.stringify(id)} on the runs branch (list runs with \`gitml runs\`)`, { id });
}

async function folderEntries(repo: RunsRepo, root: string, segs: string[]): Promise<TreeEntry[] | null> {
  const e = await repo.lookup(root, segs);
  return e && isTreeMode(e.mode) ? repo.readTree(e.oid) : null;
}

/** Find a run by id or unique id prefix. */
export async function locateRun(repo: RunsRepo, idOrPrefix: string): Promise<LocatedRun> {
  const id = String(idOrPrefix ?? '').trim().toLowerCase();
  if (!/^[0-9a-hjkmnp-tv-z]{1,26}$/.test(id)) {
    throw new GitmlError('USAGE', `${JSON.stringify(idOrPrefix)} is not a run id or a prefix of one (run ids are 26 characters: digits and lowercase letters except i, l, o, u)`, { id: idOrPrefix });
  }
  const tip = repo.tip();
  if (!tip) throw notFound(idOrPrefix);
  const root = (await repo.readCommit(tip)).tree;
  let path: string | undefined;
  let entries: TreeEntry[] | null = null;
  if (isRunId(id)) {
    for (const exp of await repo.readTree(root)) {
      if (!isTreeMode(exp.mode)) continue;
      let segs: string[];
      try {
        segs = runFolderSegments(exp.name, id);
      } catch {
        continue;
      }
      entries = await folderEntries(repo, root, segs);
      if (entries) {
        path = segs.join('/');
        break;
      }
    }
  }
  if (!entries) {
    // A prefix, or a run stored outside the standard layout: ask the catalog.
    let cat = await loadCatalog(repo);
    let hits: Array<{ path: string; id: string }>;
    try {
      hits = runsWithIdPrefix(cat, id);
    } catch (e) {
      if (!(e instanceof IndexFileError)) throw e;
      discardIndex(repo); // damaged on disk: the branch is the truth, rebuild
      cat = await loadCatalog(repo);
      hits = runsWithIdPrefix(cat, id);
    }
    const bad = catalogProblems(cat).filter((p) => p.path.slice(p.path.lastIndexOf('/') + 1).startsWith(id));
    if (hits.length > 1) {
      throw new GitmlError('USAGE', `run id prefix ${JSON.stringify(id)} is ambiguous: ${hits.slice(0, 5).map((h) => h.id).join(', ')}${hits.length > 5 ? ', ...' : ''}`, { id, matches: hits.map((h) => h.id) });
    }
    if (hits.length === 0) {
      if (bad.length) throw new GitmlError('RUNS_BRANCH_CORRUPT', `run ${bad[0].path}: ${bad[0].message}`, { path: bad[0].path });
      throw notFound(idOrPrefix);
    }
    const found = hits[0].path;
    path = found;
    entries = await folderEntries(repo, root, found.split('/'));
    if (!entries) throw notFound(idOrPrefix);
  }
  const rj = entries.find((e) => e.name === RUN_FILE);
  if (!rj) throw notFound(idOrPrefix);
  let record: unknown;
  try {
    record = JSON.parse((await repo.readObject(rj.oid, 'blob')).toString('utf8'));
  } catch (e) {
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `${path}/run.json is not valid JSON: ${(e as Error).message}`, { path });
  }
  const problem = recordProblem(record, path!.slice(path!.lastIndexOf('/') + 1));
  if (problem) throw new GitmlError('RUNS_BRANCH_CORRUPT', `${path}/run.json: ${problem}`, { path });
  return { tip, path: path!, entries, record: record as RunRecord };
}

function gitOut(dir: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout) => resolve(err ? '' : stdout.trim()));
  });
}

/**
 * The commit on the runs branch that last recorded run `id` (at `path`). gitml commits carry a
 * `Gitml-Run:` trailer, found by a message search; commits made by other tools fall back to
 * path history.
 */
export async function recordingCommit(repo: RunsRepo, tip: string, id: string, path: string): Promise<string> {
  const byTrailer = await gitOut(repo.dir, ['log', '-1', '--format=%H', '--fixed-strings', `--grep=Gitml-Run: ${id}`, tip, '--']);
  if (/^[0-9a-f]{40}$/.test(byTrailer)) {
    // Someone may have edited the run after gitml recorded it; the newest change wins.
    const byPath = await gitOut(repo.dir, ['log', '-1', '--format=%H', `${byTrailer}..${tip}`, '--', path]);
    return /^[0-9a-f]{40}$/.test(byPath) ? byPath : byTrailer;
  }
  const byPath = await gitOut(repo.dir, ['log', '-1', '--format=%H', tip, '--', path]);
  return /^[0-9a-f]{40}$/.test(byPath) ? byPath : tip;
}

export interface GetRunOptions {
  dir: string;
  /** Full run id or a unique prefix. */
  id: string;
  config?: RunStoreConfig;
}

/**
 * One run and the runs-branch commit that last recorded it (the model registry tags it).
 *
 * Example: `const { record, commit } = await getRun({ dir, id: '01jd3q6k' })`.
 */
export async function getRun(opts: GetRunOptions): Promise<{ record: RunRecord; commit: string }> {
  const repo = openRuns(opts.dir, opts.config ?? (await loadRunStoreConfig(opts.dir)));
  const run = await locateRun(repo, opts.id);
  const commit = await recordingCommit(repo, run.tip, run.record.id, run.path);
  return { record: run.record, commit };
}
