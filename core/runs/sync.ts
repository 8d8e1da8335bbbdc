/**
 * Exchanging the runs branch and the registry's (model) tags with a remote (a path, ssh or https URL, or a remote
 * name), through the git CLI for transport. Pull fetches the remote branch, then fast-forwards
 * or makes a union merge: run folders never collide, so the merged tree holds every run of
 * both sides (when the same run was recorded on both, the more final record wins). Push sends
 * the tip; when the remote moved, it pulls, merges and retries.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import { redactUrls } from '../redact.js';
import { parseTag } from '../registry/grammar.js';
import type { RunRecord } from './types.js';
import { FINAL_STATUSES } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { gitExec } from './git/exec.js';
import { isTreeMode, type TreeEntry } from './git/objects.js';
import { casRef, readRef } from './git/refs.js';
import { RUN_FILE } from './layout.js';

export interface SyncResult {
  /** The remote as given, with a password or token in its URL masked (`https://user:***@…`). */
  remote: string;
  branch: string;
  /** Local tip before and after. */
  before: string | null;
  after: string | null;
  /** The remote tip that was fetched (pull) or that we pushed onto (push). */
  remoteTip: string | null;
  /** 'none' | 'fast-forward' | 'merge' | 'up-to-date' (pull); for push, what the last pull did. */
  action: 'none' | 'fast-forward' | 'merge' | 'up-to-date';
  pushed: boolean;
  attempts: number;
  /** Tags the remote or we refused because the same name points elsewhere. */
  rejectedTags: string[];
}

interface SyncOptions {
  dir: string;
  /** Remote name, path or URL; default `origin`. */
  remote?: string;
  config?: RunStoreConfig;
  /** Also exchange the registry's tags, GTO's grammar (default true); other tags never move. */
  tags?: boolean;
}

/** git's own lines that say nothing about this failure (it appends them to most transport errors). */
const GENERIC = /^(fatal: Could not read from remote repository\.?|Please make sure you have the correct access rights|and the repository exists\.?)$/i;

/** The line of git's stderr that says what went wrong. */
export function gitReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !GENERIC.test(l));
  const line = lines.find((l) => /^(fatal|error|ssh|remote):/i.test(l)) ?? lines[lines.length - 1];
  return line ? line.replace(/^fatal:\s*/i, '') : 'git failed';
}

function remoteError(remote: string, stderr: string): GitmlError {
  // A token in the URL reaches neither the message nor its data, nor whatever git printed.
  const shown = redactUrls(remote);
  return new GitmlError('REMOTE', `cannot reach remote ${JSON.stringify(shown)}: ${redactUrls(gitReason(stderr))}`, { remote: shown }, { retryable: true });
}

/**
 * What to hand git for `remote`: a configured remote name or a URL as given; a local path made
 * absolute against `dir` (git runs at the repository root, the user meant their folder). A name
 * that is neither, and a path that does not exist, are refused here with a plain message.
 */
export async function resolveRemote(repo: RunsRepo, dir: string, remote: string): Promise<string> {
  if (!remote || remote.startsWith('-')) throw new GitmlError('USAGE', `invalid remote ${JSON.stringify(remote)}`, { remote });
  const names = (await gitExec(repo.dir, ['remote'])).stdout.split('\n').map((l) => l.trim());
  if (names.includes(remote)) return remote;
  // scheme://... and scp-like user@host:path (a colon before any slash).
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(remote) || /^[^/]+:/.test(remote)) return remote;
  const abs = path.resolve(dir, remote);
  if (existsSync(abs)) return abs;
  if (!remote.includes('/') && !remote.startsWith('.')) {
    throw new GitmlError(
      'REMOTE',
      `no remote named ${JSON.stringify(remote)} in this repository${names.filter(Boolean).length ? ` (remotes: ${names.filter(Boolean).join(', ')})` : ''}; add one with \`git remote add ${remote} <url>\`, or give a path or URL`,
      { remote },
    );
  }
  throw new GitmlError('REMOTE', `cannot reach remote ${JSON.stringify(remote)}: ${abs} does not exist`, { remote });
}

async function remoteTip(repo: RunsRepo, remote: string): Promise<string | null> {
  const r = await gitExec(repo.dir, ['ls-remote', '--', remote, repo.config.ref]);
  if (r.code !== 0) throw remoteError(remote, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.endsWith(`\t${repo.config.ref}`));
  return line ? line.slice(0, 40) : null;
}

const rejectedRefs = (porcelain: string): string[] =>
  porcelain
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.split('\t')[1]?.split(':').pop() ?? l)
    .filter(Boolean);

/**
 * The registry's tags (GTO's grammar: `name@v1.2.3`, `name#stage#N`, ...) among refs listed as
 * `<oid> <refname>` lines, by name. Other tags are the user's own (releases, notes) and are never
 * exchanged: `gitml push` must not publish a tag the user did not mean to.
 */
async function modelTags(repo: RunsRepo, prefix: string): Promise<Map<string, string>> {
  const r = await gitExec(repo.dir, ['for-each-ref', '--format=%(objectname) %(refname)', prefix]);
  const tags = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const name = line.slice(sp + 1 + prefix.length);
    if (parseTag(name)) tags.set(name, line.slice(0, sp));
  }
  return tags;
}

/** Make the model tags fetched under `ns` local tags; never forced: a local tag that differs is kept and reported. */
async function adoptModelTags(repo: RunsRepo, ns: string): Promise<string[]> {
  const [theirs, ours] = await Promise.all([modelTags(repo, ns), modelTags(repo, 'refs/tags/')]);
  const rejected: string[] = [];
  const create: string[] = [];
  for (const [name, oid] of theirs) {
    const mine = ours.get(name);
    if (mine === undefined) create.push(`create refs/tags/${name} ${oid}\n`);
    else if (mine !== oid) rejected.push(`refs/tags/${name}`);
  }
  if (create.length > 0) {
    const u = await gitExec(repo.dir, ['update-ref', '--stdin'], { input: create.join('') });
    // Someone created one of them meanwhile: take them one at a time, keeping theirs.
    if (u.code !== 0) {
      for (const line of create) {
        const [, ref, oid] = line.trim().split(' ');
        const one = await gitExec(repo.dir, ['update-ref', '--stdin'], { input: line });
        if (one.code !== 0 && readRef(repo.paths.commondir, ref) !== oid) rejected.push(ref);
      }
    }
  }
  return rejected;
}

/** Push the local model tags (never forced); returns the ones the remote refused. */
async function pushTags(repo: RunsRepo, remote: string): Promise<string[]> {
  const refs = [...(await modelTags(repo, 'refs/tags/')).keys()].map((n) => `refs/tags/${n}`);
  const rejected: string[] = [];
  // Batches keep the argument list far below the system's limit at thousands of tags.
  for (let i = 0; i < refs.length; i += 500) {
    const batch = refs.slice(i, i + 500);
    const t = await gitExec(repo.dir, ['push', '--porcelain', '--', remote, ...batch.map((r) => `${r}:${r}`)]);
    if (t.code !== 0) {
      const rej = rejectedRefs(t.stdout);
      if (rej.length === 0) throw remoteError(remote, t.stderr);
      rejected.push(...rej);
    }
  }
  return rejected;
}

async function isAncestor(repo: RunsRepo, a: string, b: string): Promise<boolean> {
  const r = await gitExec(repo.dir, ['merge-base', '--is-ancestor', a, b]);
  return r.code === 0;
}

function score(r: RunRecord | undefined): string {
  if (!r) return '';
  return `${FINAL_STATUSES.includes(r.status) ? 1 : 0}|${r.endedAt ?? ''}|${r.startedAt ?? ''}`;
}

async function readRecord(repo: RunsRepo, entries: TreeEntry[]): Promise<RunRecord | undefined> {
  const e = entries.find((x) => x.name === RUN_FILE && !isTreeMode(x.mode));
  if (!e) return undefined;
  try {
    return JSON.parse((await repo.readObject(e.oid, 'blob')).toString('utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

/** The union of two trees: every run of both; for a run on both sides, the more final record. */
export async function unionTree(repo: RunsRepo, ours: string, theirs: string): Promise<string> {
  if (ours === theirs) return ours;
  const [a, b] = await repo.readTrees([ours, theirs]);
  if (!a || !b) throw new GitmlError('RUNS_BRANCH_CORRUPT', 'cannot read a tree of the runs branch while merging');
  const aRun = a.some((e) => e.name === RUN_FILE);
  const bRun = b.some((e) => e.name === RUN_FILE);
  if (aRun && bRun) {
    const [ra, rb] = [await readRecord(repo, a), await readRecord(repo, b)];
    return score(rb) > score(ra) ? theirs : ours;
  }
  const byName = new Map(a.map((e) => [e.name, e]));
  for (const e of b) {
    const mine = byName.get(e.name);
    if (!mine) byName.set(e.name, e);
    else if (mine.oid !== e.oid && isTreeMode(mine.mode) && isTreeMode(e.mode)) {
      byName.set(e.name, { ...mine, oid: await unionTree(repo, mine.oid, e.oid) });
    }
    // Two different files at the same path outside run folders: keep ours.
  }
  return repo.writeTree([...byName.values()]);
}

/** Bring the remote's runs into the local branch (fast-forward or union merge). */
async function integrate(repo: RunsRepo, remote: string, theirs: string): Promise<{ action: SyncResult['action']; before: string | null; after: string | null }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const ours = repo.tip();
    let next: string;
    let action: SyncResult['action'];
    if (ours === theirs || (ours && (await isAncestor(repo, theirs, ours)))) return { action: 'up-to-date', before: ours, after: ours };
    if (!ours || (await isAncestor(repo, ours, theirs))) {
      next = theirs;
      action = 'fast-forward';
    } else {
      const [ca, cb] = [await repo.readCommit(ours), await repo.readCommit(theirs)];
      const tree = await unionTree(repo, ca.tree, cb.tree);
      next = repo.writeCommit({
        tree,
        parents: [ours, theirs],
        // Commit messages are pushed and reflogs kept: name the remote without its credentials.
        message: `merge runs from ${redactUrls(remote)}\n\nGitml-Merge: ${theirs}\n`,
        time: Date.now(),
      });
      action = 'merge';
    }
    try {
      await casRef({
        commondir: repo.paths.commondir,
        ref: repo.config.ref,
        newOid: next,
        oldOid: ours,
        ident: repo.ident().committer,
        message: `gitml: ${action} runs from ${redactUrls(remote)}`,
        staleMs: repo.config.staleLockMs,
        timeoutMs: repo.config.lockTimeoutMs,
      });
      return { action, before: ours, after: next };
    } catch (e) {
      if (!isGitmlError(e, 'REF_CONFLICT')) throw e;
    }
  }
  throw new GitmlError('REF_CONFLICT', `${repo.config.ref} kept moving while merging runs from ${remote}; retry`, {}, { retryable: true });
}

async function pullInto(repo: RunsRepo, remote: string, tags: boolean): Promise<SyncResult> {
  const before = repo.tip();
  const tip = await remoteTip(repo, remote);
  let result: Pick<SyncResult, 'action' | 'after'> = { action: 'none', after: before };
  let rejectedTags: string[] = [];
  // The branch and every tag come in one fetch, into a private namespace (no auto-follow); then
  // the branch is integrated and only model tags become local tags.
  const ns = `refs/gitml/fetch/${process.pid}-${randomBytes(4).toString('hex')}/`;
  const refspecs = [...(tip ? [`+${repo.config.ref}:${ns}branch`] : []), ...(tags ? [`+refs/tags/*:${ns}tags/*`] : [])];
  if (refspecs.length === 0) return { remote: redactUrls(remote), branch: repo.config.branch, before, after: before, remoteTip: tip, action: 'none', pushed: false, attempts: 1, rejectedTags };
  const f = await gitExec(repo.dir, ['fetch', '--no-tags', '--no-write-fetch-head', '--', remote, ...refspecs]);
  try {
    if (f.code !== 0) throw remoteError(remote, f.stderr);
    if (tip) {
      const fetched = readRef(repo.paths.commondir, `${ns}branch`);
      if (!fetched) throw remoteError(remote, f.stderr);
      const r = await integrate(repo, remote, fetched);
      result = { action: r.action, after: r.after };
    }
    if (tags) rejectedTags = await adoptModelTags(repo, `${ns}tags/`);
  } finally {
    const left = await gitExec(repo.dir, ['for-each-ref', '--format=delete %(refname)', ns]);
    if (left.stdout.trim()) await gitExec(repo.dir, ['update-ref', '--stdin'], { input: left.stdout });
  }
  return { remote: redactUrls(remote), branch: repo.config.branch, before, after: result.after, remoteTip: tip, action: result.action, pushed: false, attempts: 1, rejectedTags };
}

/**
 * Fetch the remote's runs branch and tags and merge them into the local runs branch.
 *
 * Example: `await pullRuns({ dir, remote: 'origin' })`.
 */
export async function pullRuns(opts: SyncOptions): Promise<SyncResult> {
  const repo = openRuns(opts.dir, opts.config ?? (await loadRunStoreConfig(opts.dir)));
  const remote = opts.remote ?? 'origin';
  const r = await pullInto(repo, await resolveRemote(repo, opts.dir, remote), opts.tags !== false);
  return { ...r, remote: redactUrls(remote) };
}

/**
 * Push the runs branch and tags; when the remote has runs we lack, pull (union merge) and retry.
 *
 * Example: `await pushRuns({ dir, remote: 'origin' })`.
 */
export async function pushRuns(opts: SyncOptions & { maxAttempts?: number }): Promise<SyncResult> {
  const repo = openRuns(opts.dir, opts.config ?? (await loadRunStoreConfig(opts.dir)));
  const named = opts.remote ?? 'origin';
  const remote = await resolveRemote(repo, opts.dir, named);
  const before = repo.tip();
  const maxAttempts = opts.maxAttempts ?? 5;
  let action: SyncResult['action'] = 'none';
  let pushed = false;
  let attempts = 0;
  let lastRemote: string | null = null;
  const rejectedTags: string[] = [];
  while (repo.tip() && attempts < maxAttempts) {
    attempts++;
    const local = repo.tip()!;
    const r = await gitExec(repo.dir, ['push', '--porcelain', '--', remote, `${local}:${repo.config.ref}`]);
    if (r.code === 0) {
      pushed = true;
      lastRemote = local;
      break;
    }
    if (rejectedRefs(r.stdout).length === 0) throw remoteError(remote, r.stderr);
    // The remote has runs we do not: merge them in and try again.
    const p = await pullInto(repo, remote, false);
    action = p.action;
    lastRemote = p.remoteTip;
  }
  if (repo.tip() && !pushed) {
    throw new GitmlError('REF_CONFLICT', `the remote's ${repo.config.branch} branch kept moving; pushed nothing after ${attempts} attempts, retry`, { remote }, { retryable: true });
  }
  if (opts.tags !== false) rejectedTags.push(...(await pushTags(repo, remote)));
  return { remote: redactUrls(named), branch: repo.config.branch, before, after: repo.tip(), remoteTip: lastRemote, action, pushed, attempts, rejectedTags };
}
