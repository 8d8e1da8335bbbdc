/**
 * The daemon's own state in the git common dir (`.git/gitml/daemon/`): the last commit it
 * processed on each branch (`state.json`, written atomically), and the lock that keeps a
 * second daemon off the same repository (`daemon.lock`, O_EXCL, pid and host).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { GitmlError, fromSystemError } from '../errors.js';
import { createExclusive } from '../fs.js';
import { git } from '../git.js';
import { pidAlive } from '../pid.js';
import { writeFileAtomic } from '../queue/store.js';

export interface BranchState {
  /** The last commit processed on this branch. */
  commit: string;
  at: string;
  /** Problems of that commit's gitml YAML (a failed trigger), if any. */
  problems?: Array<{ file: string; line: number; code: string; message: string }>;
}

export interface DaemonState {
  branches: Record<string, BranchState>;
}

export async function daemonDir(dir: string): Promise<string> {
  const common = (await git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).trim();
  return path.join(common, 'gitml', 'daemon');
}

export function readState(ddir: string): DaemonState {
  try {
    const s = JSON.parse(readFileSync(path.join(ddir, 'state.json'), 'utf8')) as DaemonState;
    return s && typeof s.branches === 'object' && s.branches ? s : { branches: {} };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return { branches: {} };
    throw fromSystemError(e);
  }
}

export function writeState(ddir: string, s: DaemonState): void {
  writeFileAtomic(path.join(ddir, 'state.json'), JSON.stringify(s, null, 2) + '\n');
}

/**
 * Take the daemon lock or refuse with LOCK_HELD (exit 3) when a live daemon holds it. A lock
 * of a dead process of this host is taken over. Returns the release function.
 */
export function acquireDaemonLock(ddir: string): () => void {
  const file = path.join(ddir, 'daemon.lock');
  mkdirSync(ddir, { recursive: true });
  for (let i = 0; i < 3; i++) {
    try {
      if (createExclusive(file, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }))) return () => rmSync(file, { force: true });
    } catch (e) {
      throw fromSystemError(e);
    }
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(readFileSync(file, 'utf8')) as typeof owner;
    } catch {
      /* being written: retry */
    }
    if (owner.host === hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid)) {
      rmSync(file, { force: true });
      continue;
    }
    if (owner.pid !== undefined) {
      throw new GitmlError('LOCK_HELD', `another gitml daemon (pid ${owner.pid} on ${owner.host}) serves this repository (lock ${file}); stop it first`, { file, owner }, { retryable: true });
    }
  }
  throw new GitmlError('LOCK_HELD', `cannot take the daemon lock ${file}`, { file }, { retryable: true });
}

/** What `gitml daemon status` shows: written by the running daemon after each pass and run. */
export interface DaemonStatus {
  pid: number;
  host: string;
  dir: string;
  startedAt: string;
  updatedAt: string;
  stoppedAt?: string;
  sources: {
    refs: 'watch' | 'timer';
    intervalMs: number;
    remote: { name: string; lastFetchAt: string | null; failures: number; nextFetchAt: string } | null;
    webhook: string | null;
  };
  branches: Record<string, { commit: string; at: string; invalid?: boolean }>;
  inflight: Array<{ id: string; experiment: string; commit: string; startedAt: string }>;
  lastError: { at: string; event: string; message: string } | null;
}

export function writeStatusFile(ddir: string, s: DaemonStatus): void {
  writeFileAtomic(path.join(ddir, 'status.json'), JSON.stringify(s, null, 2) + '\n');
}

export function readStatusFile(ddir: string): DaemonStatus | undefined {
  try {
    return JSON.parse(readFileSync(path.join(ddir, 'status.json'), 'utf8')) as DaemonStatus;
  } catch {
    return undefined;
  }
}

/** The live daemon holding the lock, if any (a lock of a dead process of this host is none). */
export function lockOwner(ddir: string): { pid: number; host: string; at?: string } | undefined {
  try {
    const o = JSON.parse(readFileSync(path.join(ddir, 'daemon.lock'), 'utf8')) as { pid: number; host: string; at?: string };
    if (o.host === hostname() && !pidAlive(o.pid)) return undefined;
    return o;
  } catch {
    return undefined;
  }
}
