/**
 * Content-addressed storage for artifacts too large for the runs branch. The interface is what
 * the store needs; `LocalArtifactStore` keeps files under `<root>/sha256/<ab>/<rest>` (default
 * `.git/gitml/artifacts`). An object store (S3, GCS) can implement the same four methods.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import type { RunStoreConfig } from './config.js';

export interface ArtifactStore {
  /** Copy a file in; returns its digest and size. */
  putFile(file: string): Promise<{ sha256: string; size: number }>;
  putBuffer(buf: Buffer): Promise<{ sha256: string; size: number }>;
  has(sha256: string): Promise<boolean>;
  read(sha256: string): Promise<Buffer>;
  /** A local file holding the content (for stores that are not local: a downloaded copy). */
  localPath(sha256: string): Promise<string>;
}

const SHA_RE = /^[0-9a-f]{64}$/;

export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  private file(sha256: string): string {
    if (!SHA_RE.test(sha256)) throw new GitmlError('PARAM', `${JSON.stringify(sha256)} is not a sha256 digest`, { sha256 });
    return path.join(this.root, 'sha256', sha256.slice(0, 2), sha256.slice(2));
  }

  private tmp(): string {
    mkdirSync(path.join(this.root, 'tmp'), { recursive: true });
    return path.join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  private settle(tmp: string, sha256: string): void {
    const dest = this.file(sha256);
    if (existsSync(dest)) {
      unlinkSync(tmp);
      return;
    }
    mkdirSync(path.dirname(dest), { recursive: true });
    renameSync(tmp, dest);
  }

  async putFile(file: string): Promise<{ sha256: string; size: number }> {
    const tmp = this.tmp();
    const h = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        h.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(createReadStream(file), tap, createWriteStream(tmp, { mode: 0o444 }));
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* ignore */
      }
      throw new GitmlError('IO', `cannot store artifact ${file}: ${(e as Error).message}`, { file }, { cause: e });
    }
    const sha256 = h.digest('hex');
    this.settle(tmp, sha256);
    return { sha256, size };
  }

  async putBuffer(buf: Buffer): Promise<{ sha256: string; size: number }> {
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
      throw new GitmlError('IO', `artifact ${sha256.slice(0, 12)} is not in the artifact store ${this.root} (it was recorded on another machine; copy its store or re-run)`, { sha256, store: this.root });
    }
    return f;
  }

  async read(sha256: string): Promise<Buffer> {
    return readFileSync(await this.localPath(sha256));
  }
}

export function artifactStoreFor(config: RunStoreConfig): ArtifactStore {
  return new LocalArtifactStore(config.artifactStore.path);
}
