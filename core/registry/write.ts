/**
 * Creates one annotated registry tag with the git CLI (argument arrays, never a shell). The
 * tagger is whoever git says is committing (see identity.ts); `now` fixes the tagger time for
 * exact tests. `git tag` without -f creates the ref only if it does not exist, so a tag that
 * appeared meanwhile (another clone's push, a GTO user) fails instead of being overwritten.
 */
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';

export interface WriteTagOptions {
  dir: string;
  tag: string;
  commit: string;
  message: string;
  /** Tagger time; default: now. */
  now?: Date;
  /**
   * Without `now`: wait until the clock is past this second (epoch seconds). Git keeps whole
   * seconds and GTO orders events by time alone, so a promotion or deprecation stamped in the
   * same second as the event it follows could be ordered differently by GTO.
   */
  after?: number;
  env?: NodeJS.ProcessEnv;
}

export async function writeTag(o: WriteTagOptions): Promise<{ tag: string; object: string }> {
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env) };
  if (!o.now && o.after !== undefined) {
    // Never more than a second in practice; bounded against a tag stamped in the future.
    // Timers run on a monotonic clock and may fire a hair before the wall clock turns the
    // second, so check the wall clock again.
    const target = (o.after + 1) * 1000 + 5;
    const deadline = Date.now() + 2000;
    while (Date.now() < target && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(target, deadline) - Date.now())));
    }
  }
  if (o.now) env.GIT_COMMITTER_DATE = `${Math.floor(o.now.getTime() / 1000)} +0000`;
  // --cleanup=whitespace: the default "strip" would drop message lines starting with '#'.
  const r = await runGit(o.dir, ['tag', '-a', '--cleanup=whitespace', '-m', o.message, o.tag, o.commit], { env });
  if (r.code !== 0) {
    if (/already exists/.test(r.stderr)) {
      throw new GitmlError('REF_CONFLICT', `tag ${o.tag} already exists (written by someone else meanwhile); retry`, { tag: o.tag }, { retryable: true });
    }
    throw new GitmlError('IO', `cannot create tag ${o.tag}: ${r.stderr.trim()}`, { tag: o.tag });
  }
  const obj = await runGit(o.dir, ['rev-parse', '--verify', `refs/tags/${o.tag}`]);
  return { tag: o.tag, object: obj.stdout.trim() };
}
