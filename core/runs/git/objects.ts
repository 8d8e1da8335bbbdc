/**
 * Writing git objects in-process (loose objects: zlib-deflated, written to a temporary file and
 * renamed into place, as git does, so a crash never leaves a partial object), and encoding and
 * decoding trees and commits. Spawning `git mktree` per tree would cost milliseconds each;
 * recording a run writes about ten objects.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, constants as zc } from 'node:zlib';
import { GitmlError, fromSystemError } from '../../errors.js';
import { writeAllSync } from '../../fs.js';
import { crypto, randomHex } from './builtins.js';

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag';

export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export interface TreeEntry {
  mode: string;
  name: string;
  oid: string;
}

export const MODE_TREE = '40000';
export const MODE_FILE = '100644';
export const MODE_EXEC = '100755';

export const isTreeMode = (mode: string): boolean => mode === MODE_TREE || mode === '040000';

export function hashObject(type: ObjectType, content: Buffer): { oid: string; header: Buffer } {
  const header = Buffer.from(`${type} ${content.length}\0`);
  const h = crypto().createHash('sha1');
  h.update(header);
  h.update(content);
  return { oid: h.digest('hex'), header };
}

/** Write one loose object into `objectsDir` (the repository's objects/ folder); returns its id. */
export function writeObject(objectsDir: string, type: ObjectType, content: Buffer, opts: { fsync?: boolean } = {}): string {
  const { oid, header } = hashObject(type, content);
  const dir = path.join(objectsDir, oid.slice(0, 2));
  const file = path.join(dir, oid.slice(2));
  if (existsSync(file)) {
    // Freshen it, as git does: an old unreachable copy must not be pruned by a concurrent
    // `git gc` just as our new commit starts to reference it.
    try {
      const now = new Date();
      utimesSync(file, now, now);
      return oid;
    } catch {
      /* gone meanwhile, or not ours to touch: write it again below */
    }
  }
  // Big blobs (metric series, logs) compress fast enough at level 1; small ones at git's default.
  const level = content.length > 1 << 20 ? 1 : zc.Z_DEFAULT_COMPRESSION;
  const data = deflateSync(Buffer.concat([header, content]), { level });
  // git's own temporary-object naming, so `git gc` cleans up after a crash.
  const tmp = path.join(dir, `tmp_obj_gitml_${process.pid}_${randomHex(4)}`);
  try {
    let fd = -1;
    for (let attempt = 0; fd < 0; attempt++) {
      try {
        mkdirSync(dir, { recursive: true });
        fd = openSync(tmp, 'wx', 0o444);
      } catch (e) {
        // `git gc` (prune-packed) removes empty fan-out folders: make it again and retry.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw e;
      }
    }
    try {
      writeAllSync(fd, data);
      if (opts.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    const sys = fromSystemError(e);
    if (sys instanceof GitmlError) throw sys; // a full disk says so plainly
    throw new GitmlError('IO', `cannot write git object ${oid}: ${(e as Error).message}`, { oid }, { cause: e });
  }
  return oid;
}

/** git's tree order: byte order of names, with a tree's name compared as if it ended in '/'. */
function treeSortKey(e: TreeEntry): string {
  return isTreeMode(e.mode) ? e.name + '/' : e.name;
}

export function encodeTree(entries: TreeEntry[]): Buffer {
  const keyed = entries.map((e) => ({ e, k: treeSortKey(e) }));
  // UTF-16 order equals UTF-8 byte order for ASCII names (nearly always): compare strings then,
  // bytes otherwise.
  const ascii = keyed.every(({ k }) => /^[\x00-\x7f]*$/.test(k));
  if (ascii) keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  else keyed.sort((a, b) => Buffer.compare(Buffer.from(a.k), Buffer.from(b.k)));
  const size = keyed.reduce((n, { e }) => n + Buffer.byteLength(e.name) + 28, 0);
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const { e } of keyed) {
    if (!e.name || e.name.includes('/') || e.name.includes('\0')) throw new GitmlError('INTERNAL', `invalid tree entry name ${JSON.stringify(e.name)}`);
    off += out.write(`${isTreeMode(e.mode) ? MODE_TREE : e.mode} ${e.name}\0`, off, 'utf8');
    off += out.write(e.oid, off, 'hex');
  }
  return out.subarray(0, off);
}

export function decodeTree(buf: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  let i = 0;
  while (i < buf.length) {
    const sp = buf.indexOf(0x20, i);
    const nul = buf.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 21 > buf.length) throw new GitmlError('RUNS_BRANCH_CORRUPT', 'malformed tree object');
    out.push({ mode: buf.toString('latin1', i, sp), name: buf.toString('utf8', sp + 1, nul), oid: buf.toString('hex', nul + 1, nul + 21) });
    i = nul + 21;
  }
  return out;
}

export interface Ident {
  name: string;
  email: string;
}

export interface CommitInfo {
  tree: string;
  parents: string[];
  message: string;
}

function tz(date: Date): string {
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
}

export function identLine(who: Ident, ms: number): string {
  const clean = (s: string) => s.replace(/[<>\n\0]/g, '').trim();
  return `${clean(who.name) || 'gitml'} <${clean(who.email)}> ${Math.floor(ms / 1000)} ${tz(new Date(ms))}`;
}

export function encodeCommit(c: { tree: string; parents: string[]; author: Ident; committer: Ident; time: number; message: string }): Buffer {
  const lines = [`tree ${c.tree}`, ...c.parents.map((p) => `parent ${p}`), `author ${identLine(c.author, c.time)}`, `committer ${identLine(c.committer, c.time)}`];
  const msg = c.message.endsWith('\n') ? c.message : c.message + '\n';
  return Buffer.from(lines.join('\n') + '\n\n' + msg);
}

export function decodeCommit(buf: Buffer): CommitInfo {
  const s = buf.toString('utf8');
  const end = s.indexOf('\n\n');
  const head = end < 0 ? s : s.slice(0, end);
  let tree = '';
  const parents: string[] = [];
  for (const line of head.split('\n')) {
    if (line.startsWith('tree ')) tree = line.slice(5, 45);
    else if (line.startsWith('parent ')) parents.push(line.slice(7, 47));
  }
  if (!/^[0-9a-f]{40}$/.test(tree)) throw new GitmlError('RUNS_BRANCH_CORRUPT', 'malformed commit object');
  return { tree, parents, message: end < 0 ? '' : s.slice(end + 2) };
}
