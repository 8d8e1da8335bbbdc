/**
 * Artifact stores behind one interface, chosen by gitml.yaml `artifacts.store.type`:
 * `git` (default: blobs under refs/gitml/artifacts/*, carried by gitml push/pull), `local` (a
 * folder) and `s3` (any S3-compatible object store). See types.ts for the contract.
 *
 * Example:
 *   const store = artifactStoreFor(config.artifactStore);
 *   const { sha256 } = await store.putFile('model.pkl');
 *   const file = await store.localPath(sha256);   // fetched and verified when needed
 */
import { GitmlError } from '../errors.js';
import { gitExec } from '../runs/git/exec.js';
import { fetchGitArtifacts } from './git-sync.js';
import { GitArtifactStore } from './git-store.js';
import { LocalArtifactStore } from './local.js';
import { missing } from './types.js';
import type { ArtifactStore, ArtifactStoreConfig } from './types.js';

export type { ArtifactStore, ArtifactStoreConfig, StoredArtifact, PutResult, StoreKind } from './types.js';
export { LocalArtifactStore } from './local.js';
export { GitArtifactStore, ARTIFACT_REFS, artifactRef } from './git-store.js';
export { setTransferProgress, type TransferProgress } from './progress.js';

/**
 * What to hand git for the store's remote: a configured remote name, or a URL or path as given;
 * undefined when the name is not a remote of this clone (a clone made without one).
 */
async function remoteFor(dir: string, remote: string): Promise<string | undefined> {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(remote) || /^[^/]+:/.test(remote) || remote.startsWith('/')) return remote;
  const names = (await gitExec(dir, ['remote'])).stdout.split('\n').map((l) => l.trim());
  return names.includes(remote) ? remote : undefined;
}

export function artifactStoreFor(config: ArtifactStoreConfig): ArtifactStore {
  switch (config.type) {
    case 'local':
      return new LocalArtifactStore(config.path);
    case 'git': {
      const name = config.remote ?? 'origin';
      return new GitArtifactStore(config.dir, config, async (digests) => {
        const remote = await remoteFor(config.dir, name);
        if (!remote) throw missing(digests[0], 'refs/gitml/artifacts/*', `this clone has no remote ${JSON.stringify(name)} to fetch it from: \`gitml pull REMOTE\`, or set artifacts.store.remote in gitml.yaml`);
        await fetchGitArtifacts({ dir: config.dir, remote, digests });
      });
    }
    case 's3':
      return new S3Lazy(config);
    default:
      throw new GitmlError('INVALID_ENTITIES', `unknown artifact store type ${JSON.stringify((config as { type: unknown }).type)}`, {});
  }
}

/**
 * The s3 store loads the AWS SDK on first use: `gitml --help` and every command that never
 * touches an s3 artifact stay as fast as before.
 */
class S3Lazy implements ArtifactStore {
  readonly kind = 's3' as const;
  private inner?: Promise<ArtifactStore>;
  constructor(private readonly config: Extract<ArtifactStoreConfig, { type: 's3' }>) {}
  get where(): string {
    return `s3://${this.config.bucket}/${this.config.prefix ?? ''}`;
  }
  private get s(): Promise<ArtifactStore> {
    return (this.inner ??= import('./s3-store.js').then((m) => new m.S3ArtifactStore(this.config)));
  }
  async putFile(file: string, opts?: { signal?: AbortSignal }) {
    return (await this.s).putFile(file, opts);
  }
  async putBuffer(buf: Buffer) {
    return (await this.s).putBuffer(buf);
  }
  async has(sha256: string) {
    return (await this.s).has(sha256);
  }
  async read(sha256: string) {
    return (await this.s).read(sha256);
  }
  async localPath(sha256: string) {
    return (await this.s).localPath(sha256);
  }
  async *list() {
    yield* (await this.s).list();
  }
  async remove(sha256: string) {
    return (await this.s).remove(sha256);
  }
}
