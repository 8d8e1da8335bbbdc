/**
 * Artifacts on `gitml push` / `gitml pull`, next to the runs branch's sync (core/runs/sync.ts).
 * Only the `git` store travels through the git remote; an `s3` store is shared already (pull
 * may warm this clone's cache), a `local` folder does not travel.
 *
 * Push sends artifacts first, then the runs: a remote never holds a run whose stored
 * artifacts it lacks. Pull chooses what comes eagerly (`none`, `registered` — the artifacts of
 * registered model versions, the default — or `all`); anything else is fetched on first use.
 */
import { GitmlError } from '../errors.js';
import { redactUrls } from '../redact.js';
import { openRuns } from '../runs/backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from '../runs/config.js';
import { resolveRemote } from '../runs/sync.js';
import { artifactStoreFor } from './index.js';
import { fetchGitArtifacts, pushGitArtifacts } from './git-sync.js';
import { referencedArtifacts } from './references.js';
import { transferProgress } from './progress.js';

export type PullArtifacts = 'none' | 'registered' | 'all';
export const PULL_ARTIFACTS: PullArtifacts[] = ['none', 'registered', 'all'];

export interface ArtifactSyncResult {
  store: 'git' | 'local' | 's3';
  /** Artifacts sent (push) or fetched (pull). */
  moved: number;
  /** Artifacts the other side had already. */
  skipped: number;
  /** Wanted artifacts the remote (or bucket) does not have. */
  absent: string[];
  mode?: PullArtifacts;
}

/** The remote as git takes it (a name, URL, or a path made absolute), as the runs sync resolves it. */
async function resolved(dir: string, remote: string | undefined, config: RunStoreConfig): Promise<string> {
  return resolveRemote(openRuns(dir, config), dir, remote ?? 'origin');
}

export async function pushArtifacts(opts: { dir: string; remote?: string; config?: RunStoreConfig }): Promise<ArtifactSyncResult> {
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const s = config.artifactStore;
  if (s.type !== 'git') return { store: s.type, moved: 0, skipped: 0, absent: [] };
  const o = { dir: s.dir, remote: await resolved(opts.dir, opts.remote, config) };
  const p = transferProgress();
  try {
    const r = await pushGitArtifacts({ dir: o.dir, remote: o.remote, onProgress: (d, t) => p.update(`pushing artifacts to ${redactUrls(o.remote)}: ${d} of ${t}`) });
    return { store: 'git', moved: r.sent.length, skipped: r.skipped, absent: [] };
  } finally {
    p.done();
  }
}

/**
 * Fetch eagerly after the runs and tags came in. `registered` needs the registry (which sits
 * above the runs store), so the caller hands in those digests.
 */
export async function pullArtifacts(opts: { dir: string; remote?: string; config?: RunStoreConfig; mode: PullArtifacts; registered?: () => Promise<string[]> }): Promise<ArtifactSyncResult> {
  if (!PULL_ARTIFACTS.includes(opts.mode)) throw new GitmlError('USAGE', `--artifacts must be one of ${PULL_ARTIFACTS.join(', ')}`, { mode: opts.mode });
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const s = config.artifactStore;
  const o = { ...opts, config, remote: s.type === 'git' && opts.mode !== 'none' ? await resolved(opts.dir, opts.remote, config) : (opts.remote ?? 'origin') };
  if (o.mode === 'none' || s.type === 'local') return { store: s.type, moved: 0, skipped: 0, absent: [], mode: o.mode };
  let digests: string[] | undefined;
  if (o.mode === 'registered') digests = [...new Set((await o.registered?.()) ?? [])];
  else if (s.type === 's3') digests = [...(await referencedArtifacts(o.dir, o.config.ref)).keys()];
  const p = transferProgress();
  try {
    if (s.type === 'git') {
      const r = await fetchGitArtifacts({ dir: o.dir, remote: o.remote, digests, onProgress: (d, t) => p.update(`fetching artifacts from ${redactUrls(o.remote)}: ${d} of ${t}`) });
      return { store: 'git', moved: r.sent.length, skipped: r.skipped, absent: r.absent, mode: o.mode };
    }
    // s3: warm this clone's verified cache.
    const store = artifactStoreFor(s);
    const { verifiedCopy } = await import('./cache.js');
    let moved = 0;
    let skipped = 0;
    const absent: string[] = [];
    for (const d of digests ?? []) {
      if (await verifiedCopy(s.cache, d)) {
        skipped++;
        continue;
      }
      try {
        await store.localPath(d);
        moved++;
      } catch (e) {
        if (e instanceof GitmlError && e.code === 'ARTIFACT_MISSING') absent.push(d);
        else throw e;
      }
    }
    return { store: 's3', moved, skipped, absent, mode: o.mode };
  } finally {
    p.done();
  }
}
