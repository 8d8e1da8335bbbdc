/**
 * The git side of the runs store: one repository handle that reads objects through a
 * long-lived `git cat-file --batch`, writes loose objects in-process, edits trees along one
 * path, and makes commits. Trees are immutable, so parsed trees are cached by id.
 */
import path from 'node:path';
import { GitmlError } from '../errors.js';
import { catFile, type CatFile } from './git/catfile.js';
import { resolveIdent } from './git/ident.js';
import { EMPTY_TREE, MODE_TREE, decodeCommit, decodeTree, encodeCommit, encodeTree, isTreeMode, writeObject, type CommitInfo, type TreeEntry } from './git/objects.js';
import { readRef } from './git/refs.js';
import { repoPaths, type RepoPaths } from './git/repo.js';
import type { RunStoreConfig } from './config.js';
import { runStoreConfig } from './config.js';

const treeCache = new Map<string, TreeEntry[]>();
const commitCache = new Map<string, CommitInfo>();
const TREE_CACHE_MAX = 20_000;

/** Forget parsed trees and commits (benchmarks measure cold reads with this). */
export function clearObjectCaches(): void {
  treeCache.clear();
  commitCache.clear();
}

function remember<T>(m: Map<string, T>, k: string, v: T): void {
  if (m.size >= TREE_CACHE_MAX) m.clear();
  m.set(k, v);
}

export class RunsRepo {
  readonly paths: RepoPaths;
  readonly objectsDir: string;
  readonly cat: CatFile;
  readonly config: RunStoreConfig;

  constructor(dir: string, config?: RunStoreConfig) {
    this.paths = repoPaths(dir);
    this.objectsDir = path.join(this.paths.commondir, 'objects');
    this.cat = catFile(this.paths.dir);
    this.config = config ?? runStoreConfig(undefined, dir);
  }

  get dir(): string {
    return this.paths.dir;
  }

  /** Current tip of the runs branch, or null when there is none yet. */
  tip(): string | null {
    return readRef(this.paths.commondir, this.config.ref);
  }

  ident() {
    return resolveIdent(this.paths.dir);
  }

  async readObject(oid: string, type?: string): Promise<Buffer> {
    const o = await this.cat.read(oid);
    if (!o) throw new GitmlError('RUNS_BRANCH_CORRUPT', `object ${oid} is missing from the repository`, { oid });
    if (type && o.type !== type) throw new GitmlError('RUNS_BRANCH_CORRUPT', `object ${oid} is a ${o.type}, expected a ${type}`, { oid, type: o.type });
    return o.data;
  }

  async readCommit(oid: string): Promise<CommitInfo> {
    const hit = commitCache.get(oid);
    if (hit) return hit;
    const c = decodeCommit(await this.readObject(oid, 'commit'));
    remember(commitCache, oid, c);
    return c;
  }

  async readTree(oid: string): Promise<TreeEntry[]> {
    if (oid === EMPTY_TREE) return [];
    const hit = treeCache.get(oid);
    if (hit) return hit;
    const t = decodeTree(await this.readObject(oid, 'tree'));
    remember(treeCache, oid, t);
    return t;
  }

  /** Read many trees in one pipelined batch; missing ones come back as null. */
  async readTrees(oids: string[]): Promise<(TreeEntry[] | null)[]> {
    const out: (TreeEntry[] | null)[] = new Array(oids.length).fill(null);
    const need: number[] = [];
    oids.forEach((oid, i) => {
      const hit = oid === EMPTY_TREE ? [] : treeCache.get(oid);
      if (hit) out[i] = hit;
      else need.push(i);
    });
    const objs = await this.cat.readMany(need.map((i) => oids[i]));
    need.forEach((i, k) => {
      const o = objs[k];
      if (o && o.type === 'tree') {
        const t = decodeTree(o.data);
        remember(treeCache, oids[i], t);
        out[i] = t;
      }
    });
    return out;
  }

  writeBlob(content: Buffer | string): string {
    return writeObject(this.objectsDir, 'blob', typeof content === 'string' ? Buffer.from(content) : content);
  }

  writeTree(entries: TreeEntry[]): string {
    if (entries.length === 0) return this.writeEmptyTree();
    const oid = writeObject(this.objectsDir, 'tree', encodeTree(entries));
    remember(treeCache, oid, entries);
    return oid;
  }

  private writeEmptyTree(): string {
    return writeObject(this.objectsDir, 'tree', Buffer.alloc(0));
  }

  /** The entry at `segs` below tree `root`, or null. */
  async lookup(root: string, segs: string[]): Promise<TreeEntry | null> {
    let cur: TreeEntry = { mode: MODE_TREE, name: '', oid: root };
    for (const s of segs) {
      if (!isTreeMode(cur.mode)) return null;
      const e = (await this.readTree(cur.oid)).find((x) => x.name === s);
      if (!e) return null;
      cur = e;
    }
    return cur;
  }

  /**
   * A new root tree equal to `root` with the entry at `segs` replaced by `leaf` (or removed when
   * null). Only the trees along the path are rewritten.
   */
  async putPath(root: string | null, segs: string[], leaf: TreeEntry | null): Promise<string> {
    const entries = root ? [...(await this.readTree(root))] : [];
    const [head, ...rest] = segs;
    const i = entries.findIndex((e) => e.name === head);
    let next: TreeEntry | null;
    if (rest.length === 0) next = leaf ? { ...leaf, name: head } : null;
    else {
      const cur = i >= 0 ? entries[i] : undefined;
      if (cur && !isTreeMode(cur.mode)) {
        throw new GitmlError('RUNS_BRANCH_CORRUPT', `the runs branch has a file where the folder ${head} should be`, { path: segs.join('/') });
      }
      const sub = await this.putPath(cur ? cur.oid : null, rest, leaf);
      next = sub === EMPTY_TREE ? null : { mode: MODE_TREE, name: head, oid: sub };
    }
    if (i >= 0) {
      if (next) entries[i] = next;
      else entries.splice(i, 1);
    } else if (next) entries.push(next);
    return entries.length ? this.writeTree(entries) : EMPTY_TREE;
  }

  /** Build nested trees from a flat list of '/'-separated paths. */
  buildTree(files: Array<{ path: string; oid: string; mode: string }>): string {
    const root: Dir = new Map();
    for (const f of files) {
      const segs = f.path.split('/');
      let d = root;
      for (const s of segs.slice(0, -1)) {
        let sub = d.get(s);
        if (!(sub instanceof Map)) d.set(s, (sub = new Map()));
        d = sub as Dir;
      }
      d.set(segs[segs.length - 1], { mode: f.mode, oid: f.oid });
    }
    const write = (d: Dir): string =>
      this.writeTree(
        [...d].map(([name, v]) => (v instanceof Map ? { mode: MODE_TREE, name, oid: write(v) } : { mode: v.mode, name, oid: v.oid })),
      );
    return write(root);
  }

  writeCommit(c: { tree: string; parents: string[]; message: string; time: number }): string {
    const { author, committer } = this.ident();
    return writeObject(this.objectsDir, 'commit', encodeCommit({ ...c, author, committer }));
  }
}

type Dir = Map<string, Dir | { mode: string; oid: string }>;

const repos = new Map<string, RunsRepo>();

/** A repository handle for `dir` (cached per folder and branch). */
export function openRuns(dir: string, config?: RunStoreConfig): RunsRepo {
  const key = `${path.resolve(dir)}\0${config ? JSON.stringify(config) : ''}`;
  let r = repos.get(key);
  if (!r) {
    r = new RunsRepo(dir, config);
    if (repos.size > 50) repos.clear();
    repos.set(key, r);
  }
  return r;
}
