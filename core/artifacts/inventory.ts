/**
 * `gitml artifacts ls` and `gc`: what the store holds against what the runs branch references
 * and what the registry keeps. The gc plan is pure (inventory in, digests to remove out); the
 * apply step removes them one by one.
 *
 * Example:
 *   const inv = await artifactInventory({ dir, registered });
 *   const plan = planGc(inv);            // print it for --dry-run
 *   await applyGc({ dir, plan });
 */
import { loadRunStoreConfig, type RunStoreConfig } from '../runs/config.js';
import { digestsUnder, dropCopy } from './cache.js';
import { remoteArtifacts } from './git-sync.js';
import { artifactStoreFor } from './index.js';
import { referencedArtifacts, type ArtifactUse } from './references.js';

export interface InventoryEntry {
  sha256: string;
  size?: number;
  /** In this clone's store (git: a local ref; local: the folder; s3: the bucket). */
  stored: boolean;
  /** For s3 and git: a verified copy is in this clone's cache. */
  cached: boolean;
  /** git store and --remote given: the remote has it. */
  remote?: boolean;
  runs: ArtifactUse[];
  /** model@version of registered versions that use it. */
  registered: string[];
}

export interface Inventory {
  store: { type: 'git' | 'local' | 's3'; where: string };
  artifacts: InventoryEntry[];
  /** Cached copies (git/s3) whose digest nothing references any more. */
  strayCache: string[];
}

export async function artifactInventory(o: { dir: string; config?: RunStoreConfig; registered: Array<{ sha256: string; model: string; version: string }>; remote?: string }): Promise<Inventory> {
  const config = o.config ?? (await loadRunStoreConfig(o.dir));
  const store = artifactStoreFor(config.artifactStore);
  const refs = await referencedArtifacts(o.dir, config.ref);
  const byDigest = new Map<string, InventoryEntry>();
  const entry = (sha256: string): InventoryEntry => {
    let e = byDigest.get(sha256);
    if (!e) byDigest.set(sha256, (e = { sha256, stored: false, cached: false, runs: [], registered: [] }));
    return e;
  };
  for await (const a of store.list()) {
    const e = entry(a.sha256);
    e.stored = true;
    e.size = a.size;
  }
  for (const [sha, uses] of refs) {
    const e = entry(sha);
    e.runs = uses;
    e.size ??= uses[0]?.size;
  }
  for (const r of o.registered) {
    const e = entry(r.sha256);
    const name = `${r.model}@${r.version}`;
    if (!e.registered.includes(name)) e.registered.push(name);
  }
  const cacheDir = 'cache' in config.artifactStore ? config.artifactStore.cache : undefined;
  const strayCache: string[] = [];
  if (cacheDir) {
    for (const sha of digestsUnder(cacheDir)) {
      const e = byDigest.get(sha);
      if (e) e.cached = true;
      else strayCache.push(sha);
    }
  }
  if (o.remote && config.artifactStore.type === 'git') {
    const theirs = await remoteArtifacts(o.dir, o.remote);
    for (const e of byDigest.values()) e.remote = theirs.has(e.sha256);
  }
  const artifacts = [...byDigest.values()].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  return { store: { type: store.kind, where: store.where }, artifacts, strayCache };
}

export interface GcPlan {
  /** Stored objects no run references and no registered version keeps. */
  remove: Array<{ sha256: string; size?: number }>;
  /** Cached copies of digests nothing references. */
  dropCache: string[];
  kept: number;
  bytes: number;
}

/** Pure: what gc would remove. A registered version's artifact is kept even with no run left. */
export function planGc(inv: Inventory): GcPlan {
  const remove = inv.artifacts.filter((a) => a.stored && a.runs.length === 0 && a.registered.length === 0).map((a) => ({ sha256: a.sha256, size: a.size }));
  const dropCache = [...inv.strayCache, ...inv.artifacts.filter((a) => a.cached && a.runs.length === 0 && a.registered.length === 0).map((a) => a.sha256)];
  return { remove, dropCache, kept: inv.artifacts.filter((a) => a.stored).length - remove.length, bytes: remove.reduce((n, a) => n + (a.size ?? 0), 0) };
}

export async function applyGc(o: { dir: string; plan: GcPlan; config?: RunStoreConfig }): Promise<void> {
  const config = o.config ?? (await loadRunStoreConfig(o.dir));
  const store = artifactStoreFor(config.artifactStore);
  for (const a of o.plan.remove) await store.remove(a.sha256);
  if ('cache' in config.artifactStore) for (const sha of o.plan.dropCache) dropCopy(config.artifactStore.cache, sha);
}
