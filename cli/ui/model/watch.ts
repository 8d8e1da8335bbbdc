/**
 * What the live view watches: the tips of the runs and status branches and every tag, as one
 * string from one `git for-each-ref`. A change of the string means reload; the daemon's advice
 * holds (file watchers miss ref updates), so the app polls this on a timer.
 */
import { runGit } from '../../../core/git.js';

export async function refsSignature(dir: string, branches: string[]): Promise<string> {
  const r = await runGit(dir, ['for-each-ref', '--format=%(refname) %(objectname)', ...branches.map((b) => `refs/heads/${b}`), 'refs/tags']);
  return r.code === 0 ? r.stdout : `error ${r.stderr}`;
}
