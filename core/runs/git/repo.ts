/**
 * Where a repository's git data lives, found without spawning git: `dir/.git` (a folder, or a
 * `gitdir:` file for worktrees and submodules), or `dir` itself for a bare repository. Refs and
 * objects live in the common dir (shared by all worktrees).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { GitmlError } from '../../errors.js';

export interface RepoPaths {
  /** The folder git commands run in (working tree root or bare repository). */
  dir: string;
  /** This worktree's git dir. */
  gitdir: string;
  /** Where refs/, objects/, packed-refs and logs/ live. */
  commondir: string;
}

const cache = new Map<string, RepoPaths>();

function isGitDir(p: string): boolean {
  return existsSync(path.join(p, 'HEAD')) && existsSync(path.join(p, 'objects')) && existsSync(path.join(p, 'refs'));
}

export function repoPaths(dir: string): RepoPaths {
  const abs = path.resolve(dir);
  const hit = cache.get(abs);
  if (hit && existsSync(hit.commondir)) return hit;
  let cur = abs;
  for (;;) {
    const dotgit = path.join(cur, '.git');
    let gitdir: string | undefined;
    if (existsSync(dotgit)) {
      if (statSync(dotgit).isDirectory()) gitdir = dotgit;
      else {
        const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotgit, 'utf8'));
        if (m) gitdir = path.resolve(cur, m[1].trim());
      }
    } else if (isGitDir(cur)) gitdir = cur;
    if (gitdir) {
      let commondir = gitdir;
      const cf = path.join(gitdir, 'commondir');
      if (existsSync(cf)) commondir = path.resolve(gitdir, readFileSync(cf, 'utf8').trim());
      const out = { dir: cur, gitdir, commondir };
      cache.set(abs, out);
      return out;
    }
    const up = path.dirname(cur);
    if (up === cur) throw new GitmlError('NOT_A_REPO', `${abs} is not inside a git repository`, { dir: abs });
    cur = up;
  }
}
