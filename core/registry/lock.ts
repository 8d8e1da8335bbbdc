/**
 * One lock per repository around every registry write, with git's lock-file protocol (a file
 * created with O_EXCL, removed when done). Reading the tags, choosing the next `#N` and
 * creating the tag happen under it, so two concurrent promotions never write the same `#N`
 * (GTO counts N over all tags of a model, so two different stages could otherwise collide).
 * A lock left by a dead process on this host is cleared; a live one is waited for.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import { gitDir, runGit } from '../git.js';
import { withFileLock } from '../lock.js';

export interface LockOptions {
  /** How long to wait for a live holder (ms). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function commonDir(dir: string): Promise<string> {
  // At a working tree's root the answer is on disk: its .git folder, or for a linked worktree
  // the folder its `commondir` file names (git's own layout). Elsewhere, ask git.
  if (existsSync(path.join(dir, '.git'))) {
    const gd = gitDir(dir);
    const link = path.join(gd, 'commondir');
    return existsSync(link) ? path.resolve(gd, readFileSync(link, 'utf8').trim()) : path.resolve(gd);
  }
  const r = await runGit(dir, ['rev-parse', '--git-common-dir']);
  if (r.code !== 0) throw new GitmlError('NOT_A_REPO', `${dir} is not inside a git repository`, { dir });
  return path.resolve(dir, r.stdout.trim());
}


/**
 * Run `fn` holding the registry lock of the repository at `dir`. `fn` reads the tags itself;
 * when its tag appeared meanwhile anyway (written by GTO or by hand, which take no lock), it
 * is run again on fresh tags, a few times.
 */
export async function withRegistryLock<T>(dir: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  return lockOnly(dir, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isGitmlError(e, 'REF_CONFLICT') || attempt >= 3) throw e;
      }
    }
  }, opts);
}

async function lockOnly<T>(dir: string, fn: () => Promise<T>, opts: LockOptions): Promise<T> {
  return withFileLock(path.join(await commonDir(dir), 'gitml-registry.lock'), fn, { ...opts, what: 'writing registry tags' });
}
