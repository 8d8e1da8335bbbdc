/**
 * The artifact store: content-addressed storage (sha256) for run outputs too large for the runs
 * branch. Three kinds sit behind one interface (`git`, `local`, `s3`); the runs store only ever
 * sees this interface, so where bytes live is a setting in gitml.yaml, not a code path.
 */
import { GitmlError } from '../errors.js';

export interface PutResult {
  sha256: string;
  size: number;
}

export interface StoredArtifact {
  sha256: string;
  /** Bytes, when the store knows without reading the object. */
  size?: number;
}

export interface ArtifactStore {
  /** `git`, `local` or `s3`. */
  readonly kind: StoreKind;
  /** Where the bytes live, for people (never a credential): a folder, `refs/gitml/artifacts/*`, `s3://bucket/prefix`. */
  readonly where: string;
  /** Copy a file in (streamed: never the whole file in memory); returns its digest and size. */
  putFile(file: string, opts?: { signal?: AbortSignal }): Promise<PutResult>;
  putBuffer(buf: Buffer): Promise<PutResult>;
  /** Whether the store holds the object (for `git`: this clone, without asking the remote). */
  has(sha256: string): Promise<boolean>;
  /** The bytes, verified against the digest (for small things: logs, samples). */
  read(sha256: string): Promise<Buffer>;
  /**
   * A local read-only file holding the content, verified against the digest. Stores that are
   * not a local folder fetch the bytes on first use (with a progress line) into a cache.
   */
  localPath(sha256: string): Promise<string>;
  /** Every object this store holds (for `git`: this clone's). */
  list(): AsyncIterable<StoredArtifact>;
  /** Remove one object (gc); a no-op when absent. */
  remove(sha256: string): Promise<void>;
}

export type StoreKind = 'git' | 'local' | 's3';

export interface GitStoreConfig {
  type: 'git';
  /** The repository folder git runs in. */
  dir: string;
  /** Remote to fetch missing artifacts from (default `origin`). */
  remote?: string;
  /** Folder of verified working copies (`.git/gitml/cache/artifacts`). */
  cache: string;
}

export interface LocalStoreConfig {
  type: 'local';
  path: string;
}

export interface S3StoreConfig {
  type: 's3';
  bucket: string;
  /** Key prefix, '' or ending in '/'. */
  prefix: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  cache: string;
  /** Multipart part size (bytes) and parts in flight. */
  partSize?: number;
  queueSize?: number;
}

export type ArtifactStoreConfig = GitStoreConfig | LocalStoreConfig | S3StoreConfig;

export const SHA_RE = /^[0-9a-f]{64}$/;

/** The digest, checked: it names files, keys and refs, so it must be exactly 64 hex digits. */
export function checkDigest(sha256: string): string {
  if (typeof sha256 !== 'string' || !SHA_RE.test(sha256)) throw new GitmlError('PARAM', `${JSON.stringify(sha256)} is not a sha256 digest`, { sha256 });
  return sha256;
}

export const short = (sha256: string): string => sha256.slice(0, 12);

export function missing(sha256: string, where: string, hint: string): GitmlError {
  return new GitmlError('ARTIFACT_MISSING', `artifact ${short(sha256)} is not in the artifact store (${where}); ${hint}`, { sha256, store: where });
}

export function corrupt(sha256: string, where: string, got: string): GitmlError {
  return new GitmlError('ARTIFACT_CORRUPT', `artifact ${short(sha256)} in ${where} is corrupt: its content hashes to ${short(got)}; refused`, { sha256, store: where, actual: got });
}
