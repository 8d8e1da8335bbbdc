/**
 * Monitoring cost: ROWS sampled rows of COLS numeric columns against a REF-row reference.
 * gitml's comparison (stream the sample log, bin, reservoir, KS + Wasserstein + PSI + JS per
 * column) against NumPy/SciPy computing the same statistics on the same data already in
 * memory as arrays (their fastest path; parsing JSON lines in Python is left out of the
 * baseline, so the ratio is conservative). Prints time and peak memory of both.
 *
 *   npx tsx bench/monitor.ts [--rows 1000000] [--ref 100000] [--cols 20]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { compare } from '../core/monitor/report.js';
import { testPython } from '../test/support/python.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROWS = arg('rows', 1_000_000);
const REF = arg('ref', 100_000);
const COLS = arg('cols', 20);

let s = 42;
const u = () => {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  return (s + 0.5) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
const names = Array.from({ length: COLS }, (_, k) => `f${k}`);
const row = (shift: number) => Object.fromEntries(names.map((n, k) => [n, +(k + normal() + (k === 3 ? shift : 0)).toFixed(4)]));

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gitml-bench-monitor-'));
  try {
    const ref = Array.from({ length: REF }, () => row(0));
    const logFile = path.join(dir, 'samples.jsonl');
    const out = createWriteStream(logFile);
    for (let i = 0; i < ROWS; i += 4) {
      const inputs = Array.from({ length: Math.min(4, ROWS - i) }, () => row(0.5));
      if (!out.write(JSON.stringify({ ts: '2026-12-02T00:00:00Z', route: '/score', inputs, outputs: null }) + '\n')) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');

    const t0 = process.hrtime.bigint();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const results: Record<string, number> = {};
    for (const method of ['ks', 'wasserstein', 'psi', 'js'] as const) {
      const r = await compare({ model: 'm', version: 'v1', runId: 'r', source: { output: 'reference', path: 'ref.jsonl', kind: 'reference' }, rows: ref }, 'bench', { requests: logFile }, method);
      results[method] = r.columns.filter((c) => c.drifted).length;
    }
    clearInterval(timer);
    const gitmlSec = Number(process.hrtime.bigint() - t0) / 1e9;

    // Baseline: the same four statistics per column in NumPy/SciPy, data as arrays in memory.
    const refFile = path.join(dir, 'ref.json');
    writeFileSync(refFile, JSON.stringify(names.map((n) => ref.map((r) => r[n]))));
    const py = `
import json, sys, time, resource
import numpy as np
from scipy import stats
from scipy.spatial import distance
ref = np.array(json.load(open(sys.argv[1])))
cols = [[] for _ in ref]
with open(sys.argv[2]) as f:
    for line in f:
        for r in json.loads(line)["inputs"]:
            for k, v in enumerate(r.values()):
                cols[k].append(v)
cur = [np.array(c) for c in cols]
t0 = time.perf_counter()
for k in range(len(ref)):
    r, c = ref[k], cur[k]
    stats.ks_2samp(r, c)
    stats.wasserstein_distance(r, c) / np.std(r)
    e = np.unique(np.quantile(r, np.arange(1, 10) / 10))
    rc = np.bincount(np.searchsorted(e, r, side="right"), minlength=len(e) + 1) / len(r)
    cc = np.bincount(np.searchsorted(e, c, side="right"), minlength=len(e) + 1) / len(c)
    distance.jensenshannon(rc, cc)
    rc[rc == 0] = 1e-4; cc[cc == 0] = 1e-4
    np.sum((rc - cc) * np.log(rc / cc))
print(json.dumps({"sec": time.perf_counter() - t0, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;
    const b = spawnSync(testPython(), ['-c', py, refFile, logFile], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (b.status !== 0) throw new Error(b.stderr);
    const base = JSON.parse(b.stdout) as { sec: number; peak_mb: number };
    console.log(`monitoring ${ROWS.toLocaleString()} sampled rows x ${COLS} columns against a ${REF.toLocaleString()}-row reference`);
    console.log(`  gitml (stream the log + ks, wasserstein, psi, js; 4 passes): ${gitmlSec.toFixed(2)} s, ${(gitmlSec / 4).toFixed(2)} s a pass, peak RSS ${(peak / 2 ** 20).toFixed(0)} MB`);
    console.log(`  NumPy/SciPy (same statistics, data already in arrays, parsing excluded): ${base.sec.toFixed(2)} s, peak RSS ${base.peak_mb.toFixed(0)} MB (the arrays in memory)`);
    console.log(`  ratio gitml pass / scipy statistics: ${(gitmlSec / 4 / base.sec).toFixed(2)}x; drifted columns found per method: ${JSON.stringify(results)} (f3 is shifted by 0.5 sd)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
