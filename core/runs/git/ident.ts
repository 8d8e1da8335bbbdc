/**
 * Who gitml's commits on the runs branch are by: GITML_AUTHOR_NAME / GITML_AUTHOR_EMAIL, else
 * git's own GIT_AUTHOR_* variables, else `user.name` / `user.email` from git config, else
 * "gitml <gitml@localhost>". Resolved once per repository and process.
 */
import { childProcess } from './builtins.js';
import type { Ident } from './objects.js';

const cache = new Map<string, { author: Ident; committer: Ident }>();

function fromConfig(dir: string): Partial<Ident> {
  try {
    const out = childProcess().execFileSync('git', ['config', '--get-regexp', '^user\\.(name|email)$'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const r: Partial<Ident> = {};
    for (const line of out.split('\n')) {
      const m = /^user\.(name|email) (.*)$/.exec(line);
      if (m) r[m[1] as 'name' | 'email'] = m[2];
    }
    return r;
  } catch {
    return {};
  }
}

export function resolveIdent(dir: string, env: NodeJS.ProcessEnv = process.env): { author: Ident; committer: Ident } {
  const hit = cache.get(dir);
  if (hit) return hit;
  let name = env.GITML_AUTHOR_NAME || env.GIT_AUTHOR_NAME;
  let email = env.GITML_AUTHOR_EMAIL || env.GIT_AUTHOR_EMAIL;
  if (!name || !email) {
    const cfg = fromConfig(dir);
    name ||= cfg.name;
    email ||= cfg.email;
  }
  const author = { name: name || 'gitml', email: email || 'gitml@localhost' };
  const committer = {
    name: env.GITML_COMMITTER_NAME || env.GIT_COMMITTER_NAME || author.name,
    email: env.GITML_COMMITTER_EMAIL || env.GIT_COMMITTER_EMAIL || author.email,
  };
  const out = { author, committer };
  cache.set(dir, out);
  return out;
}
