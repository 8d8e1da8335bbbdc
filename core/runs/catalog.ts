/**
 * The derived index of every run on the branch, cached in `.git/gitml/cache/` and keyed by the
 * branch tip. The branch is the truth: on a new tip the cache is brought up to date by diffing
 * the cached tip's tree against the new one (only changed subtrees are read, so the cost follows
 * what changed, not how many runs exist), and rebuilt from scratch when the old tree is gone
 * (a rewritten and garbage-collected branch) or the cache is missing or unreadable.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { GitmlError } from '../errors.js';
import type { RunRecord } from './types.js';
import type { RunsRepo } from './backend.js';
import { isTreeMode, type TreeEntry } from './git/objects.js';
import { RUN_DEPTH, RUN_FILE } from './layout.js';

// 3: records are checked field by field (recordProblem); older caches may hold records that no longer pass.
const VERSION = 3;

export interface CatalogRun {
  /** Folder of the run on the branch. */
  path: string;
  /** Blob id of its run.json. */
  blob: string;
  record: RunRecord;
}

export interface CatalogProblem {
  path: string;
  blob: string;
  message: string;
}

export interface Catalog {
  tip: string | null;
  tree: string | null;
  runs: Map<string, CatalogRun>;
  problems: Map<string, CatalogProblem>;
  /** Tip of the full cache file this catalog was loaded from (null: not from one). */
  base: string | null;
  /** Folders changed since `base`: saved as a small journal instead of the whole cache. */
  dirty: Set<string>;
}

/** Past this many changed folders the whole cache file is rewritten and the journal dropped. */
const JOURNAL_MAX = 5000;

interface JournalFile {
  version: number;
  ref: string;
  base: string | null;
  tip: string | null;
  tree: string | null;
  runs: Array<[string, string, RunRecord]>;
  problems: Array<[string, string, string]>;
  removed: string[];
}

interface CatalogFile {
  version: number;
  ref: string;
  tip: string | null;
  tree: string | null;
  runs: Array<[string, string, RunRecord]>;
  problems: Array<[string, string, string]>;
}

export function cacheFile(repo: RunsRepo): string {
  return path.join(repo.paths.commondir, 'gitml', 'cache', `runs-index-${repo.config.ref.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

const journalFile = (repo: RunsRepo) => cacheFile(repo).replace(/\.json$/, '.journal.json');

function loadFile(repo: RunsRepo): Catalog | null {
  let c: Catalog;
  try {
    const f = JSON.parse(readFileSync(cacheFile(repo), 'utf8')) as CatalogFile;
    if (f.version !== VERSION || f.ref !== repo.config.ref) return null;
    c = {
      tip: f.tip,
      tree: f.tree,
      runs: new Map(f.runs.map(([p, blob, record]) => [p, { path: p, blob, record }])),
      problems: new Map(f.problems.map(([p, blob, message]) => [p, { path: p, blob, message }])),
      base: f.tip,
      dirty: new Set(),
    };
  } catch {
    return null;
  }
  // The journal applies only on top of the exact cache file it was written against.
  try {
    const j = JSON.parse(readFileSync(journalFile(repo), 'utf8')) as JournalFile;
    if (j.version === VERSION && j.ref === repo.config.ref && j.base === c.base) {
      for (const p of j.removed) {
        c.runs.delete(p);
        c.problems.delete(p);
        c.dirty.add(p);
      }
      for (const [p, blob, record] of j.runs) {
        c.problems.delete(p);
        c.runs.set(p, { path: p, blob, record });
        c.dirty.add(p);
      }
      for (const [p, blob, message] of j.problems) {
        c.runs.delete(p);
        c.problems.set(p, { path: p, blob, message });
        c.dirty.add(p);
      }
      c.tip = j.tip;
      c.tree = j.tree;
    }
  } catch {
    /* no journal */
  }
  return c;
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function saveFile(repo: RunsRepo, c: Catalog): void {
  try {
    if (c.base !== null && c.dirty.size <= JOURNAL_MAX) {
      // Small change on top of a full cache file: write only what changed.
      const j: JournalFile = { version: VERSION, ref: repo.config.ref, base: c.base, tip: c.tip, tree: c.tree, runs: [], problems: [], removed: [] };
      for (const p of c.dirty) {
        const r = c.runs.get(p);
        const pr = c.problems.get(p);
        if (r) j.runs.push([r.path, r.blob, r.record]);
        else if (pr) j.problems.push([pr.path, pr.blob, pr.message]);
        else j.removed.push(p);
      }
      writeAtomic(journalFile(repo), JSON.stringify(j));
      return;
    }
    const data: CatalogFile = {
      version: VERSION,
      ref: repo.config.ref,
      tip: c.tip,
      tree: c.tree,
      runs: [...c.runs.values()].map((r) => [r.path, r.blob, r.record]),
      problems: [...c.problems.values()].map((p) => [p.path, p.blob, p.message]),
    };
    writeAtomic(cacheFile(repo), JSON.stringify(data));
    c.base = c.tip;
    c.dirty.clear();
    try {
      unlinkSync(journalFile(repo));
    } catch {
      /* none */
    }
  } catch {
    /* a cache we cannot write is only slower next time */
  }
}

const HEX_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const SHA256 = /^[0-9a-f]{64}$/;
const isObject = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === 'object' && !Array.isArray(v);
const isSize = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPrimitive = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** true when `p` is not a '/'-separated path inside the outputs folder as collectOutputs writes them. */
function badArtifactPath(p: unknown): boolean {
  if (typeof p !== 'string' || p === '' || /[\0\\\n\r]/.test(p)) return true;
  return p.split('/').some((seg) => seg === '' || seg === '.' || seg === '..');
}

/**
 * Why a run.json is not a usable record, or undefined when it is. A runs branch pulled from a
 * remote is written by anyone with push access, so every field that later becomes a git
 * argument (source.commit), a path (artifact paths and digests) or is printed with string
 * methods is checked here, once, for every reader (listing, getRun, the registry, packaging).
 */
export function recordProblem(r: unknown, folder: string): string | undefined {
  if (!isObject(r)) return 'run.json is not a JSON object';
  const o = r;
  if (typeof o.id !== 'string') return 'run.json has no "id"';
  if (o.id !== folder) return `run.json has id ${JSON.stringify(o.id)} but sits in folder ${JSON.stringify(folder)}`;
  if (typeof o.experiment !== 'string') return 'run.json has no "experiment"';
  if (typeof o.status !== 'string') return 'run.json has no "status"';
  if (!isObject(o.params) || !Object.values(o.params).every(isPrimitive)) return 'run.json "params" is not an object of strings, numbers and booleans';
  if (!isObject(o.metrics) || !Object.values(o.metrics).every((v) => v === null || typeof v === 'number')) return 'run.json "metrics" is not an object of numbers';
  if (!isObject(o.source) || typeof o.source.commit !== 'string' || !HEX_ID.test(o.source.commit)) return 'run.json "source.commit" is not a commit id';
  for (const k of ['tree', 'branch'] as const) if (o.source[k] !== undefined && typeof o.source[k] !== 'string') return `run.json "source.${k}" is not a string`;
  for (const k of ['host', 'user', 'error', 'startedAt', 'endedAt'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') return `run.json "${k}" is not a string`;
  if (!Array.isArray(o.artifacts)) return 'run.json "artifacts" is not a list';
  for (const [i, a] of o.artifacts.entries()) {
    if (!isObject(a)) return `run.json "artifacts[${i}]" is not an object`;
    if (badArtifactPath(a.path)) return `run.json "artifacts[${i}].path" is not a path inside the outputs folder`;
    if (typeof a.sha256 !== 'string' || !SHA256.test(a.sha256)) return `run.json "artifacts[${i}].sha256" is not a sha256 digest`;
    if (a.storage !== 'inline' && a.storage !== 'store') return `run.json "artifacts[${i}].storage" is neither "inline" nor "store"`;
    if (!isSize(a.size)) return `run.json "artifacts[${i}].size" is not a size in bytes`;
  }
  if (o.inputs !== undefined) {
    if (!isObject(o.inputs)) return 'run.json "inputs" is not an object';
    for (const [k, v] of Object.entries(o.inputs)) {
      if (!isObject(v) || typeof v.path !== 'string' || typeof v.sha256 !== 'string' || (v.size !== undefined && typeof v.size !== 'number')) return `run.json "inputs.${k}" is not {path, sha256, size}`;
    }
  }
  if (o.environment !== undefined && !(isObject(o.environment) && typeof o.environment.name === 'string' && typeof o.environment.digest === 'string' && ['image', 'imageDigest'].every((k) => (o.environment as Record<string, unknown>)[k] === undefined || typeof (o.environment as Record<string, unknown>)[k] === 'string'))) {
    return 'run.json "environment" is not {name, digest, image?}';
  }
  if (o.compute !== undefined && !(isObject(o.compute) && typeof o.compute.name === 'string' && typeof o.compute.type === 'string')) return 'run.json "compute" is not {name, type}';
  if (o.trigger !== undefined && !(isObject(o.trigger) && typeof o.trigger.kind === 'string' && ['ref', 'event'].every((k) => (o.trigger as Record<string, unknown>)[k] === undefined || typeof (o.trigger as Record<string, unknown>)[k] === 'string'))) {
    return 'run.json "trigger" is not {kind, ref?, event?}';
  }
  if (o.tags !== undefined) {
    if (!isObject(o.tags)) return 'run.json "tags" is not an object';
    for (const [k, v] of Object.entries(o.tags)) if (typeof v !== 'string') return `run.json "tags.${k}" is not a string`;
  }
  for (const k of ['durationMs', 'exitCode'] as const) if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'number') return `run.json "${k}" is not a number`;
  return undefined;
}

class MissingOldTree extends Error {}

interface Pair {
  path: string;
  depth: number;
  old?: string;
  new: string;
}

const join = (a: string, b: string) => (a ? `${a}/${b}` : b);

function removeUnder(c: Catalog, prefix: string): void {
  for (const m of [c.runs, c.problems] as Map<string, unknown>[]) {
    for (const k of m.keys()) {
      if (k === prefix || k.startsWith(prefix + '/')) {
        m.delete(k);
        c.dirty.add(k);
      }
    }
  }
}

/** Bring `c` (describing tree `c.tree`) to describe `newTree`. */
async function applyDiff(repo: RunsRepo, c: Catalog, newTree: string): Promise<void> {
  let toRead = new Map<string, string>(); // folder → run.json blob
  let frontier: Pair[] = [{ path: '', depth: 0, old: c.tree ?? undefined, new: newTree }];
  if (c.tree === null) {
    // Cold: no previous state to diff against.
    toRead = await listRunFiles(repo, newTree);
    frontier = [];
  }
  while (frontier.length) {
    const want = new Set<string>();
    for (const f of frontier) {
      want.add(f.new);
      if (f.old) want.add(f.old);
    }
    const oids = [...want];
    const got = await repo.readTrees(oids);
    const trees = new Map<string, TreeEntry[] | null>(oids.map((o, i) => [o, got[i]]));
    const next: Pair[] = [];
    for (const f of frontier) {
      const newT = trees.get(f.new);
      if (!newT) continue; // unreadable new tree: nothing below it can be listed
      let oldT: TreeEntry[] | undefined;
      if (f.old) {
        const t = trees.get(f.old);
        if (!t) throw new MissingOldTree();
        oldT = t;
      }
      const runNew = newT.find((e) => e.name === RUN_FILE && !isTreeMode(e.mode));
      const runOld = oldT?.find((e) => e.name === RUN_FILE && !isTreeMode(e.mode));
      if (runNew) {
        if (!runOld && oldT) removeUnder(c, f.path);
        const known = c.runs.get(f.path)?.blob ?? c.problems.get(f.path)?.blob;
        if (known !== runNew.oid) toRead.set(f.path, runNew.oid);
        continue; // runs do not nest
      }
      if (runOld) {
        c.runs.delete(f.path);
        c.problems.delete(f.path);
        c.dirty.add(f.path);
      }
      if (f.depth >= RUN_DEPTH) continue;
      const oldKids = new Map<string, string>();
      if (oldT && !runOld) for (const e of oldT) if (isTreeMode(e.mode)) oldKids.set(e.name, e.oid);
      const newNames = new Set<string>();
      for (const e of newT) {
        if (!isTreeMode(e.mode)) continue;
        newNames.add(e.name);
        const o = oldKids.get(e.name);
        if (o === e.oid) continue;
        next.push({ path: join(f.path, e.name), depth: f.depth + 1, old: o, new: e.oid });
      }
      for (const name of oldKids.keys()) if (!newNames.has(name)) removeUnder(c, join(f.path, name));
    }
    frontier = next;
  }
  const folders = [...toRead.keys()];
  // Parse each record as it arrives, while git is still sending the next ones.
  const pending = repo.cat.readEach(folders.map((f) => toRead.get(f)!));
  await Promise.all(
    folders.map((folder, i) =>
      pending[i].then((o) => {
        const blob = toRead.get(folder)!;
        c.runs.delete(folder);
        c.problems.delete(folder);
        c.dirty.add(folder);
        let rec: unknown;
        let problem: string | undefined;
        if (!o) problem = 'run.json is missing from the repository';
        else {
          try {
            rec = JSON.parse(o.data.toString('utf8'));
            problem = recordProblem(rec, folder.slice(folder.lastIndexOf('/') + 1));
          } catch (e) {
            problem = `run.json is not valid JSON: ${(e as Error).message}`;
          }
        }
        if (problem) c.problems.set(folder, { path: folder, blob, message: problem });
        else {
          // The resolved experiment spec is the bulk of a real record and no listing needs it:
          // keeping it out keeps the cache small (getRun returns the full record).
          const { spec: _spec, ...slim } = rec as RunRecord;
          c.runs.set(folder, { path: folder, blob, record: slim as RunRecord });
        }
      }),
    ),
  );
}

/** Every `run.json` below `tree`, from one `git ls-tree -r` (much faster than walking trees). */
function listRunFiles(repo: RunsRepo, tree: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const p = spawn('git', ['ls-tree', '-r', '-z', '--full-tree', tree], { cwd: repo.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c: Buffer) => chunks.push(c));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', (e) => reject(new GitmlError('IO', `cannot run git ls-tree: ${e.message}`)));
    p.on('close', (code) => {
      if (code !== 0) {
        reject(new GitmlError('RUNS_BRANCH_CORRUPT', `git ls-tree failed on the runs branch: ${err.trim()}`));
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const found = new Map<string, string>();
      const suffix = '/' + RUN_FILE;
      let start = 0;
      while (start < text.length) {
        let end = text.indexOf('\0', start);
        if (end < 0) end = text.length;
        const tab = text.indexOf('\t', start);
        if (tab > 0 && tab < end && text.endsWith(suffix, end)) {
          const file = text.slice(tab + 1, end);
          const folder = file.slice(0, -suffix.length);
          // "<mode> blob <oid>\t<path>"
          if (text.startsWith('blob ', start + 7) && folder.split('/').length <= RUN_DEPTH) found.set(folder, text.slice(start + 12, start + 52));
        }
        start = end + 1;
      }
      // Runs do not nest: a run.json inside another run's folder (e.g. an artifact) is not a run.
      const folders = [...found.keys()].sort();
      let last: string | undefined;
      for (const f of folders) {
        if (last !== undefined && f.startsWith(last + '/')) found.delete(f);
        else last = f;
      }
      resolve(found);
    });
  });
}

/** Catalogs already loaded by this process (the daemon and the UI list runs again and again). */
const memo = new Map<string, Catalog>();

/** Forget catalogs held in memory (benchmarks measure the on-disk cache with this). */
export function clearCatalogMemo(): void {
  memo.clear();
}

/** The catalog for the branch's current tip (from memory or the cache file when fresh). */
export async function loadCatalog(repo: RunsRepo, opts: { useCache?: boolean } = {}): Promise<Catalog> {
  const tip = repo.tip();
  const key = cacheFile(repo);
  const held = opts.useCache === false ? undefined : memo.get(key);
  if (held && held.tip === tip) return held;
  memo.delete(key); // `c` below may be updated in place; never leave a half-updated one behind
  const cached = opts.useCache === false ? null : (held ?? loadFile(repo));
  if (cached && cached.tip === tip) {
    memo.set(key, cached);
    return cached;
  }
  const empty = (): Catalog => ({ tip: null, tree: null, runs: new Map(), problems: new Map(), base: null, dirty: new Set() });
  if (!tip) {
    const c = empty();
    saveFile(repo, c);
    return c;
  }
  const tree = (await repo.readCommit(tip)).tree;
  let c = cached ?? empty();
  if (c.tree !== tree) {
    try {
      await applyDiff(repo, c, tree);
    } catch (e) {
      if (!(e instanceof MissingOldTree)) throw e;
      c = empty();
      await applyDiff(repo, c, tree);
    }
  }
  c.tip = tip;
  c.tree = tree;
  saveFile(repo, c);
  memo.set(key, c);
  return c;
}
