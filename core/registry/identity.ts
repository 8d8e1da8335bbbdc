/**
 * Who is acting on the registry: exactly the identity git will write as the tagger
 * (`git var GIT_COMMITTER_IDENT`: GIT_COMMITTER_NAME / GIT_COMMITTER_EMAIL, else user.name /
 * user.email from git config), so the access policy checks the same person the tag names.
 */
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';

export interface Identity {
  name: string;
  email: string;
}

export async function taggerIdentity(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<Identity> {
  const r = await runGit(dir, ['var', 'GIT_COMMITTER_IDENT'], { env });
  const m = /^(.*?) <([^>]*)> \d+ [+-]\d{4}$/.exec(r.stdout.trim());
  if (r.code !== 0 || !m) {
    throw new GitmlError(
      'USAGE',
      'git does not know who you are: set `git config user.name "Your Name"` and `git config user.email you@example.com` (or GIT_COMMITTER_NAME / GIT_COMMITTER_EMAIL)',
      { stderr: r.stderr.trim() },
    );
  }
  return { name: m[1], email: m[2] };
}
