/**
 * The `local` store: a folder (`<root>/sha256/<ab>/<rest>`), for one machine or a shared mount.
 * Writes go to `<root>/tmp` and are renamed into place once hashed, so a reader never sees a
 * partial file; reads are verified against the digest.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GitmlError } from '../errors.js';
import { digestsUnder } from './cache.js';
import { hashFile, hashingTap } from './hash.js';
import { checkDigest, corrupt, missing, type ArtifactStore, type PutResult, type StoredArtifact } from './types.js';

export class LocalArtifactStore implements ArtifactStore {
  readonly kind = 'local' as const;
  constructor(readonly root: string) {}

  get where(): string {
    return this.root;
  }

  private file(sha256: string): string {
    checkDigest(sha256);
    return path.join(this.root, 'sha256', sha256.slice(0, 2), sha256.slice(2));
  }

  private tmp(): string {
    mkdirSync(path.join(this.root, 'tmp'), { recursive: true });
    return path.join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  private settle(tmp: string, sha256: string): void {
    const dest = this.file(sha256);
    if (existsSync(dest)) {
      rmSync(tmp, { force: true });
      return;
    }
    mkdirSync(path.dirname(dest), { recursive: true });
    renameSync(tmp, dest);
  }

  async putFile(file: string, opts: { signal?: AbortSignal } = {}): Promise<PutResult> {
    const tmp = this.tmp();
    const { tap, result } = hashingTap();
    try {
      await pipeline(createReadStream(file), tap, createWriteStream(tmp, { mode: 0o444 }), { signal: opts.signal });
    } catch (e) {
      rmSync(tmp, { force: true });
      if ((e as Error).name === 'AbortError') throw new GitmlError('CANCELED', `storing ${file} was interrupted; nothing was stored`, { file });
      throw new GitmlError('IO', `cannot store artifact ${file}: ${(e as Error).message}`, { file }, { cause: e });
    }
    const r = result();
    this.settle(tmp, r.sha256);
    return r;
  }

  async putBuffer(buf: Buffer): Promise<PutResult> {
    const sha256 = createHash('sha256').update(buf).digest('hex');
    if (!existsSync(this.file(sha256))) {
      const tmp = this.tmp();
      writeFileSync(tmp, buf, { mode: 0o444 });
      this.settle(tmp, sha256);
    }
    return { sha256, size: buf.length };
  }

  async has(sha256: string): Promise<boolean> {
    return existsSync(this.file(sha256));
  }

  async localPath(sha256: string): Promise<string> {
    const f = this.file(sha256);
    try {
      statSync(f);
    } catch {
      throw missing(sha256, this.root, 'it was recorded on another machine: point artifacts.store at a shared folder, or use the git or s3 store');
    }
    const got = (await hashFile(f)).sha256;
    if (got !== sha256) throw corrupt(sha256, this.root, got);
    return f;
  }

  async read(sha256: string): Promise<Buffer> {
    const f = this.file(sha256);
    let buf: Buffer;
    try {
      buf = readFileSync(f);
    } catch {
      return Promise.reject(missing(sha256, this.root, 'it was recorded on another machine: point artifacts.store at a shared folder, or use the git or s3 store'));
    }
    // Hash the very bytes handed out.
    const got = createHash('sha256').update(buf).digest('hex');
    if (got !== sha256) throw corrupt(sha256, this.root, got);
    return buf;
  }

  async *list(): AsyncIterable<StoredArtifact> {
    for (const sha256 of digestsUnder(this.root)) {
      let size: number | undefined;
      try {
        size = statSync(this.file(sha256)).size;
      } catch {
        continue;
      }
      yield { sha256, size };
    }
  }

  async remove(sha256: string): Promise<void> {
    rmSync(this.file(sha256), { force: true });
  }
}
