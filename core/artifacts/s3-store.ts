/**
 * The `s3` store: any S3-compatible object store (AWS S3, MinIO, Ceph, R2, GCS's
 * interoperability endpoint) through the official AWS SDK v3. Objects are
 * `<prefix>sha256/<ab>/<rest>`. Credentials come only from the SDK's default chain (AWS_*
 * environment variables, shared config/credentials profiles, SSO, instance roles): gitml.yaml
 * holds the bucket and endpoint, never a key.
 *
 * Uploads use `@aws-sdk/lib-storage`: files above one part go as a multipart upload with parts
 * in parallel (memory bounded by partSize × queueSize); S3 makes an object visible only when the
 * upload completes, and a failed or interrupted upload is aborted, so no partial object is ever
 * readable. Downloads stream into the verified cache (cache.ts).
 *
 * The SDK's own CRC checksums are asked for only where the API requires them: gitml verifies
 * sha256 itself on every read, and several S3-compatible servers reject the newer headers.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { GitmlError } from '../errors.js';
import { cacheFile, dropCopy, verifiedCopy } from './cache.js';
import { hashForStore, verifiedWrite } from './hash.js';
import { fmtBytes, transferProgress } from './progress.js';
import { checkDigest, corrupt, missing, short, type ArtifactStore, type PutResult, type S3StoreConfig, type StoredArtifact } from './types.js';

const CREDENTIAL_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'CredentialsProviderError',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
]);

/**
 * An SDK failure as a GitmlError (exit 3). The message names the bucket and the error's name
 * only: SDK messages and the request can carry an access key id or a signed URL.
 */
export function s3Error(e: unknown, op: string, where: string): GitmlError {
  if (e instanceof GitmlError) return e;
  const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = String(err?.name ?? 'Error');
  const status = err?.$metadata?.httpStatusCode;
  const netCode = String(err?.code ?? (e as { cause?: { code?: string } })?.cause?.code ?? '');
  if (CREDENTIAL_ERRORS.has(name) || status === 403) {
    return new GitmlError('ARTIFACT_STORE', `${where} refused the credentials (${name}) while trying to ${op}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and the bucket's policy`, { store: where, error: name, status, credentials: true });
  }
  if (name === 'NoSuchBucket') return new GitmlError('ARTIFACT_STORE', `${where}: the bucket does not exist (create it, or fix artifacts.store.bucket in gitml.yaml)`, { store: where, error: name });
  if (/ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH/.test(netCode + name) || name === 'TimeoutError') {
    return new GitmlError('ARTIFACT_STORE', `cannot reach ${where} to ${op} (${netCode || name}): is the endpoint up? (artifacts.store.endpoint in gitml.yaml)`, { store: where, error: netCode || name }, { retryable: true });
  }
  return new GitmlError('ARTIFACT_STORE', `${where} failed to ${op} (${name}${status ? `, HTTP ${status}` : ''})`, { store: where, error: name, status }, { retryable: status !== undefined && status >= 500 });
}

const notFound = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404;
};

export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? '').replace(/^\/+/, '');
  if (p.split('/').some((s) => s === '..' || s === '.')) throw new GitmlError('INVALID_ENTITIES', `artifacts.store.prefix ${JSON.stringify(prefix)} may not contain '.' or '..' segments`, { prefix });
  return p && !p.endsWith('/') ? `${p}/` : p;
}

export class S3ArtifactStore implements ArtifactStore {
  readonly kind = 's3' as const;
  readonly where: string;
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(readonly config: S3StoreConfig, client?: S3Client) {
    this.prefix = normalizePrefix(config.prefix);
    this.where = `s3://${config.bucket}/${this.prefix}`;
    // The SDK warns on Node 20 that *future* releases will need Node 22; gitml pins an exact
    // version that works here, and the warning would land in every command's stderr. This is
    // the SDK's documented switch; a user who set it either way keeps their choice.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client =
      client ??
      new S3Client({
        region: config.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        endpoint: config.endpoint,
        forcePathStyle: config.forcePathStyle,
        maxAttempts: 3,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
  }

  key(sha256: string): string {
    checkDigest(sha256);
    return `${this.prefix}sha256/${sha256.slice(0, 2)}/${sha256.slice(2)}`;
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.key(sha256) }));
      return true;
    } catch (e) {
      if (notFound(e)) return false;
      throw s3Error(e, `look up ${short(sha256)}`, this.where);
    }
  }

  private async upload(sha256: string, body: Readable | Buffer, size: number, signal?: AbortSignal): Promise<void> {
    const abortController = new AbortController();
    const onAbort = () => abortController.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const up = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: this.key(sha256), Body: body, ContentType: 'application/octet-stream', Metadata: { sha256 } },
      partSize: this.config.partSize ?? 8 * 1024 * 1024,
      queueSize: this.config.queueSize ?? 4,
      leavePartsOnError: false,
      abortController,
    });
    const p = size > 64 * 1024 * 1024 ? transferProgress() : undefined;
    up.on('httpUploadProgress', (e) => p?.update(`uploading artifact ${short(sha256)} to ${this.where}: ${fmtBytes(e.loaded ?? 0)} of ${fmtBytes(size)}`));
    try {
      await up.done();
    } catch (e) {
      // The object never became visible; also drop the parts already sent (lib-storage does not
      // always abort the multipart upload when it is cancelled), so they are not billed forever.
      await this.abortPending(this.key(sha256));
      if (signal?.aborted || (e as Error).name === 'AbortError') throw new GitmlError('CANCELED', `uploading artifact ${short(sha256)} to ${this.where} was interrupted; nothing was stored`, { sha256 });
      throw s3Error(e, `upload ${short(sha256)}`, this.where);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      p?.done();
    }
  }

  private async abortPending(key: string): Promise<void> {
    try {
      const open = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.config.bucket, Prefix: key }));
      for (const u of open.Uploads ?? []) {
        if (u.Key === key && u.UploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, UploadId: u.UploadId }));
      }
    } catch {
      /* best effort: the upload failed already; the original error is what the user needs */
    }
  }

  async putFile(file: string, opts: { signal?: AbortSignal } = {}): Promise<PutResult> {
    const r: PutResult = await hashForStore(file);
    if (await this.has(r.sha256)) return r;
    await this.upload(r.sha256, createReadStream(file, { highWaterMark: 1 << 20 }), r.size, opts.signal);
    return r;
  }

  async putBuffer(buf: Buffer): Promise<PutResult> {
    const sha256 = createHash('sha256').update(buf).digest('hex');
    if (!(await this.has(sha256))) await this.upload(sha256, buf, buf.length);
    return { sha256, size: buf.length };
  }

  async localPath(sha256: string): Promise<string> {
    const copy = await verifiedCopy(this.config.cache, sha256);
    if (copy) return copy;
    let res;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(sha256) }));
    } catch (e) {
      if (notFound(e)) throw missing(sha256, this.where, 'the run that recorded it may have used another store or bucket');
      throw s3Error(e, `download ${short(sha256)}`, this.where);
    }
    const size = Number(res.ContentLength ?? 0);
    const p = transferProgress();
    p.update(`fetching artifact ${short(sha256)} (${fmtBytes(size)}) from ${this.where}…`);
    let shown = 0;
    let got = 0;
    let r;
    try {
      r = await verifiedWrite(res.Body as Readable, cacheFile(this.config.cache, sha256), sha256, (n) => {
        got = n;
        if (n - shown >= 16 << 20) {
          shown = n;
          p.update(`fetching artifact ${short(sha256)} from ${this.where}: ${fmtBytes(n)} of ${fmtBytes(size)}`);
        }
      });
    } catch (e) {
      // The connection broke off (or the disk failed) mid-transfer: verifiedWrite removed what
      // had arrived, so the cache holds nothing of it and a retry starts clean.
      const err = s3Error(e, `download ${short(sha256)}`, this.where);
      throw new GitmlError('ARTIFACT_STORE', `${err.message}; the download broke off after ${fmtBytes(got)} of ${fmtBytes(size)} and nothing was kept: retry`, { ...err.data, sha256 }, { retryable: true, cause: e });
    } finally {
      p.done();
    }
    if (!r.kept) throw corrupt(sha256, this.where + this.key(sha256).slice(this.prefix.length), r.sha256);
    return cacheFile(this.config.cache, sha256);
  }

  async read(sha256: string): Promise<Buffer> {
    const buf = readFileSync(await this.localPath(sha256));
    const got = createHash('sha256').update(buf).digest('hex');
    if (got !== sha256) throw corrupt(sha256, this.where, got);
    return buf;
  }

  async *list(): AsyncIterable<StoredArtifact> {
    let token: string | undefined;
    const base = `${this.prefix}sha256/`;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: base, ContinuationToken: token }));
      } catch (e) {
        throw s3Error(e, 'list artifacts', this.where);
      }
      for (const o of page.Contents ?? []) {
        const sha = (o.Key ?? '').slice(base.length).replace('/', '');
        if (/^[0-9a-f]{64}$/.test(sha)) yield { sha256: sha, size: o.Size };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(sha256: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.key(sha256) }));
    } catch (e) {
      if (!notFound(e)) throw s3Error(e, `delete ${short(sha256)}`, this.where);
    }
    dropCopy(this.config.cache, sha256);
  }
}
