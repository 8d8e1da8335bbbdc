/**
 * Exchanging the status branch with a remote, as the runs branch is exchanged: pull fetches
 * it and fast-forwards or merges; push sends the tip and, when the remote moved, pulls,
 * merges and retries. The merge is a union of both trees: reports never collide (their names
 * carry a time and a content id); a file both sides changed (a service's `latest.json`,
 * its status) takes the side whose tip commit is newer.
 *
 * Example:
 *   await pushStatus({ dir, remote: 'origin' });   // after gitml monitor --record
 */
import { randomBytes } from 'node:crypto';
import { GitmlError, isGitmlError } from '../errors.js';
import { redactUrls } from '../redact.js';
import { RunsRepo } from '../runs/backend.js';
import { DEFAULT_INLINE_MAX_BYTES } from '../runs/config.js';
import { gitExec } from '../runs/git/exec.js';
import { isTreeMode, MODE_TREE, type TreeEntry } from '../runs/git/objects.js';
import { casRef, readRef } from '../runs/git/refs.js';
import { gitReason, resolveRemote } from '../runs/sync.js';
import { statusBranch } from './branch.js';

export interface StatusSyncResult {
  remote: string;
  branch: string;
  before: string | null;
  after: string | null;
  action: 'none' | 'up-to-date' | 'fast-forward' | 'merge';
  pushed: boolean;
}

function open(dir: string, branch: string): RunsRepo {
  return new RunsRepo(dir, { branch, ref: `refs/heads/${branch}`, inlineMaxBytes: DEFAULT_INLINE_MAX_BYTES, artifactStore: { type: 'local', path: '' } });
}

async function isAncestor(repo: RunsRepo, a: string, b: string): Promise<boolean> {
  return (await gitExec(repo.dir, ['merge-base', '--is-ancestor', a, b])).code === 0;
}

async function mergeTrees(repo: RunsRepo, ours: string, theirs: string, theirsWins: boolean): Promise<string> {
  if (ours === theirs) return ours;
  const [a, b] = await Promise.all([repo.readTree(ours), repo.readTree(theirs)]);
  const byName = new Map<string, TreeEntry>(a.map((e) => [e.name, e]));
  for (const e of b) {
    const mine = byName.get(e.name);
    if (!mine) byName.set(e.name, e);
    else if (mine.oid !== e.oid) {
      if (isTreeMode(mine.mode) && isTreeMode(e.mode)) byName.set(e.name, { mode: MODE_TREE, name: e.name, oid: await mergeTrees(repo, mine.oid, e.oid, theirsWins) });
      else if (theirsWins) byName.set(e.name, e);
    }
  }
  return repo.writeTree([...byName.values()]);
}

/** Fold `theirs` (a fetched commit) into the local branch. */
async function integrate(repo: RunsRepo, branch: string, theirs: string, remote: string): Promise<{ before: string | null; after: string | null; action: StatusSyncResult['action'] }> {
  for (let attempt = 1; attempt <= 20; attempt++) {
    const tip = repo.tip();
    if (tip === theirs || (tip && (await isAncestor(repo, theirs, tip)))) return { before: tip, after: tip, action: 'up-to-date' };
    let next: string;
    let action: StatusSyncResult['action'];
    if (!tip || (await isAncestor(repo, tip, theirs))) {
      next = theirs;
      action = 'fast-forward';
    } else {
      const [mine, other] = await Promise.all([repo.readCommit(tip), repo.readCommit(theirs)]);
      const times = (await gitExec(repo.dir, ['show', '-s', '--format=%ct', tip, theirs, '--'])).stdout.trim().split('\n').map(Number);
      const tree = await mergeTrees(repo, mine.tree, other.tree, times[1] > times[0]);
      next = repo.writeCommit({ tree, parents: [tip, theirs], message: `merge ${branch} from ${redactUrls(remote)}\n`, time: Date.now() });
      action = 'merge';
    }
    try {
      await casRef({ commondir: repo.paths.commondir, ref: `refs/heads/${branch}`, newOid: next, oldOid: tip, ident: repo.ident().committer, message: `gitml: ${action} ${branch} from ${redactUrls(remote)}` });
      return { before: tip, after: next, action };
    } catch (e) {
      if (!isGitmlError(e, 'REF_CONFLICT')) throw e;
    }
  }
  throw new GitmlError('REF_CONFLICT', `${branch} kept moving while merging it from ${redactUrls(remote)}; retry`, {}, { retryable: true });
}

async function fetchTip(repo: RunsRepo, branch: string, remote: string): Promise<string | null> {
  const ref = `refs/heads/${branch}`;
  // One connection: fetch it directly; a remote without the branch says so.
  const tmp = `refs/gitml/fetch/status-${randomBytes(6).toString('hex')}`;
  const f = await gitExec(repo.dir, ['fetch', '--no-tags', '--no-write-fetch-head', '--', remote, `+${ref}:${tmp}`]);
  try {
    if (f.code !== 0 && /couldn't find remote ref/i.test(f.stderr)) return null;
    if (f.code !== 0) throw new GitmlError('REMOTE', `cannot fetch ${branch} from ${JSON.stringify(redactUrls(remote))}: ${redactUrls(gitReason(f.stderr))}`, { remote: redactUrls(remote) }, { retryable: true });
    return readRef(repo.paths.commondir, tmp);
  } finally {
    await gitExec(repo.dir, ['update-ref', '-d', tmp]);
  }
}

export async function pullStatus(o: { dir: string; remote?: string }): Promise<StatusSyncResult> {
  const branch = await statusBranch(o.dir);
  const repo = open(o.dir, branch);
  const remote = await resolveRemote(repo, o.dir, o.remote ?? 'origin');
  const theirs = await fetchTip(repo, branch, remote);
  if (!theirs) return { remote: redactUrls(remote), branch, before: repo.tip(), after: repo.tip(), action: 'none', pushed: false };
  const r = await integrate(repo, branch, theirs, remote);
  return { remote: redactUrls(remote), branch, ...r, pushed: false };
}

export async function pushStatus(o: { dir: string; remote?: string }): Promise<StatusSyncResult> {
  const branch = await statusBranch(o.dir);
  const repo = open(o.dir, branch);
  const remote = await resolveRemote(repo, o.dir, o.remote ?? 'origin');
  const before = repo.tip();
  if (!before) return { remote: redactUrls(remote), branch, before, after: before, action: 'none', pushed: false };
  let action: StatusSyncResult['action'] = 'none';
  for (let attempt = 1; attempt <= 10; attempt++) {
    const tip = repo.tip()!;
    const p = await gitExec(repo.dir, ['push', '--porcelain', '--', remote, `${tip}:refs/heads/${branch}`]);
    if (p.code === 0) return { remote: redactUrls(remote), branch, before, after: tip, action, pushed: !/\t\[up to date\]/.test(p.stdout) };
    if (!/rejected|fetch first|non-fast-forward/.test(p.stdout + p.stderr)) {
      throw new GitmlError('REMOTE', `cannot push ${branch} to ${JSON.stringify(redactUrls(remote))}: ${redactUrls(gitReason(p.stderr))}`, { remote: redactUrls(remote) }, { retryable: true });
    }
    const theirs = await fetchTip(repo, branch, remote);
    if (theirs) action = (await integrate(repo, branch, theirs, remote)).action;
  }
  throw new GitmlError('REF_CONFLICT', `the remote's ${branch} kept moving; pushed nothing, retry`, { remote: redactUrls(remote) }, { retryable: true });
}
