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
   * Without `now`: the second (epoch seconds) of the model's last event; the tag is stamped
   * after it. Git keeps whole seconds and GTO orders events by time alone, so a promotion or
   * deprecation stamped in the same second as the event it follows (or before it, behind a
   * clock that is ahead) could be ordered differently by GTO.
   */
  after?: number;
  env?: NodeJS.ProcessEnv;
}

export async function writeTag(o: WriteTagOptions): Promise<{ tag: string; object: string }> {
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env) };
  if (o.now) env.GIT_COMMITTER_DATE = `${Math.floor(o.now.getTime() / 1000)} +0000`;
  else if (o.after !== undefined && Math.floor(Date.now() / 1000) <= o.after) {
    // Stamped one second past the model's last event instead of now: in the same second, or
    // behind a tag stamped ahead of this clock (another machine's), GTO would order the new
    // event before the one it follows. No waiting for the clock to get there.
    env.GIT_COMMITTER_DATE = `${o.after + 1} +0000`;
  }
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
