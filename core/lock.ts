/**
 * A lock file with git's lock-file protocol: created with O_EXCL, holding the owner's pid and
 * host, removed when done. A lock left by a dead process on this host is cleared; a live one
 * is waited for, then refused with LOCK_HELD (retryable). Used around registry writes and
 * around each service's deploy, so two writers never interleave.
 */
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { GitmlError, fromSystemError, isGitmlError } from './errors.js';
import { createExclusive } from './fs.js';
import { pidAlive } from './pid.js';

export interface FileLockOptions {
  /** How long to wait for a live holder (ms). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** What the lock protects, for the LOCK_HELD message ("writing registry tags"). */
  what?: string;
  /** Called once when the lock is found held by a live process (progress for the waiter). */
  onWait?: (owner: { pid?: number; host?: string; at?: string }) => void;
}

/** How old a lock file that cannot be read must be to be taken for one a dead writer left. */
const UNREADABLE_LOCK_MS = 10_000;

/** Run `fn` holding the lock file `file` (its folder is created). */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const timeout = opts.timeoutMs ?? 15_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = Date.now();
  let wait = 5;
  let told = false;
  mkdirSync(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      if (createExclusive(file, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }))) break;
    } catch (e) {
      const sys = fromSystemError(e);
      if (isGitmlError(sys, 'DISK_FULL')) throw sys;
      throw new GitmlError('IO', `cannot create ${file}: ${(e as Error).message}`, { file });
    }
    let owner: { pid?: number; host?: string; at?: string } = {};
    try {
      owner = JSON.parse(readFileSync(file, 'utf8')) as typeof owner;
      if (owner.host === hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid)) {
        rmSync(file, { force: true });
        continue;
      }
    } catch {
      // Being written right now: wait. Still unreadable after a while, it was left by a
      // process that died between creating and writing it: cleared.
      try {
        if (Date.now() - statSync(file).mtimeMs > UNREADABLE_LOCK_MS) {
          rmSync(file, { force: true });
          continue;
        }
      } catch {
        continue; // gone meanwhile
      }
    }
    if (!told) {
      told = true;
      opts.onWait?.(owner);
    }
    if (Date.now() - start > timeout) {
      const who = owner.pid ? ` (pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ''})` : '';
      throw new GitmlError('LOCK_HELD', `another gitml process${who} is ${opts.what ?? 'holding this lock'} (lock ${file}); retry, or remove the file if no gitml process is running`, { file, owner }, { retryable: true });
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
