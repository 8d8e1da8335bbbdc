/**
 * The status branch (`branches.status` in gitml.yaml, default `gitml-status`): service status,
 * deploy history and monitoring reports, written as git objects through the same layer as the
 * runs branch (an orphan branch; the working tree, index and HEAD are never touched), with the
 * same compare-and-swap ref update, so concurrent writers never lose a commit. Readable with
 * plain git: `git log gitml-status`, `git show gitml-status:monitor/iris/latest.json`.
 *
 * Example:
 *   await writeStatus({ dir, files: { 'monitor/iris/latest.json': json }, message: 'monitor iris: no drift' });
 */
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { isGitmlError } from '../errors.js';
import { RunsRepo } from '../runs/backend.js';
import { casRef } from '../runs/git/refs.js';
import { repoPaths } from '../runs/git/repo.js';
import { MODE_FILE, MODE_TREE, isTreeMode } from '../runs/git/objects.js';
import { DEFAULT_INLINE_MAX_BYTES, type RunStoreConfig } from '../runs/config.js';
import { safeRelPosix } from '../paths.js';

export const DEFAULT_STATUS_BRANCH = 'gitml-status';

/** The status branch named in gitml.yaml (read without validating the other entities). */
export async function statusBranch(dir: string): Promise<string> {
  const root = repoPaths(dir).dir;
  const file = path.join(root, 'gitml.yaml');
  if (!existsSync(file)) return DEFAULT_STATUS_BRANCH;
  try {
    const { parse } = await import('yaml');
    const doc = parse(readFileSync(file, 'utf8')) as { branches?: { status?: unknown } } | null;
    const b = doc?.branches?.status;
    return typeof b === 'string' && b ? b : DEFAULT_STATUS_BRANCH;
  } catch {
    return DEFAULT_STATUS_BRANCH;
  }
}

function repoFor(dir: string, branch: string): RunsRepo {
  const config: RunStoreConfig = { branch, ref: `refs/heads/${branch}`, inlineMaxBytes: DEFAULT_INLINE_MAX_BYTES, artifactStore: { type: 'local', path: '' } };
  return new RunsRepo(dir, config);
}

export interface WriteStatusOptions {
  dir: string;
  /** Paths on the branch (POSIX, relative) and their new contents. */
  files: Record<string, string | Buffer>;
  message: string;
  branch?: string;
  clock?: () => number;
}

/** One commit on the status branch that writes `files`; retried on a concurrent update. */
export async function writeStatus(o: WriteStatusOptions): Promise<{ branch: string; commit: string }> {
  const branch = o.branch ?? (await statusBranch(o.dir));
  const repo = repoFor(o.dir, branch);
  const clock = o.clock ?? Date.now;
  const blobs = Object.entries(o.files).map(([p, content]) => ({ segs: safeRelPosix(p).split('/'), oid: repo.writeBlob(content) }));
  for (let attempt = 1; ; attempt++) {
    const tip = repo.tip();
    let root: string | null = tip ? (await repo.readCommit(tip)).tree : null;
    for (const b of blobs) root = await repo.putPath(root, b.segs, { mode: MODE_FILE, name: b.segs[b.segs.length - 1], oid: b.oid });
    const commit = repo.writeCommit({ tree: root!, parents: tip ? [tip] : [], message: o.message.endsWith('\n') ? o.message : `${o.message}\n`, time: clock() });
    try {
      await casRef({ commondir: repo.paths.commondir, ref: `refs/heads/${branch}`, newOid: commit, oldOid: tip, ident: repo.ident().committer, message: `gitml: ${o.message.split('\n')[0]}`, now: clock });
      return { branch, commit };
    } catch (e) {
      if (!isGitmlError(e, 'REF_CONFLICT') || attempt >= 200) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt)));
    }
  }
}

/** A file on the status branch, or undefined when the branch or the file does not exist. */
export async function readStatusFile(dir: string, file: string, branch?: string): Promise<Buffer | undefined> {
  const repo = repoFor(dir, branch ?? (await statusBranch(dir)));
  const tip = repo.tip();
  if (!tip) return undefined;
  const root = (await repo.readCommit(tip)).tree;
  const e = await repo.lookup(root, safeRelPosix(file).split('/'));
  if (!e || isTreeMode(e.mode)) return undefined;
  return repo.readObject(e.oid, 'blob');
}

/** Names under a folder of the status branch (files and folders). */
export async function listStatusDir(dir: string, folder: string, branch?: string): Promise<string[]> {
  const repo = repoFor(dir, branch ?? (await statusBranch(dir)));
  const tip = repo.tip();
  if (!tip) return [];
  const root = (await repo.readCommit(tip)).tree;
  const e = folder ? await repo.lookup(root, safeRelPosix(folder).split('/')) : { mode: MODE_TREE, oid: root, name: '' };
  if (!e || !isTreeMode(e.mode)) return [];
  return (await repo.readTree(e.oid)).map((t) => t.name);
}

