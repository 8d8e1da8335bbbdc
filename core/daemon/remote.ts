/**
 * The daemon's remote: fetch its branches into the remote-tracking refs (what the daemon
 * scans when it follows a remote) and its runs and model tags into the local runs branch and
 * tags (what the services reconciler reads); after runs, push runs, artifacts and the status
 * branch back, as `gitml push` does (artifacts first, runs retried on conflict).
 */
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { redactUrls } from '../redact.js';
import { gitReason } from '../runs/sync.js';

/** A daemon follows a configured remote by name: its branches live under refs/remotes/NAME/. */
export async function checkRemoteName(dir: string, remote: string): Promise<void> {
  const names = (await runGit(dir, ['remote'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!names.includes(remote)) {
    throw new GitmlError(
      'USAGE',
      `--remote expects the name of a remote of this repository${names.length ? ` (remotes: ${names.join(', ')})` : ' (it has none)'}, got ${JSON.stringify(redactUrls(remote))}; add one with \`git remote add NAME URL\``,
      { remote: redactUrls(remote) },
    );
  }
}

export function remoteRefPrefix(remote: string): string {
  return `refs/remotes/${remote}/`;
}

/** Refs under `prefix` as `name oid` lines (a cheap snapshot to see whether a fetch brought anything). */
async function snapshot(dir: string, ...patterns: string[]): Promise<string> {
  return (await runGit(dir, ['for-each-ref', '--format=%(refname) %(objectname)', ...patterns])).stdout;
}

/**
 * Fetch the remote's branches (pruned) and its tags into a namespace of their own, in one
 * fetch; only when its runs branch or its tags moved, merge its runs and adopt its model tags
 * as `gitml pull` does (a second round trip a commit push does not need).
 */
export async function fetchRemote(dir: string, remote: string): Promise<{ rejectedTags: string[]; pulled: boolean }> {
  const { loadRunStoreConfig } = await import('../runs/config.js');
  const runsRef = `${remoteRefPrefix(remote)}${(await loadRunStoreConfig(dir)).branch}`;
  const tagsNs = `refs/gitml/remote-tags/${remote}/`;
  const before = await snapshot(dir, runsRef, tagsNs);
  const f = await runGit(dir, ['fetch', '--quiet', '--prune', '--no-tags', '--no-write-fetch-head', '--', remote, `+refs/heads/*:${remoteRefPrefix(remote)}*`, `+refs/tags/*:${tagsNs}*`]);
  if (f.code !== 0) throw new GitmlError('REMOTE', `cannot fetch from remote ${JSON.stringify(remote)}: ${redactUrls(gitReason(f.stderr))}`, { remote }, { retryable: true });
  if ((await snapshot(dir, runsRef, tagsNs)) === before) return { rejectedTags: [], pulled: false };
  const { pullRuns } = await import('../runs/sync.js');
  const { modelTags } = await import('./services.js');
  const tagsBefore = JSON.stringify(await modelTags(dir));
  const r = await pullRuns({ dir, remote, tags: true });
  // New model tags are about to be deployed: the bytes of registered versions come now, as `gitml pull` brings them.
  if (JSON.stringify(await modelTags(dir)) !== tagsBefore) {
    const { pullArtifacts } = await import('../artifacts/sync.js');
    const { registeredArtifacts } = await import('../registry/artifacts.js');
    await pullArtifacts({ dir, remote, mode: 'registered', registered: async () => (await registeredArtifacts({ dir })).map((a) => a.sha256) });
  }
  return { rejectedTags: r.rejectedTags, pulled: true };
}

/** Push what runs left behind: artifacts before the runs that name them, then the status branch. */
export async function pushResults(dir: string, remote: string): Promise<{ runsPushed: boolean; attempts: number; artifacts: number }> {
  const { pushArtifacts } = await import('../artifacts/sync.js');
  const { pushRuns } = await import('../runs/sync.js');
  const { pushStatus } = await import('../status/sync.js');
  const a = await pushArtifacts({ dir, remote });
  const r = await pushRuns({ dir, remote });
  await pushStatus({ dir, remote });
  return { runsPushed: r.pushed, attempts: r.attempts, artifacts: a.moved };
}
