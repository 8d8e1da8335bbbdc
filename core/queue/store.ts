/**
 * Files of the queue. Every entry write is a temp file + rename in the same folder, so a
 * reader sees the old or the new entry, never half of one, and a SIGKILL leaves at worst a
 * stray temp file (ignored, swept later). Every read-modify-write happens under one short
 * queue lock (`core/lock.ts`); long ownership of a running entry is its claim file.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { GitmlError, fromSystemError } from '../errors.js';
import { writeAllSync } from '../fs.js';
import { git } from '../git.js';
import { withFileLock } from '../lock.js';
import type { QueueEntry } from './types.js';

export interface QueuePaths {
  root: string;
  entries: string;
  claims: string;
  lock: string;
  seq: string;
}

const ID_RE = /^[0-9a-f]{16}$/;

export function isQueueId(id: string): boolean {
  return ID_RE.test(id);
}

/** The queue folder of the repository containing `dir`: `<git common dir>/gitml/queue`. */
export async function queuePaths(dir: string): Promise<QueuePaths> {
  const common = (await git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).trim();
  return queuePathsAt(path.join(common, 'gitml', 'queue'));
}

export function queuePathsAt(root: string): QueuePaths {
  return { root, entries: path.join(root, 'entries'), claims: path.join(root, 'claims'), lock: path.join(root, 'queue.lock'), seq: path.join(root, 'seq') };
}

/** Write `data` to `file` atomically: a temp file beside it, fsynced, renamed over it. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = path.join(path.dirname(file), `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const fd = openSync(tmp, 'w');
    try {
      writeAllSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fromSystemError(e);
  }
}

export function entryFile(p: QueuePaths, id: string): string {
  if (!isQueueId(id)) throw new GitmlError('UNKNOWN_QUEUE_ENTRY', `${JSON.stringify(id)} is not a queue entry id (16 hex characters; see \`gitml queue list\`)`, { id });
  return path.join(p.entries, `${id}.json`);
}

export function claimFile(p: QueuePaths, id: string): string {
  return path.join(p.claims, `${id}.claim`);
}

export function readEntry(p: QueuePaths, id: string): QueueEntry | undefined {
  try {
    return JSON.parse(readFileSync(entryFile(p, id), 'utf8')) as QueueEntry;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (e instanceof SyntaxError) return undefined; // only by hand: writes are atomic
    throw fromSystemError(e);
  }
}

export function writeEntry(p: QueuePaths, e: QueueEntry): void {
  writeFileAtomic(entryFile(p, e.id), JSON.stringify(e, null, 2) + '\n');
}

/** Every entry, in order of arrival. Temp files and unreadable files are skipped. */
export function listEntries(p: QueuePaths): QueueEntry[] {
  let names: string[];
  try {
    names = readdirSync(p.entries);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError(e);
  }
  const out: QueueEntry[] = [];
  for (const n of names) {
    const m = /^([0-9a-f]{16})\.json$/.exec(n);
    if (!m) continue;
    const e = readEntry(p, m[1]);
    if (e) out.push(e);
  }
  return out.sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : 1));
}

/** The next arrival number (call under the queue lock). */
export function nextSeq(p: QueuePaths): number {
  let n = 0;
  try {
    n = Number(readFileSync(p.seq, 'utf8').trim()) || 0;
  } catch {
    /* first entry */
  }
  writeFileAtomic(p.seq, String(n + 1));
  return n + 1;
}

/** Remove temp files a killed writer left (older than a minute, so a live writer's is kept). */
export function sweepTemps(p: QueuePaths, now = Date.now()): void {
  for (const d of [p.entries, p.root]) {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.startsWith('.tmp-')) continue;
      try {
        if (now - statSync(path.join(d, n)).mtimeMs > 60_000) rmSync(path.join(d, n), { force: true });
      } catch {
        /* gone already */
      }
    }
  }
}

/** Run `fn` holding the queue lock (short: read-modify-write of entries only). */
export function withQueueLock<T>(p: QueuePaths, fn: () => Promise<T> | T): Promise<T> {
  mkdirSync(p.entries, { recursive: true });
  mkdirSync(p.claims, { recursive: true });
  return withFileLock(p.lock, async () => fn(), { what: 'changing the queue', timeoutMs: 30_000 });
}
