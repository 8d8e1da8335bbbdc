/**
 * The runs index file alone, without git: N synthetic records (10 params, 10 metrics) written
 * with writeIndexFile, then a filtered + sorted top 10 and a read of every record, each against
 * JSON.parse of the same records as one JSON file (what the cache before the index did).
 *
 *   npx tsx bench/index-file.ts [--runs 100000]
 *
 * This measures the format and the query's reads; bench/runs.ts measures the whole path.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IndexFile, writeIndexFile, type IndexEntry } from '../core/runs/runs-index.js';
import { compareValues, compileCondition, parseWhere } from '../core/runs/query.js';
import type { RunRecord } from '../core/runs/types.js';

const i = process.argv.indexOf('--runs');
const N = i > 0 ? Number(process.argv[i + 1]) : 100_000;
const EXPS = ['train', 'tune', 'evaluate', 'baseline', 'ablation'];
const dir = mkdtempSync(path.join(tmpdir(), 'gitml-bench-index-'));
const entries: IndexEntry[] = [];
for (let k = 0; k < N; k++) {
  const id = (1e12 + k).toString(32).padStart(10, '0') + 'abcdefghjkmnpqrs';
  const params: Record<string, number | string> = {};
  for (let j = 0; j < 10; j++) params[`p${j}`] = j === 2 ? ['rbf', 'linear', 'poly'][k % 3] : ((k * (j + 7)) % 1000) / 100;
  const metrics: Record<string, number> = {};
  for (let j = 0; j < 10; j++) metrics[`m${j}`] = ((k * 7919 + j * 104729) % 10000) / 10000;
  const record = { schema: 1, id, experiment: EXPS[k % 5], status: k % 17 ? 'completed' : 'failed', params, metrics, source: { commit: 'a'.repeat(40), tree: 'b'.repeat(40), branch: 'main' }, inputs: {}, compute: { name: 'local', type: 'local' }, host: 'bench', startedAt: new Date(1.7e12 + k * 1000).toISOString(), durationMs: k % 1000, artifacts: [] } as unknown as RunRecord;
  entries.push({ path: `${record.experiment}/2026-01/ab/${id}`, blob: 'c'.repeat(40), record });
}
const file = path.join(dir, 'runs.idx');
const w0 = performance.now();
writeIndexFile(file, { ref: 'refs/heads/runs', tip: null, tree: null, problems: [] }, entries).close();
const writeT = performance.now() - w0;
const json = path.join(dir, 'runs.json');
writeFileSync(json, JSON.stringify(entries.map((e) => [e.path, e.blob, e.record])));

const conds = ['metrics.m3>0.5', 'params.p0>=1'].map(parseWhere);
function top10(): number {
  const t0 = performance.now();
  const f = IndexFile.open(file);
  const exp = f.column('experiment')!;
  const cs = conds.map((c) => ({ col: f.column(c.key)!, test: compileCondition(c) }));
  const sort = f.column('metrics.m3')!;
  const ids = f.ids();
  const cand: number[] = [];
  for (let r = 0; r < f.n; r++) if (exp.value(r) === 'train' && cs.every((c) => c.test(c.col.value(r)))) cand.push(r);
  const top = cand.sort((a, b) => compareValues(sort.value(a), ids[a], sort.value(b), ids[b], true)).slice(0, 10);
  f.records(top);
  f.close();
  return performance.now() - t0;
}
function jsonTop10(): number {
  const t0 = performance.now();
  const all = (JSON.parse(readFileSync(json, 'utf8')) as Array<[string, string, RunRecord]>).map((x) => x[2]);
  all.filter((r) => r.experiment === 'train' && r.metrics.m3 > 0.5 && Number(r.params.p0) >= 1).sort((a, b) => b.metrics.m3 - a.metrics.m3).slice(0, 10);
  return performance.now() - t0;
}
function allRecords(): number {
  const t0 = performance.now();
  const f = IndexFile.open(file);
  f.allRecords();
  f.close();
  return performance.now() - t0;
}
const med = (f: () => number) => {
  const xs = Array.from({ length: 7 }, f).sort((a, b) => a - b);
  return xs[3];
};
const t = med(top10);
const j = med(jsonTop10);
const a = med(allRecords);
console.log(`index file, ${N.toLocaleString('en')} runs: written in ${writeT.toFixed(0)} ms, ${(statSync(file).size / 2 ** 20).toFixed(1)} MiB (the same records as one JSON file: ${(statSync(json).size / 2 ** 20).toFixed(1)} MiB)`);
console.log(`  filtered + sorted top 10, opening the file: ${t.toFixed(1)} ms; the JSON file parsed and filtered: ${j.toFixed(1)} ms (${(j / t).toFixed(1)}x slower)`);
console.log(`  every record read and parsed: ${a.toFixed(1)} ms (${(a / j).toFixed(2)}x the JSON file)`);
rmSync(dir, { recursive: true, force: true });
