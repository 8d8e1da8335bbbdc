/**
 * Streaming digests and verified copies: every store reads and writes through these, so no
 * artifact is ever held whole in memory and no unverified byte reaches its final name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GitmlError } from '../errors.js';
import { pidAlive } from '../pid.js';

/** sha256 and size of a file, streamed. */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** `hashFile` for a file about to be stored: an unreadable file is an IO error naming it. */
export async function hashForStore(file: string): Promise<{ sha256: string; size: number }> {
  try {
    return await hashFile(file);
  } catch (e) {
    throw new GitmlError('IO', `cannot store artifact ${file}: ${(e as Error).message}`, { file }, { cause: e });
  }
}

/** A pass-through that hashes what flows and counts it; `onBytes` sees the running total. */
export function hashingTap(onBytes?: (n: number) => void): { tap: Transform; result: () => { sha256: string; size: number } } {
  const h = createHash('sha256');
  let size = 0;
  let digest: string | undefined;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      onBytes?.(size);
      cb(null, chunk);
    },
  });
  return { tap, result: () => ({ sha256: (digest ??= h.digest('hex')), size }) };
}

/**
 * A temporary name next to `dest` (same file system, so the final rename is atomic). The
 * temporaries of `dest` left by a process that is gone (killed mid-transfer: nothing could
 * remove them) are removed first, so an interrupted download leaves no debris once retried.
 */
export function tmpBeside(dest: string): string {
  const folder = path.dirname(dest);
  mkdirSync(folder, { recursive: true });
  const base = path.basename(dest);
  let names: string[] = [];
  try {
    names = readdirSync(folder);
  } catch {
    /* a new folder */
  }
  for (const n of names) {
    const m = n.startsWith(`${base}.`) ? /^\.(\d+)-[0-9a-f]{12}\.tmp$/.exec(n.slice(base.length)) : null;
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(path.join(folder, n), { force: true });
  }
  return `${dest}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Write `source` to `dest` only if its content hashes to `expect`: it goes to a temporary
 * file first, which is renamed into place after the digest matched and removed otherwise.
 * Returns the digest seen (equal to `expect` on success) and whether it was kept.
 */
export async function verifiedWrite(source: Readable, dest: string, expect: string, onBytes?: (n: number) => void): Promise<{ sha256: string; size: number; kept: boolean }> {
  const tmp = tmpBeside(dest);
  const { tap, result } = hashingTap(onBytes);
  try {
    await pipeline(source, tap, createWriteStream(tmp, { mode: 0o444 }));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const r = result();
  if (r.sha256 !== expect) {
    rmSync(tmp, { force: true });
    return { ...r, kept: false };
  }
  renameSync(tmp, dest);
  return { ...r, kept: true };
}
