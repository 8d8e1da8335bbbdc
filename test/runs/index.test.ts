/**
 * The runs index (core/runs/runs-index.ts + catalog.ts) is never the truth: every `gitml runs`
 * query of the tests answers the same as the branch read with plain git and filtered record by
 * record, through each state of the index (built cold, a new process reading the snapshot, the
 * journal on top of it, runs re-recorded, the branch rewound and rewritten), and an index from
 * another version, damaged, truncated or cut off by a killed writer is rebuilt with one notice.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, truncateSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { closeRunStore, listRuns, getRun, recordRun, type ListRunsOptions } from '../../core/runs/store.js';
import { listRunsJson } from '../../core/runs/list.js';
import type { RunRecord } from '../../core/runs/types.js';
import { clearCatalogMemo } from '../../core/runs/catalog.js';
import { matches, parseWhere, sorter } from '../../core/runs/query.js';
import { clearObjectCaches } from '../../core/runs/backend.js';
import { rec } from './helpers.js';
import { INDEX_VERSION } from '../../core/runs/runs-index.js';
import { BIN, makeRepo, git, gitml } from '../support/repo.js';

const INDEX = 'runs-index-refs_heads_runs.idx';

type Query = Omit<ListRunsOptions, 'dir' | 'config'>;

/** Every listRuns / `gitml runs` query found in the tests, and some that reach every column kind. */
const QUERIES: Query[] = [
  {},
  { limit: 1 },
  { experiment: 'train' },
  { experiment: 'tune' },
  { experiment: 'other', where: ['metrics.loss<1'] },
  { status: 'failed' },
  { status: 'failed, completed' },
  { branch: 'dev' },
  { commit: 'aaa' },
  { commit: '0000' },
  { experiment: 'train', where: ['params.C>=1', 'params.kernel=rbf'], sort: '-metrics.accuracy' },
  { sort: '-metrics.accuracy', limit: 2 },
  { sort: 'metrics.accuracy', limit: 1 },
  { experiment: 'train', where: ['metrics.accuracy>0.55'], sort: '-metrics.accuracy' },
  { where: ['params.lr>=0.5'], sort: '-metrics.loss' },
  { where: ['tags.team~vi'] },
  { where: ['source.branch!=main'], sort: 'durationMs' },
  { where: ['params.flag=true'], sort: '-startedAt', limit: 5 },
  { where: ['metrics.loss!=0.5'], sort: 'params.kernel' },
  { where: ['params.lr=0.5'] },
  { where: ['exitCode=1'] },
  { where: ['inputs.data~csv'], sort: '-metrics.accuracy' },
  { where: ['environment.name=py'], sort: 'id' },
  { sort: '-params.C', limit: 7 },
  { sort: 'tags.team', limit: 30 },
  { where: ['metrics.accuracy>=0.3', 'metrics.accuracy<0.8'], sort: 'metrics.loss', limit: 0 },
  { sort: 'source', limit: 4 },
  // Columns with postings (strings alone), several strings, a missing value passing the test.
  { where: ['params.kernel=rbf'], sort: 'metrics.loss' },
  { status: 'completed', where: ['params.kernel!=poly'], limit: 9 },
  { where: ['tags.team!=vision'] },
  { experiment: 'nope' },
  { where: ['params.C>0.5', 'metrics.accuracy<=0.5'], sort: '-params.C', limit: 3 },
];

/** The same query without any index: run.json files read with plain git, filtered and sorted record by record. */
function branchRecords(dir: string): RunRecord[] {
  const files = execFileSync('git', ['ls-tree', '-r', '--name-only', 'runs'], { cwd: dir, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.endsWith('/run.json'));
  // One `git cat-file --batch` for all of them: "<oid> blob <size>\n<data>\n" each.
  const out = execFileSync('git', ['cat-file', '--batch'], { cwd: dir, input: files.map((f) => `runs:${f}`).join('\n') + '\n', maxBuffer: 1 << 28 });
  const all: RunRecord[] = [];
  let at = 0;
  while (at < out.length) {
    const nl = out.indexOf(10, at);
    const size = Number(out.toString('utf8', at, nl).split(' ')[2]);
    const { spec: _s, ...slim } = JSON.parse(out.toString('utf8', nl + 1, nl + 1 + size)) as RunRecord;
    all.push(slim as RunRecord);
    at = nl + 1 + size + 1;
  }
  return all;
}

function reference(dir: string, q: Query, all = branchRecords(dir)): { ids: string[]; total: number; records: RunRecord[] } {
  const conds = (q.where ?? []).map(parseWhere);
  const statuses = q.status ? new Set(q.status.split(',').map((s) => s.trim())) : undefined;
  const head = git(dir, 'rev-parse', 'HEAD');
  const commit = q.commit === 'HEAD' ? head : q.commit;
  let runs = all.filter(
    (r) =>
      (q.experiment === undefined || r.experiment === q.experiment) &&
      (!statuses || statuses.has(r.status)) &&
      (q.branch === undefined || r.source.branch === q.branch) &&
      (commit === undefined || r.source.commit.startsWith(commit)) &&
      conds.every((c) => matches(r, c)),
  );
  runs.sort((a, b) => (a.id < b.id ? 1 : -1));
  if (q.sort) runs.sort(sorter(q.sort));
  const total = runs.length;
  if (q.limit !== undefined) runs = runs.slice(0, q.limit);
  return { ids: runs.map((r) => r.id), total, records: runs };
}

async function sameAnswers(dir: string, label: string): Promise<void> {
  const all = branchRecords(dir);
  for (const q of QUERIES) {
    const want = reference(dir, q, all);
    const got = await listRuns({ dir, ...q });
    expect({ label, q, ids: got.runs.map((r) => r.id), total: got.total }).toEqual({ label, q, ids: want.ids, total: want.total });
    expect(got.runs).toEqual(want.records);
    // `gitml runs --json`: the stored JSON of the same runs, in the same order.
    const json = await listRunsJson({ dir, ...q });
    expect({ label, q, runs: json.runs.map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as unknown), total: json.total }).toEqual({ label, q, runs: want.records, total: want.total });
  }
}

let n = 0;
function variedRun(over: Partial<RunRecord> = {}): RunRecord {
  const i = n++;
  const r = rec({
    experiment: ['train', 'tune', 'other'][i % 3],
    status: i % 5 === 0 ? 'failed' : 'completed',
    params: { C: (i % 4) * 0.5, kernel: ['rbf', 'linear', 'poly'][i % 3], lr: i % 2 ? 0.5 : '0.5', ...(i % 3 === 0 ? { flag: i % 2 === 0 } : {}) },
    metrics: { accuracy: ((i * 37) % 100) / 100, loss: i % 6 === 0 ? 0.5 : ((i * 13) % 50) / 50 },
    source: { commit: (i % 2 ? 'aaa' : 'bbb').padEnd(40, String(i % 10)), tree: 'e'.repeat(40), branch: i % 4 === 0 ? 'dev' : 'main' },
    durationMs: (i * 7919) % 1000,
    startedAt: new Date(Date.UTC(2026, 0, 1 + (i % 28))).toISOString(),
    exitCode: i % 5 === 0 ? 1 : 0,
    ...(i % 2 ? { tags: { team: i % 4 === 1 ? 'vision' : 'nlp' } } : {}),
    ...(i % 3 === 1 ? { inputs: { data: { path: i % 2 ? 'data/a.csv' : 'data/b.parquet', sha256: 'f'.repeat(64), size: i } } } : {}),
    ...(i % 7 === 0 ? { environment: { name: i % 2 ? 'py' : 'conda', digest: 'sha256:' + 'a'.repeat(64) } } : {}),
    ...over,
  });
  return r;
}

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function repo(): string {
  const d = makeRepo({ 'README.md': 'x\n' });
  dirs.push(d);
  return d;
}

const fresh = () => {
  clearCatalogMemo(); // as a new process would: read the index files
  clearObjectCaches();
};

describe('every gitml runs query answers the same with and without the index', () => {
  let dir: string;
  const recorded: RunRecord[] = [];
  beforeAll(async () => {
    dir = repo();
    for (let k = 0; k < 36; k++) {
      const r = variedRun();
      recorded.push(r);
      await recordRun({ dir, record: r });
    }
  }, 120_000);

  test('cold, then from the snapshot in a new process, then with the journal on top', async () => {
    fresh();
    rmSync(path.join(dir, '.git/gitml'), { recursive: true, force: true });
    await sameAnswers(dir, 'cold');
    expect(existsSync(path.join(dir, '.git/gitml/cache', INDEX))).toBe(true);
    fresh();
    await sameAnswers(dir, 'snapshot');
    for (let k = 0; k < 6; k++) await recordRun({ dir, record: variedRun() });
    // Re-recorded runs replace their snapshot rows.
    await recordRun({ dir, record: { ...recorded[0], status: 'completed', metrics: { accuracy: 0.99, loss: 0.01 } } });
    await recordRun({ dir, record: { ...recorded[3], params: { C: 9, kernel: 'linear', lr: 2 } } });
    await sameAnswers(dir, 'in process, after new runs');
    fresh();
    expect(existsSync(path.join(dir, '.git/gitml/cache', `${INDEX}.journal`))).toBe(true);
    await sameAnswers(dir, 'snapshot + journal');
    // Deleting the index changes no answer.
    fresh();
    rmSync(path.join(dir, '.git/gitml'), { recursive: true, force: true });
    await sameAnswers(dir, 'index deleted');
  }, 120_000);

  test('a rewound branch and a rewritten one (old history garbage-collected)', async () => {
    await listRuns({ dir });
    git(dir, 'update-ref', 'refs/heads/runs', 'runs~4');
    await sameAnswers(dir, 'rewound, in process');
    fresh();
    await sameAnswers(dir, 'rewound, new process');
    // Rewrite: one commit holding the tree of runs~10, history dropped and pruned.
    const tree = git(dir, 'rev-parse', 'runs~10^{tree}');
    const commit = execFileSync('git', ['commit-tree', tree, '-m', 'rewritten'], { cwd: dir, encoding: 'utf8' }).trim();
    git(dir, 'update-ref', 'refs/heads/runs', commit);
    git(dir, 'reflog', 'expire', '--expire=now', '--all');
    git(dir, 'gc', '--prune=now', '--quiet');
    fresh();
    await sameAnswers(dir, 'rewritten');
  }, 120_000);
});

describe('faults in the index files', () => {
  let dir: string;
  let cache: string;
  beforeAll(async () => {
    dir = repo();
    cache = path.join(dir, '.git/gitml/cache');
    for (let k = 0; k < 12; k++) await recordRun({ dir, record: variedRun() });
  }, 60_000);

  async function noticesOf(): Promise<string[]> {
    fresh();
    return (await listRuns({ dir, sort: '-metrics.accuracy', limit: 3 })).notices ?? [];
  }

  test('an index from another format version is rebuilt, said once', async () => {
    await noticesOf();
    const file = path.join(cache, INDEX);
    const buf = readFileSync(file);
    const at = buf.indexOf(`"version":${INDEX_VERSION},`);
    expect(at).toBeGreaterThan(0);
    buf.write(`"version":${INDEX_VERSION + 1},`, at); // same length: only the version differs
    writeFileSync(file, buf);
    const said = await noticesOf();
    expect(said).toHaveLength(1);
    expect(await noticesOf()).toEqual([]);
    await sameAnswers(dir, 'after a version change');
  });

  test('an index without postings (written by an earlier gitml) is read as it is: same answers, no rebuild', async () => {
    await noticesOf();
    const file = path.join(cache, INDEX);
    const buf = readFileSync(file);
    const head = buf.subarray(0, 12 + buf.readUInt32LE(8)).toString('latin1');
    expect(head).toContain('"posts":');
    // Same length, so the file stays whole: only the postings are gone from the header.
    writeFileSync(file, Buffer.concat([Buffer.from(head.replaceAll('"posts":', '"postx":'), 'latin1'), buf.subarray(head.length)]));
    const before = statSync(file).mtimeMs;
    expect(await noticesOf()).toEqual([]);
    await sameAnswers(dir, 'without postings');
    expect(readFileSync(file).subarray(0, 12 + buf.readUInt32LE(8)).toString('latin1')).not.toContain('"posts":');
    expect(statSync(file).mtimeMs).toBe(before);
  });

  test('the JSON cache of an older gitml is removed and replaced, said once', async () => {
    writeFileSync(path.join(cache, 'runs-index-refs_heads_runs.json'), JSON.stringify({ version: 3, ref: 'refs/heads/runs', tip: null, tree: null, runs: [], problems: [] }));
    expect(await noticesOf()).toHaveLength(1);
    expect(existsSync(path.join(cache, 'runs-index-refs_heads_runs.json'))).toBe(false);
    expect(await noticesOf()).toEqual([]);
  });

  /** Flip one byte at `frac` of the file (header, a column, the rows...). */
  function flip(frac: number): void {
    const file = path.join(cache, INDEX);
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(1);
    const at = Math.min(size - 1, Math.floor(size * frac));
    readSync(fd, b, 0, 1, at);
    b[0] ^= 0x5a;
    writeFileSync(file, Buffer.concat([readFileSync(file).subarray(0, at), b, readFileSync(file).subarray(at + 1)]));
    closeSync(fd);
  }

  test.each([0.02, 0.3, 0.5, 0.7, 0.95, 0.999])('a byte flipped at %d of the file: detected, rebuilt, same answers', async (frac) => {
    await noticesOf(); // a good index
    const before = readFileSync(path.join(cache, INDEX));
    flip(frac);
    fresh();
    // Every query reads a different part of the file; whichever finds the damage rebuilds.
    const said: string[] = [];
    const all = branchRecords(dir);
    for (const q of QUERIES) {
      const got = await listRuns({ dir, ...q });
      said.push(...(got.notices ?? []));
      expect(got.runs.map((r) => r.id)).toEqual(reference(dir, q, all).ids);
      fresh();
    }
    // A flip in the header's padding or an unused dictionary entry may go unnoticed; one that matters is said once.
    expect(said.length).toBeLessThanOrEqual(1);
    if (said.length) expect(readFileSync(path.join(cache, INDEX)).equals(before)).toBe(false);
  });

  test('a truncated index, a torn journal: detected, rebuilt, same answers', async () => {
    await noticesOf();
    const file = path.join(cache, INDEX);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(await noticesOf()).toHaveLength(1);
    await sameAnswers(dir, 'after truncation');
    await recordRun({ dir, record: variedRun() });
    await listRuns({ dir }); // writes a journal
    const j = path.join(cache, `${INDEX}.journal`);
    truncateSync(j, Math.floor(statSync(j).size / 2));
    fresh();
    await sameAnswers(dir, 'after a torn journal');
    writeFileSync(j, readFileSync(j, 'utf8').replace(/"completed"/, '"failed"   '));
    fresh();
    await sameAnswers(dir, 'after an edited journal');
  });

  test('writers killed at random points while building the index leave an index that answers the same', async () => {
    let killedRunning = 0;
    for (let k = 0; k < 6; k++) {
      rmSync(path.join(dir, '.git/gitml'), { recursive: true, force: true });
      const child = spawn(process.execPath, [BIN, 'runs', '--json'], { cwd: dir, stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      // Kill as soon as a temp file of the index appears, or at a moment spread over start-up and the build.
      const deadline = Date.now() + 10_000;
      const at = Date.now() + 120 + k * 50;
      while (child.exitCode === null && Date.now() < deadline) {
        const tmp = existsSync(cache) && readdirSync(cache).some((f) => f.endsWith('.tmp'));
        if (tmp || Date.now() > at) {
          if (child.kill('SIGKILL')) killedRunning++;
          break;
        }
      }
      await exited;
      fresh();
      await sameAnswers(dir, `killed writer ${k}`);
    }
    expect(killedRunning).toBeGreaterThan(0);
  }, 120_000);

  test('what a writer killed mid-write leaves (a partial temp file next to the index) changes nothing and is swept', async () => {
    await noticesOf();
    const file = path.join(cache, INDEX);
    const whole = readFileSync(file);
    const tmp = `${file}.99999.deadbeef.tmp`;
    writeFileSync(tmp, whole.subarray(0, whole.length >> 1));
    const old = new Date(Date.now() - 120_000);
    utimesSync(tmp, old, old);
    expect(await noticesOf()).toEqual([]);
    await sameAnswers(dir, 'next to a partial temp file');
    rmSync(file); // the next snapshot write sweeps temp files of dead writers
    await noticesOf();
    expect(existsSync(tmp)).toBe(false);
    // getRun by prefix goes through the same index.
    const one = (await listRuns({ dir, limit: 1 })).runs[0];
    expect((await getRun({ dir, id: one.id.slice(0, 14) })).record.id).toBe(one.id);
  });

  test('gitml runs prints a notice on stderr once, and the same rows', async () => {
    const file = path.join(cache, INDEX);
    await noticesOf();
    const good = gitml(dir, ['runs', '--json', '--sort', '-metrics.accuracy', '--limit', '3']);
    truncateSync(file, 100);
    const bad = gitml(dir, ['runs', '--json', '--sort', '-metrics.accuracy', '--limit', '3']);
    expect(bad.code).toBe(0);
    expect(bad.stdout).toBe(good.stdout);
    expect(bad.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(gitml(dir, ['runs', '--json', '--sort', '-metrics.accuracy', '--limit', '3']).stderr).toBe('');
  });
});
