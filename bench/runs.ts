/**
 * Runs store benchmark: `npx tsx bench/runs.ts [--sizes 10000,100000] [--records 40] [--metric-points 1000000]
 * [--no-concurrent] [--keep]`.
 *
 * For each size it builds a repository holding that many synthetic runs (10 params, 10 metrics
 * with series, logs; written with `git fast-import`, not through recordRun) and measures:
 *   - recording one run (median / p90 over --records calls, in-process);
 *   - listing every run with params and final metrics, cold (no cache, fresh object caches)
 *     and warm (cache fresh), against the baseline of `git cat-file --batch` reading the same
 *     run.json records by path;
 *   - 8 processes x 125 runs recording concurrently: all 1,000 present, throughput;
 *   - recording one run with a 1,000,000-point JSON-lines metrics file (vs git hash-object -w).
 * Figures are printed as ratios to the baseline measured in the same run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordRun, listRuns, getRun, runStoreConfig, closeRunStore, newRunId, type RunStoreConfig } from '../core/runs/store.js';
import type { RunRecord } from '../core/runs/types.js';
import { clearObjectCaches, openRuns } from '../core/runs/backend.js';
import { cacheFile, clearCatalogMemo } from '../core/runs/catalog.js';
import { RUN_ID_ALPHABET as RUN_ALPHABET_FOR_BENCH } from '../core/runs/id.js';
import { runFolder as runFolderFor } from '../core/runs/layout.js';

const here = fileURLToPath(import.meta.url);
// Timings without a background `git gc --auto` (writer children inherit this).
process.env.GITML_AUTO_GC = '0';
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};

const EXPERIMENTS = ['train', 'tune', 'evaluate', 'baseline', 'ablation'];
const METRICS = ['accuracy', 'loss', 'f1', 'precision', 'recall', 'auc', 'val_loss', 'val_accuracy', 'rmse', 'mae'];
const PARAMS = ['C', 'gamma', 'kernel', 'max_depth', 'n_estimators', 'learning_rate', 'batch_size', 'epochs', 'seed', 'dropout'];

function syntheticRecord(id: string, experiment: string, i: number, startedAt: number): RunRecord {
  const params: Record<string, string | number | boolean> = {};
  PARAMS.forEach((p, k) => (params[p] = k === 2 ? ['rbf', 'linear', 'poly'][i % 3] : Math.round(((i * (k + 7)) % 1000) / 10) / 10));
  const metrics: Record<string, number> = {};
  METRICS.forEach((m, k) => (metrics[m] = ((i * 7919 + k * 104729) % 10000) / 10000));
  return {
    schema: 1,
    id,
    experiment,
    status: i % 17 === 0 ? 'failed' : 'completed',
    params,
    metrics,
    source: { commit: ((i % 50) * 7).toString(16).padStart(40, 'a'), tree: 'b'.repeat(40), branch: i % 3 ? 'main' : 'dev' },
    inputs: {},
    compute: { name: 'local', type: 'local' },
    host: 'bench',
    startedAt: new Date(startedAt).toISOString(),
    endedAt: new Date(startedAt + 60_000).toISOString(),
    durationMs: 60_000,
    exitCode: i % 17 === 0 ? 1 : 0,
    artifacts: [],
  };
}

/** An id for a given time without going through newRunId's monotonic state. */
function idAt(ms: number, i: number): string {
  let t = '';
  let x = ms;
  for (let k = 0; k < 10; k++) {
    t = RUN_ALPHABET_FOR_BENCH[x % 32] + t;
    x = Math.floor(x / 32);
  }
  let r = '';
  let y = (i * 2654435761) >>> 0;
  for (let k = 0; k < 16; k++) {
    r += RUN_ALPHABET_FOR_BENCH[(y + k * 7) % 32];
    y = (y * 1103515245 + 12345) >>> 0;
  }
  return t + r;
}

interface Generated {
  dir: string;
  paths: string[];
  seconds: number;
}

async function generate(n: number): Promise<Generated> {
  const dir = mkdtempSync(path.join(tmpdir(), `gitml-bench-${n}-`));
  spawnSync('git', ['init', '-q', '-b', 'main', dir]);
  const t0 = performance.now();
  const fi = spawn('git', ['fast-import', '--quiet'], { cwd: dir, stdio: ['pipe', 'inherit', 'inherit'] });
  const done = new Promise<void>((res, rej) => fi.on('exit', (c) => (c === 0 ? res() : rej(new Error(`fast-import exit ${c}`)))));
  const paths: string[] = [];
  const start = Date.now() - 60 * 24 * 3600 * 1000;
  const span = 59 * 24 * 3600 * 1000;
  const batch = 1000;
  let chunk: string[] = [];
  const flush = async () => {
    const s = chunk.join('');
    chunk = [];
    if (!fi.stdin.write(s)) await new Promise((r) => fi.stdin.once('drain', r));
  };
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  for (let b = 0; b < n; b += batch) {
    const ids: string[] = [];
    const files: string[] = [];
    for (let i = b; i < Math.min(n, b + batch); i++) {
      const ms = start + Math.floor((i / n) * span);
      const id = idAt(ms, i);
      const exp = EXPERIMENTS[i % EXPERIMENTS.length];
      const rec = syntheticRecord(id, exp, i, ms);
      const folder = runFolderFor(exp, id);
      paths.push(folder);
      ids.push(id);
      files.push(`M 100644 inline ${folder}/run.json\n${data(JSON.stringify(rec, null, 2) + '\n')}`);
      const tsv = METRICS.map((m) => `${m}\t0\t${ms}\t${rec.metrics[m] / 2}\n${m}\t1\t${ms + 1000}\t${rec.metrics[m]}\n`).join('');
      files.push(`M 100644 inline ${folder}/metrics.tsv\n${data(`name\tstep\ttimestamp\tvalue\n${tsv}`)}`);
      files.push(`M 100644 inline ${folder}/logs.txt\n${data(`run ${id}\nepoch 1 done\n`)}`);
    }
    const msg = `record ${ids.length} synthetic runs\n\n${ids.map((id) => `Gitml-Run: ${id}`).join('\n')}\n`;
    chunk.push(`commit refs/heads/runs\ncommitter gitml <gitml@localhost> ${Math.floor(Date.now() / 1000)} +0000\n${data(msg)}`, ...files, '\n');
    await flush();
  }
  fi.stdin.end();
  await done;
  return { dir, paths, seconds: (performance.now() - t0) / 1000 };
}

/** Baseline: `git cat-file --batch` reading every run.json, by blob id (ids from ls-tree, untimed) or by `runs:<path>`. */
async function baselineCatFile(dir: string, specs: string[]): Promise<number> {
  const t0 = performance.now();
  const p = spawn('git', ['cat-file', '--batch'], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] });
  let bytes = 0;
  p.stdout.on('data', (c: Buffer) => (bytes += c.length));
  const done = new Promise<void>((r) => p.on('exit', () => r()));
  p.stdin.end(specs.join('\n') + '\n');
  await done;
  if (bytes < specs.length * 100) throw new Error('baseline read too little');
  return performance.now() - t0;
}

function runJsonOids(dir: string): string[] {
  const out = spawnSync('git', ['ls-tree', '-r', 'runs'], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 30 }).stdout;
  return out.split('\n').filter((l) => l.endsWith('/run.json')).map((l) => l.split(/\s+/)[2]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function coldList(dir: string, config: RunStoreConfig): Promise<{ t: number; n: number }> {
  try {
    unlinkSync(cacheFile(openRuns(dir, config)));
  } catch {
    /* none yet */
  }
  closeRunStore();
  clearObjectCaches();
  clearCatalogMemo();
  const t0 = performance.now();
  const r = await listRuns({ dir, config });
  return { t: performance.now() - t0, n: r.runs.length };
}

async function recordOnce(dir: string, config: RunStoreConfig, i: number): Promise<number> {
  const id = newRunId();
  const rec = syntheticRecord(id, EXPERIMENTS[i % EXPERIMENTS.length], i, Date.now());
  const t0 = performance.now();
  await recordRun({
    dir,
    config,
    record: rec,
    metrics: METRICS.flatMap((m) => [0, 1, 2].map((s) => ({ name: m, value: rec.metrics[m] * (s + 1) / 3, step: s, timestamp: Date.now() }))),
    logs: `bench run ${id}\n`,
  });
  return performance.now() - t0;
}

async function concurrent(dir: string, config: RunStoreConfig, writers: number, each: number): Promise<void> {
  const before = (await listRuns({ dir, config })).runs.length;
  const startAt = Date.now() + 4000;
  const kids = Array.from({ length: writers }, (_, w) =>
    spawn(process.execPath, ['--import', 'tsx', here, '--writer', dir, String(each), String(startAt), String(w)], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const outs = await Promise.all(
    kids.map(
      (k) =>
        new Promise<{ ids: string[]; start: number; end: number }>((res, rej) => {
          let s = '';
          k.stdout.on('data', (c) => (s += c));
          k.on('exit', (code) => (code === 0 ? res(JSON.parse(s)) : rej(new Error(`writer exit ${code}`))));
        }),
    ),
  );
  const start = Math.min(...outs.map((o) => o.start));
  const end = Math.max(...outs.map((o) => o.end));
  const ids = outs.flatMap((o) => o.ids);
  const after = await listRuns({ dir, config });
  const have = new Set(after.runs.map((r) => r.id));
  const missing = ids.filter((id) => !have.has(id)).length;
  const fsck = spawnSync('git', ['fsck', '--no-dangling', '--connectivity-only'], { cwd: dir, encoding: 'utf8' });
  console.log(
    `  concurrent: ${writers} writers x ${each} runs = ${ids.length} recorded in ${((end - start) / 1000).toFixed(2)} s, ` +
      `${(ids.length / ((end - start) / 1000)).toFixed(0)} runs/s; present ${ids.length - missing}/${ids.length} ` +
      `(total ${before} -> ${after.runs.length}); git fsck ${fsck.status === 0 ? 'clean' : 'FAILED: ' + fsck.stderr.slice(0, 200)}`,
  );
}

async function writer(dir: string, each: number, startAt: number, w: number): Promise<void> {
  const config = runStoreConfig(undefined, dir);
  // warm up the module and the cat-file child outside the timed window
  openRuns(dir, config).tip();
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  const ids: string[] = [];
  const start = Date.now();
  for (let i = 0; i < each; i++) {
    const id = newRunId();
    const rec = syntheticRecord(id, EXPERIMENTS[(i + w) % EXPERIMENTS.length], i, Date.now());
    await recordRun({ dir, config, record: rec, logs: `writer ${w} run ${i}\n` });
    ids.push(id);
  }
  const end = Date.now();
  closeRunStore();
  process.stdout.write(JSON.stringify({ ids, start, end }));
}

async function benchSize(n: number, records: number): Promise<void> {
  console.log(`\n== ${n.toLocaleString('en')} runs ==`);
  const g = await generate(n);
  console.log(`  generated with git fast-import in ${g.seconds.toFixed(1)} s (${g.dir})`);
  const config = runStoreConfig(undefined, g.dir);

  const oids = runJsonOids(g.dir);
  const base: number[] = [];
  const byPath: number[] = [];
  for (let i = 0; i < 3; i++) {
    base.push(await baselineCatFile(g.dir, oids));
    byPath.push(await baselineCatFile(g.dir, g.paths.map((f) => `runs:${f}/run.json`)));
  }
  const baseline = median(base);
  console.log(`  baseline git cat-file --batch reading the ${n} run.json: by blob id ${ms(baseline)}, by runs:<path> ${ms(median(byPath))}`);
  const colds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await coldList(g.dir, config);
    if (c.n !== n) throw new Error(`listed ${c.n} runs, expected ${n}`);
    colds.push(c.t);
  }
  const cold = median(colds);
  const warms: number[] = [];
  for (let i = 0; i < 7; i++) {
    clearCatalogMemo(); // measure the cache file, as a new CLI process would
    const t0 = performance.now();
    const r = await listRuns({ dir: g.dir, config });
    warms.push(performance.now() - t0);
    if (r.runs.length !== n) throw new Error('warm list count');
  }
  const warm = median(warms);
  const memoT0 = performance.now();
  await listRuns({ dir: g.dir, config });
  const memoT = performance.now() - memoT0;
  console.log(`  list all (params + final metrics): cold ${ms(cold)} (${(cold / baseline).toFixed(2)}x baseline), warm from the cache file ${ms(warm)} (${(warm / baseline).toFixed(2)}x baseline), again in the same process ${ms(memoT)}`);

  const t0 = performance.now();
  const q = await listRuns({ dir: g.dir, config, experiment: 'train', where: ['metrics.accuracy>0.5', 'params.C>=1'], sort: '-metrics.accuracy', limit: 10 });
  console.log(`  filtered+sorted query (warm): ${ms(performance.now() - t0)}, ${q.runs.length} rows`);

  const g0 = performance.now();
  await getRun({ dir: g.dir, config, id: q.runs[0]?.id ?? '' });
  console.log(`  getRun by full id (with its recording commit): ${ms(performance.now() - g0)}`);

  await recordOnce(g.dir, config, 0); // warm-up: identity, cat-file child
  const rec: number[] = [];
  for (let i = 1; i <= records; i++) rec.push(await recordOnce(g.dir, config, i));
  console.log(`  record one run (10 params, 10 metric series, logs): median ${ms(median(rec))}, p90 ${ms(pct(rec, 0.9))} over ${records}`);

  const i0 = performance.now();
  const after = await listRuns({ dir: g.dir, config });
  console.log(`  list after ${records + 1} new runs (incremental cache update): ${ms(performance.now() - i0)}, ${after.runs.length} runs`);

  if (!process.argv.includes('--no-concurrent')) await concurrent(g.dir, config, 8, 125);
  closeRunStore();
  if (!process.argv.includes('--keep')) rmSync(g.dir, { recursive: true, force: true });
}

/** recordRun with a JSON-lines metrics file of `points` points, against `git hash-object -w` of that file. */
async function metricsFileBench(points: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gitml-bench-metrics-'));
  spawnSync('git', ['init', '-q', '-b', 'main', dir]);
  const file = path.join(dir, '..', `${path.basename(dir)}.jsonl`);
  const out = createWriteStream(file);
  const names = ['loss', 'accuracy', 'learning_rate', 'grad_norm'];
  let buf: string[] = [];
  for (let i = 0; i < points; i++) {
    buf.push(JSON.stringify({ name: names[i % 4], value: Math.sin(i / 1000) + i / points, step: i >> 2, timestamp: 1_700_000_000_000 + i }));
    if (buf.length === 10_000) {
      if (!out.write(buf.join('\n') + '\n')) await new Promise((r) => out.once('drain', r));
      buf = [];
    }
  }
  out.end(buf.length ? buf.join('\n') + '\n' : '');
  await new Promise((r) => out.on('finish', r));
  const config = runStoreConfig(undefined, dir);
  const h0 = performance.now();
  spawnSync('git', ['hash-object', '-w', file], { cwd: dir });
  const base = performance.now() - h0;
  const t0 = performance.now();
  const r = await recordRun({ dir, config, metricsFile: file, record: syntheticRecord(newRunId(), 'train', 1, Date.now()) });
  const t = performance.now() - t0;
  console.log(`\n== metrics file ==\n  recordRun with a ${points.toLocaleString('en')}-point JSON-lines metrics file: ${ms(t)} (git hash-object -w of the same file: ${ms(base)}, ${(t / base).toFixed(2)}x); final loss ${r.record.metrics.loss?.toFixed(3)}`);
  closeRunStore();
  rmSync(dir, { recursive: true, force: true });
  rmSync(file, { force: true });
}

if (process.argv[2] === '--writer') {
  await writer(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]));
} else {
  const sizes = arg('sizes', '10000,100000').split(',').map(Number);
  const records = Number(arg('records', '40'));
  console.log(`gitml runs store benchmark (node ${process.version}, ${new Date().toISOString()})`);
  for (const n of sizes) await benchSize(n, records);
  const points = Number(arg('metric-points', '1000000'));
  if (points > 0) await metricsFileBench(points);
}
