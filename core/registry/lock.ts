/**
 * One lock per repository around every registry write, with git's lock-file protocol (a file
 * created with O_EXCL, removed when done). Reading the tags, choosing the next `#N` and
 * creating the tag happen under it, so two concurrent promotions never write the same `#N`
 * (GTO counts N over all tags of a model, so two different stages could otherwise collide).
 * A lock left by a dead process on this host is cleared; a live one is waited for.
 */
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { pidAlive } from '../pid.js';
import { writeAllSync } from '../fs.js';

export interface LockOptions {
  /** How long to wait for a live holder (ms). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

async function commonDir(dir: string): Promise<string> {
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
  const file = path.join(await commonDir(dir), 'gitml-registry.lock');
  const timeout = opts.timeoutMs ?? 15_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = Date.now();
  let wait = 5;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeAllSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new GitmlError('IO', `cannot create ${file}: ${(e as Error).message}`, { file });
    }
    try {
      const owner = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number; host?: string };
      if (owner.host === hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid)) {
        rmSync(file, { force: true });
        continue;
      }
    } catch {
      /* being written right now, or not ours: wait */
    }
    if (Date.now() - start > timeout) {
      throw new GitmlError('LOCK_HELD', `another gitml process is writing registry tags (lock ${file}); retry, or remove the file if no gitml process is running`, { file }, { retryable: true });
    }
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 200);
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
