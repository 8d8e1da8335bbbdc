/**
 * The repository after recording N runs through the real path (recordRun, 10 params and 10
 * metrics a run): loose objects, .git size against the same repository after `git gc`
 * (the baseline, measured in the same run), gc.log, and the cost of one record.
 *
 *   npx tsx bench/pack.ts [--runs 10000]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { recordRun } from '../core/runs/record.js';
import { newRunId } from '../core/runs/id.js';
import { makeRepo } from '../test/support/repo.js';
import { WORKSPACE_FILES, record } from '../test/registry/fixtures.js';

const i = process.argv.indexOf('--runs');
const N = i > 0 ? Number(process.argv[i + 1]) : 10_000;

function du(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}
function loose(dir: string): number {
  return Number(/count: (\d+)/.exec(execFileSync('git', ['count-objects', '-v'], { cwd: dir, encoding: 'utf8' }))![1]);
}

async function main(): Promise<void> {
  delete process.env.GITML_AUTO_GC;
  const dir = makeRepo(WORKSPACE_FILES);
  const times: number[] = [];
  try {
    for (let k = 0; k < N; k++) {
      const params = Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`p${j}`, k * 10 + j]));
      const metrics = Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`m${j}`, Math.sin(k + j)]));
      const t0 = process.hrtime.bigint();
      await recordRun({ dir, record: record({ id: newRunId(), params, metrics }) });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    for (let w = 0; w < 300 && existsSync(path.join(dir, '.git/objects/maintenance.lock')); w++) await new Promise((r) => setTimeout(r, 100));
    const size = du(path.join(dir, '.git'));
    const looseNow = loose(dir);
    const gcLog = existsSync(path.join(dir, '.git/gc.log'));
    const copy = mkdtempSync(path.join(tmpdir(), 'gitml-bench-gc-'));
    cpSync(path.join(dir, '.git'), path.join(copy, '.git'), { recursive: true });
    execFileSync('git', ['gc', '--quiet', '--prune=now'], { cwd: copy });
    const gcSize = du(path.join(copy, '.git'));
    rmSync(copy, { recursive: true, force: true });
    const sorted = [...times].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.floor(p * (sorted.length - 1))];
    const first = times.slice(0, Math.min(1000, N)).sort((a, b) => a - b);
    const last = times.slice(-Math.min(1000, N)).sort((a, b) => a - b);
    console.log(`${N.toLocaleString()} runs recorded through recordRun`);
    console.log(`  .git: ${(size / 2 ** 20).toFixed(1)} MiB; after git gc: ${(gcSize / 2 ** 20).toFixed(1)} MiB -> ${(size / gcSize).toFixed(2)}x (goal <= 2x)`);
    console.log(`  loose objects: ${looseNow} (goal < 10,000); gc.log: ${gcLog ? 'present' : 'none'}`);
    console.log(`  record one run: median ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms; first 1,000 median ${first[first.length >> 1].toFixed(1)} ms, last 1,000 median ${last[last.length >> 1].toFixed(1)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
