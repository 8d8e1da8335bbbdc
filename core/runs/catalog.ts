/**
 * The derived index of every run on the branch, kept in `.git/gitml/cache/` and keyed by the
 * branch tip. The branch is the truth; the index only saves reading it.
 *
 * On disk it is two files: a columnar snapshot of every run at some tip (runs-index.ts: a query
 * reads only the columns it filters and sorts on, then the rows it returns), and a small journal
 * of the runs changed since that snapshot. On a new tip the journal is brought up to date by
 * diffing the known tree against the new one (only changed subtrees are read, so the cost follows
 * what changed, not how many runs exist); past JOURNAL_MAX (1,000) changed folders the snapshot is
 * rewritten. Both files are written to a temp file and renamed, so a reader sees a whole old file
 * or a whole new one; a journal applies only to the snapshot it was written against (its id).
 * Anything unreadable (another format version, a bad checksum, a truncated file) is rebuilt from
 * the branch, said once in `notices`; so is a rewritten branch whose old tree is gone.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { GitmlError } from '../errors.js';
import type { RunRecord } from './types.js';
import type { RunsRepo } from './backend.js';
import { isTreeMode, type TreeEntry } from './git/objects.js';
import type { GitObject } from './git/catfile.js';
import { RUN_DEPTH, RUN_FILE } from './layout.js';
import { childProcess, randomHex } from './git/builtins.js';
import { INDEX_VERSION, IndexFile, IndexFileError, writeIndexFile, type IndexEntry } from './runs-index.js';

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

type Entry = CatalogRun | CatalogProblem;
const isRun = (e: Entry): e is CatalogRun => (e as CatalogRun).record !== undefined;

export interface Catalog {
  tip: string | null;
  tree: string | null;
  /** The snapshot on disk (null: none usable). */
  base: IndexFile | null;
  /** Problems of the snapshot, by folder. */
  baseProblems: Map<string, CatalogProblem>;
  /** Folders changed since the snapshot: their entry, or null when removed. */
  over: Map<string, Entry | null>;
  /** Rows of the snapshot that `over` replaces or removes (computed when first needed). */
  shadowCache?: Set<number>;
  /** What the last load had to say (an index rebuilt, and why); taken by the first reader. */
  notices: string[];
}

/**
 * Past this many changed folders the snapshot is rewritten and the journal dropped. Every new
 * process parses the whole journal before its first answer: measured on a loaded 2-core machine,
 * a journal of 5,000 runs took 248 ms to check and parse, 1,000 runs 36 ms, 500 runs 8.5 ms.
 */
const JOURNAL_MAX = 1000;

interface JournalFile {
  version: number;
  ref: string;
  /** Id of the snapshot this journal sits on. */
  base: string;
  tip: string | null;
  tree: string | null;
  runs: Array<[string, string, RunRecord]>;
  problems: Array<[string, string, string]>;
  removed: string[];
}

const fileStem = (repo: RunsRepo) => path.join(repo.paths.commondir, 'gitml', 'cache', `runs-index-${repo.config.ref.replace(/[^A-Za-z0-9._-]/g, '_')}`);

/** The snapshot file of the runs index (the journal sits next to it). */
export function cacheFile(repo: RunsRepo): string {
  return `${fileStem(repo)}.idx`;
}

export const journalFile = (repo: RunsRepo) => `${cacheFile(repo)}.journal`;

/** Files of the JSON cache earlier gitml versions kept. */
const legacyFiles = (repo: RunsRepo) => [`${fileStem(repo)}.json`, `${fileStem(repo)}.journal.json`];

const emptyCatalog = (notices: string[] = []): Catalog => ({ tip: null, tree: null, base: null, baseProblems: new Map(), over: new Map(), notices });

function readJournal(repo: RunsRepo, baseId: string): JournalFile | null {
  let text: string;
  try {
    text = readFileSync(journalFile(repo), 'utf8');
  } catch {
    return null;
  }
  // "<crc32 of the JSON>\n<JSON>": a torn or bit-flipped journal is noticed, not trusted.
  const nl = text.indexOf('\n');
  const body = text.slice(nl + 1);
  if (nl < 0 || Number(text.slice(0, nl)) !== crc32(body)) return null;
  try {
    const j = JSON.parse(body) as JournalFile;
    return j.version === INDEX_VERSION && j.ref === repo.config.ref && j.base === baseId ? j : null;
  } catch {
    return null;
  }
}

/** The catalog as the files on disk describe it (an empty one when there are none or they are unusable). */
function loadFiles(repo: RunsRepo): Catalog {
  const notices: string[] = [];
  const legacy = legacyFiles(repo).filter((f) => existsSync(f));
  if (legacy.length) {
    for (const f of legacy) {
      try {
        unlinkSync(f);
      } catch {
        /* another process removed it */
      }
    }
    notices.push('the runs cache of an older gitml was replaced by the runs index (built once from the branch)');
  }
  let base: IndexFile;
  try {
    base = IndexFile.open(cacheFile(repo));
  } catch (e) {
    if (e instanceof IndexFileError) notices.push(e.reason === 'version' ? `the runs index was ${e.message}; rebuilt from the branch` : damageNotice(e));
    return emptyCatalog(notices);
  }
  const h = base.header;
  if (h.ref !== repo.config.ref) {
    base.close();
    return emptyCatalog(notices);
  }
  const c: Catalog = { tip: h.tip, tree: h.tree, base, baseProblems: new Map(h.problems.map(([p, blob, message]) => [p, { path: p, blob, message }])), over: new Map(), notices };
  const j = readJournal(repo, h.id);
  if (j) {
    for (const p of j.removed) c.over.set(p, null);
    for (const [p, blob, record] of j.runs) c.over.set(p, { path: p, blob, record });
    for (const [p, blob, message] of j.problems) c.over.set(p, { path: p, blob, message });
    c.tip = j.tip;
    c.tree = j.tree;
  }
  return c;
}

/** The snapshot row holding folder `p`, or -1 (rows are sorted by id, newest first). */
export function baseRow(c: Catalog, p: string): number {
  const b = c.base;
  if (!b || b.n === 0) return -1;
  const id = p.slice(p.lastIndexOf('/') + 1);
  // A new run's id is not in the snapshot: found so without reading the paths (several MB at 100,000 runs).
  const lo = b.lowerBound(id);
  if (lo >= b.n || b.idAt(lo) !== id) return -1;
  const paths = b.paths();
  for (let i = lo; i < b.n && b.idAt(i) === id; i++) if (paths[i] === p) return i;
  return -1;
}

/** Snapshot rows replaced or removed by the journal. */
export function shadowed(c: Catalog): Set<number> {
  if (!c.shadowCache) {
    c.shadowCache = new Set();
    for (const p of c.over.keys()) {
      const i = baseRow(c, p);
      if (i >= 0) c.shadowCache.add(i);
    }
  }
  return c.shadowCache;
}

function blobOf(c: Catalog, p: string): string | undefined {
  if (c.over.has(p)) return c.over.get(p)?.blob;
  const pr = c.baseProblems.get(p);
  if (pr) return pr.blob;
  const i = baseRow(c, p);
  return i >= 0 ? c.base!.blob(i) : undefined;
}

function setEntry(c: Catalog, p: string, e: Entry | null): void {
  c.over.set(p, e);
  c.shadowCache = undefined;
}

function removeUnder(c: Catalog, prefix: string): void {
  const under = (k: string) => k === prefix || k.startsWith(prefix + '/');
  const gone = new Set<string>();
  for (const k of c.over.keys()) if (under(k)) gone.add(k);
  for (const k of c.baseProblems.keys()) if (under(k)) gone.add(k);
  if (c.base) for (const k of c.base.paths()) if (under(k)) gone.add(k);
  for (const k of gone) setEntry(c, k, null);
}

/** Every run of the catalog: `base` rows (by index) not shadowed, and the journal's runs. */
export function overRuns(c: Catalog): CatalogRun[] {
  const out: CatalogRun[] = [];
  for (const e of c.over.values()) if (e && isRun(e)) out.push(e);
  return out;
}

export function catalogProblems(c: Catalog): CatalogProblem[] {
  const out: CatalogProblem[] = [];
  for (const [p, pr] of c.baseProblems) if (!c.over.has(p)) out.push(pr);
  for (const e of c.over.values()) if (e && !isRun(e)) out.push(e);
  return out;
}

/** Number of runs (not problems) the catalog holds. */
export function runCount(c: Catalog): number {
  return (c.base?.n ?? 0) - shadowed(c).size + overRuns(c).length;
}

/** Runs whose id starts with `prefix`: their folder and id. */
export function runsWithIdPrefix(c: Catalog, prefix: string): Array<{ path: string; id: string }> {
  const out: Array<{ path: string; id: string }> = [];
  if (c.base && c.base.n) {
    const ids = c.base.ids();
    const paths = c.base.paths();
    const sh = shadowed(c);
    ids.forEach((id, i) => {
      if (id.startsWith(prefix) && !sh.has(i)) out.push({ path: paths[i], id });
    });
  }
  for (const r of overRuns(c)) if (r.record.id.startsWith(prefix)) out.push({ path: r.path, id: r.record.id });
  return out;
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomHex(4)}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

function saveFile(repo: RunsRepo, c: Catalog): void {
  try {
    if (c.base && c.over.size <= JOURNAL_MAX) {
      const j: JournalFile = { version: INDEX_VERSION, ref: repo.config.ref, base: c.base.header.id, tip: c.tip, tree: c.tree, runs: [], problems: [], removed: [] };
      for (const [p, e] of c.over) {
        if (!e) j.removed.push(p);
        else if (isRun(e)) j.runs.push([e.path, e.blob, e.record]);
        else j.problems.push([e.path, e.blob, e.message]);
      }
      const body = JSON.stringify(j);
      writeAtomic(journalFile(repo), `${crc32(body)}\n${body}`);
      return;
    }
    // A new snapshot: every run not replaced, plus the journal's.
    const entries: IndexEntry[] = [];
    if (c.base && c.base.n) {
      const sh = shadowed(c);
      const recs = c.base.allRecords();
      const paths = c.base.paths();
      for (let i = 0; i < c.base.n; i++) if (!sh.has(i)) entries.push({ path: paths[i], blob: c.base.blob(i), record: recs[i] });
    }
    entries.push(...overRuns(c));
    const problems = catalogProblems(c).map((p): [string, string, string] => [p.path, p.blob, p.message]);
    const file = cacheFile(repo);
    const written = writeIndexFile(file, { ref: repo.config.ref, tip: c.tip, tree: c.tree, problems }, entries);
    try {
      unlinkSync(journalFile(repo));
    } catch {
      /* none */
    }
    c.base?.close();
    c.base = written;
    c.baseProblems = new Map(c.base.header.problems.map(([p, blob, message]) => [p, { path: p, blob, message }]));
    c.over = new Map();
    c.shadowCache = undefined;
  } catch (e) {
    // An index we cannot write (or that another process replaced under us) is only slower next time.
    if (e instanceof IndexFileError || (e as NodeJS.ErrnoException)?.code) return;
    throw e;
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

/** Bring `c` (describing tree `c.tree`) to describe `newTree`. */
async function applyDiff(repo: RunsRepo, c: Catalog, newTree: string): Promise<void> {
  let toRead = new Map<string, string>(); // folder → run.json blob
  let frontier: Pair[] = [{ path: '', depth: 0, old: c.tree ?? undefined, new: newTree }];
  // Changed folders at the depth of a run: their run.json is read straight through `<tree>:run.json`
  // (one round trip to git for the tree and the record), and what the old tree held there is what
  // the catalog holds (it describes the old tree; no run sits above these folders, or the walk
  // would have stopped there).
  const leaves: Pair[] = [];
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
        const known = blobOf(c, f.path);
        if (known !== runNew.oid) toRead.set(f.path, runNew.oid);
        continue; // runs do not nest
      }
      if (runOld) setEntry(c, f.path, null);
      if (f.depth >= RUN_DEPTH) continue;
      const oldKids = new Map<string, string>();
      if (oldT && !runOld) for (const e of oldT) if (isTreeMode(e.mode)) oldKids.set(e.name, e.oid);
      const newNames = new Set<string>();
      for (const e of newT) {
        if (!isTreeMode(e.mode)) continue;
        newNames.add(e.name);
        const o = oldKids.get(e.name);
        if (o === e.oid) continue;
        (f.depth + 1 === RUN_DEPTH ? leaves : next).push({ path: join(f.path, e.name), depth: f.depth + 1, old: o, new: e.oid });
      }
      for (const name of oldKids.keys()) if (!newNames.has(name)) removeUnder(c, join(f.path, name));
    }
    frontier = next;
  }
  const folders = [...toRead.keys()];
  // Parse each record as it arrives, while git is still sending the next ones.
  const pending = repo.cat.readEach([...folders.map((f) => toRead.get(f)!), ...leaves.map((l) => `${l.new}:${RUN_FILE}`)]);
  const settle = (folder: string, blob: string, o: GitObject | null) => {
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
    if (problem) setEntry(c, folder, { path: folder, blob, message: problem });
    else {
      // The resolved experiment spec is the bulk of a real record and no listing needs it:
      // keeping it out keeps the cache small (getRun returns the full record).
      const { spec: _spec, ...slim } = rec as RunRecord;
      setEntry(c, folder, { path: folder, blob, record: slim as RunRecord });
    }
  };
  await Promise.all([
    ...folders.map((folder, i) => pending[i].then((o) => settle(folder, toRead.get(folder)!, o))),
    ...leaves.map((leaf, k) =>
      pending[folders.length + k].then((o) => {
        if (o && o.type === 'blob') {
          if (blobOf(c, leaf.path) !== o.oid) settle(leaf.path, o.oid, o);
        } else if (blobOf(c, leaf.path) !== undefined) setEntry(c, leaf.path, null);
      }),
    ),
  ]);
}

/** Every `run.json` below `tree`, from one `git ls-tree -r` (much faster than walking trees). */
function listRunFiles(repo: RunsRepo, tree: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const p = childProcess().spawn('git', ['ls-tree', '-r', '-z', '--full-tree', tree], { cwd: repo.dir, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Forget catalogs held in memory (tests and benchmarks read the files as a new process would). */
export function clearCatalogMemo(): void {
  for (const c of memo.values()) c.base?.close();
  memo.clear();
}

/**
 * Drop the index of `repo` (files and memory) after damage was found while reading it; the next
 * loadCatalog rebuilds it from the branch.
 */
export function discardIndex(repo: RunsRepo): void {
  const key = cacheFile(repo);
  memo.get(key)?.base?.close();
  memo.delete(key);
  for (const f of [key, journalFile(repo)]) {
    try {
      unlinkSync(f);
    } catch {
      /* gone already */
    }
  }
}

/** A notice for damage found in the index while a query read it. */
export const damageNotice = (e: IndexFileError) => `the runs index was damaged (${e.message}); rebuilt from the branch`;

/** The catalog for the branch's current tip (from memory or the index files when fresh). */
export async function loadCatalog(repo: RunsRepo, opts: { useCache?: boolean } = {}): Promise<Catalog> {
  const tip = repo.tip();
  const key = cacheFile(repo);
  const held = opts.useCache === false ? undefined : memo.get(key);
  if (held && held.tip === tip) return held;
  memo.delete(key); // `c` below is updated in place; never leave a half-updated one behind
  let c = opts.useCache === false ? emptyCatalog() : (held ?? loadFiles(repo));
  if (c.tip === tip && (c.base || !tip)) {
    memo.set(key, c);
    return c;
  }
  if (!tip) {
    c.base?.close();
    const e = emptyCatalog(c.notices);
    memo.set(key, e);
    return e;
  }
  const tree = (await repo.readCommit(tip)).tree;
  if (c.tree !== tree) {
    try {
      await applyDiff(repo, c, tree);
    } catch (e) {
      if (!(e instanceof MissingOldTree)) throw e;
      // A rewritten branch whose old tree is gone: start over from the new tree.
      c.base?.close();
      c = emptyCatalog(c.notices);
      await applyDiff(repo, c, tree);
    }
  }
  c.tip = tip;
  c.tree = tree;
  if (opts.useCache !== false) saveFile(repo, c);
  memo.set(key, c);
  return c;
}
