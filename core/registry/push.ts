/**
 * Pushes registry tags to a remote (`git push REMOTE refs/tags/TAG`), so that the Action and
 * the daemon watching that remote see the new version or stage. Tags are never force-pushed:
 * a tag of the same name with other content on the remote is a conflict to resolve by hand.
 */
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { redactUrls } from '../redact.js';

export interface PushTagsOptions {
  dir: string;
  tags: string[];
  remote?: string;
  env?: NodeJS.ProcessEnv;
}

export async function pushTags(o: PushTagsOptions): Promise<{ remote: string; tags: string[] }> {
  const remote = o.remote ?? 'origin';
  if (remote.startsWith('-')) throw new GitmlError('USAGE', `invalid remote ${JSON.stringify(remote)}`, { remote });
  const r = await runGit(o.dir, ['push', '--quiet', remote, ...o.tags.map((t) => `refs/tags/${t}:refs/tags/${t}`)], { env: o.env });
  // A remote URL may carry a token (https://user:TOKEN@host/...): never repeat it.
  const shown = redactUrls(remote);
  if (r.code !== 0) {
    const rejected = /\[rejected\]|already exists/.test(r.stderr);
    throw new GitmlError(rejected ? 'REF_CONFLICT' : 'REMOTE', `cannot push ${o.tags.join(', ')} to ${shown}: ${redactUrls(r.stderr.trim().split('\n').slice(-2).join(' '))}; the tag is created locally`, {
      remote: shown,
      tags: o.tags,
    }, { retryable: !rejected });
  }
  return { remote: shown, tags: o.tags };
}
