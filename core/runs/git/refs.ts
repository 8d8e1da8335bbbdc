/**
 * Reading refs and updating them with git's own lock-file protocol, so gitml processes and git
 * itself exclude each other: create `<ref>.lock` exclusively (a hard link: fails if it exists,
 * as git's O_EXCL does), check the current value
 * (compare-and-swap), write the new value into the lock, rename it over the ref.
 *
 * Stale locks: before the lock appears we write a side file `gitml/locks/<ref>.<inode>.owner` with
 * our pid and host. A lock is cleared only when that side file names this very lock (same
 * inode), the lock is older than `staleMs`, the owner ran on this host, and its pid is dead.
 * A lock without such a file (git's own, or another host's) is never cleared: we wait, then
 * report LOCK_HELD.
 */
import { appendFileSync, closeSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GitmlError } from '../../errors.js';
import { identLine, type Ident } from './objects.js';
import { pidAlive } from '../../pid.js';
import { writeAllSync } from '../../fs.js';
import { nodeOs, randomHex } from './builtins.js';

const ZERO = '0'.repeat(40);

function readPackedRef(commondir: string, ref: string): string | null {
  let text: string;
  try {
    text = readFileSync(path.join(commondir, 'packed-refs'), 'utf8');
  } catch {
    return null;
  }
  const needle = ` ${ref}\n`;
  let i = text.indexOf(needle);
  if (i < 0 && text.endsWith(` ${ref}`)) i = text.length - ref.length - 1;
  if (i < 40) return null;
  const oid = text.slice(i - 40, i);
  return /^[0-9a-f]{40}$/.test(oid) ? oid : null;
}

/** The object id a ref points to, or null when it does not exist. */
export function readRef(commondir: string, ref: string, depth = 0): string | null {
  let raw: string | undefined;
  try {
    raw = readFileSync(path.join(commondir, ref), 'utf8').trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EISDIR') throw e;
  }
  if (raw !== undefined && raw !== '') {
    if (raw.startsWith('ref: ') && depth < 5) return readRef(commondir, raw.slice(5).trim(), depth + 1);
    if (/^[0-9a-f]{40}$/.test(raw)) return raw;
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `ref ${ref} holds ${JSON.stringify(raw.slice(0, 60))}, not an object id`, { ref });
  }
  return readPackedRef(commondir, ref);
}

export interface LockOptions {
  /** A lock older than this whose owner is provably dead is cleared (ms). */
  staleMs?: number;
  /** Give up waiting for a live lock after this long (ms). */
  timeoutMs?: number;
  /** For tests: pretend to be this host. */
  host?: string;
}

export function defaultStaleMs(): number {
  const v = Number(process.env.GITML_STALE_LOCK_MS);
  return Number.isFinite(v) && v >= 0 && process.env.GITML_STALE_LOCK_MS ? v : 5000;
}

export function defaultLockTimeoutMs(): number {
  const v = Number(process.env.GITML_LOCK_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 30_000;
}

const ownerDir = (commondir: string) => path.join(commondir, 'gitml', 'locks');
const ownerFile = (commondir: string, ref: string, ino: number) => path.join(ownerDir(commondir), `${ref.replace(/\//g, '%2F')}.${ino}.owner`);


interface OwnerInfo {
  pid: number;
  host: string;
  ino: number;
  time: number;
}

/** Clear `lockPath` if it is provably stale. Returns true when it was removed. */
export function clearStaleLock(commondir: string, ref: string, opts: LockOptions = {}): boolean {
  const lockPath = path.join(commondir, ref + '.lock');
  const staleMs = opts.staleMs ?? defaultStaleMs();
  let st;
  try {
    st = statSync(lockPath);
  } catch {
    return true; // gone already
  }
  if (Date.now() - st.mtimeMs < staleMs) return false;
  let owner: OwnerInfo;
  try {
    owner = JSON.parse(readFileSync(ownerFile(commondir, ref, st.ino), 'utf8')) as OwnerInfo;
  } catch {
    return false; // unknown owner (git itself, or a crash before the side file): never clear
  }
  if (owner.ino !== st.ino || owner.host !== (opts.host ?? nodeOs().hostname()) || pidAlive(owner.pid)) return false;
  // Move it aside atomically, then make sure what we moved is the lock we judged stale: a
  // fresh lock taken between our stat and the rename must be put back.
  const aside = path.join(ownerDir(commondir), `stale-${process.pid}-${randomHex(4)}`);
  try {
    renameSync(lockPath, aside);
  } catch {
    return true;
  }
  const moved = statSync(aside);
  if (moved.ino !== st.ino) {
    try {
      linkSync(aside, lockPath);
    } catch {
      /* someone took the lock meanwhile; theirs stands */
    }
    unlinkSync(aside);
    return false;
  }
  unlinkSync(aside);
  try {
    unlinkSync(ownerFile(commondir, ref, st.ino));
    // and the dead writer's half-made lock files
    for (const f of readdirSync(ownerDir(commondir))) if (f.startsWith(`tmp-${owner.pid}-`)) unlinkSync(path.join(ownerDir(commondir), f));
  } catch {
    /* ignore */
  }
  return true;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CasOptions extends LockOptions {
  commondir: string;
  ref: string;
  newOid: string;
  /** Expected current value; null means the ref must not exist yet. */
  oldOid: string | null;
  ident: Ident;
  message: string;
  now?: () => number;
}

/**
 * Compare-and-swap `ref` from `oldOid` to `newOid` under `<ref>.lock`. Throws REF_CONFLICT
 * (retryable) when the ref moved, LOCK_HELD when a live lock outlasts `timeoutMs`.
 */
export async function casRef(o: CasOptions): Promise<void> {
  const refPath = path.join(o.commondir, o.ref);
  const lockPath = refPath + '.lock';
  mkdirSync(path.dirname(refPath), { recursive: true });
  const timeoutMs = o.timeoutMs ?? defaultLockTimeoutMs();
  const start = Date.now();
  // The lock is born with its owner file already in place: we make a file, name its inode in
  // the owner file, then hard-link it to <ref>.lock (atomic, fails if the lock exists, as
  // O_EXCL does). A writer killed at any instant thus never leaves a lock nobody can clear.
  const od = ownerDir(o.commondir);
  mkdirSync(od, { recursive: true });
  const tmp = path.join(od, `tmp-${process.pid}-${randomHex(4)}`);
  closeSync(openSync(tmp, 'wx', 0o644));
  const ino = statSync(tmp).ino;
  const owner = ownerFile(o.commondir, o.ref, ino);
  writeFileSync(owner, JSON.stringify({ pid: process.pid, host: o.host ?? nodeOs().hostname(), ino, time: Date.now() } satisfies OwnerInfo));
  let linked = false;
  let wait = 1;
  try {
    for (;;) {
      try {
        linkSync(tmp, lockPath);
        linked = true;
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') throw new GitmlError('IO', `cannot create ${lockPath}: ${(e as Error).message}`, { lockPath });
      }
      if (clearStaleLock(o.commondir, o.ref, o)) continue;
      if (Date.now() - start > timeoutMs) {
        throw new GitmlError(
          'LOCK_HELD',
          `${lockPath} is held by another process; if no git or gitml process is running, delete that file and retry`,
          { lockPath },
          { retryable: true },
        );
      }
      await sleep(wait + Math.random() * wait);
      wait = Math.min(wait * 2, 50);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* ignore */
    }
    if (!linked) {
      try {
        unlinkSync(owner);
      } catch {
        /* ignore */
      }
    }
  }
  let fd = -1;
  let renamed = false;
  try {
    fd = openSync(lockPath, 'r+'); // never create: the lock must be the one we linked
    const current = readRef(o.commondir, o.ref);
    if (current !== o.oldOid) {
      throw new GitmlError('REF_CONFLICT', `${o.ref} moved (expected ${o.oldOid ?? 'none'}, found ${current ?? 'none'})`, { ref: o.ref, expected: o.oldOid, found: current }, { retryable: true });
    }
    writeAllSync(fd, o.newOid + '\n');
    closeSync(fd);
    fd = -1;
    // The reflog is appended under the lock, as git does, so `git reflog runs` shows every record.
    try {
      const logPath = path.join(o.commondir, 'logs', o.ref);
      mkdirSync(path.dirname(logPath), { recursive: true });
      const when = (o.now ?? Date.now)();
      const id = identLine(o.ident, when);
      appendFileSync(logPath, `${o.oldOid ?? ZERO} ${o.newOid} ${id}\t${o.message.split('\n')[0]}\n`);
    } catch {
      /* a reflog is a convenience */
    }
    // Our lock must still be ours (a stale-lock cleaner cannot have mistaken it, but check).
    if (statSync(lockPath).ino !== ino) throw new GitmlError('REF_CONFLICT', `lost ${lockPath}`, { ref: o.ref }, { retryable: true });
    renameSync(lockPath, refPath);
    renamed = true;
  } finally {
    if (fd >= 0) closeSync(fd);
    if (!renamed) {
      try {
        if (statSync(lockPath).ino === ino) unlinkSync(lockPath);
      } catch {
        /* gone */
      }
    }
    try {
      unlinkSync(owner);
    } catch {
      /* gone */
    }
  }
}
