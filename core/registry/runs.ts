/**
 * How the registry reaches run records: a `getRun` function with the runs store's signature,
 * injectable for tests. `findRunAt` recovers the run id of a version registered by GTO (no
 * gitml metadata in its tag) from the runs commit it points at.
 */
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';
import type { RunRecord } from '../runs/types.js';

export type GetRun = (o: { dir: string; id: string }) => Promise<{ record: RunRecord; commit: string }>;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Reads a run straight from the runs branch: the last commit that changed `<…>/<id>/run.json`
 * is the commit that recorded it. Used until/unless the runs store's own `getRun` is given.
 */
export function branchGetRun(branch = 'runs'): GetRun {
  return async ({ dir, id }) => {
    if (!ID_RE.test(id)) throw new GitmlError('RUN_NOT_FOUND', `${JSON.stringify(id)} is not a run id`, { id });
    const log = await runGit(dir, ['log', '-1', '--format=%H', '--name-only', `refs/heads/${branch}`, '--', `:(glob)**/${id}/run.json`]);
    const lines = log.stdout.split('\n').filter(Boolean);
    if (log.code !== 0 || lines.length < 2) throw new GitmlError('RUN_NOT_FOUND', `there is no run ${id} on the ${branch} branch`, { id, branch });
    const [commit, file] = lines;
    const blob = await runGit(dir, ['cat-file', 'blob', `${commit}:${file}`]);
    if (blob.code !== 0) throw new GitmlError('RUNS_BRANCH_CORRUPT', `cannot read ${file} at ${commit}`, { id, commit });
    try {
      return { record: JSON.parse(blob.stdout) as RunRecord, commit };
    } catch {
      throw new GitmlError('RUNS_BRANCH_CORRUPT', `${file} at ${commit.slice(0, 12)} is not valid JSON`, { id, commit });
    }
  };
}

/** The run ids whose run.json the commit added or changed (for tags written by GTO or by hand). */
export async function runIdsAt(dir: string, commit: string): Promise<string[]> {
  const r = await runGit(dir, ['diff-tree', '--root', '--no-commit-id', '--name-only', '-r', commit]);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .filter((p) => p.endsWith('/run.json'))
    .map((p) => p.split('/').at(-2)!)
    .filter(Boolean);
}
