// Every drift statistic against SciPy on the same data (scipy is in the test venv).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chi2, jensenShannon, kolmogorovSf, ks2samp, psi, quantileEdges, binOf, sorted, wasserstein, wassersteinNormed } from '../../core/monitor/stats.js';
import { testPython } from '../support/python.js';

/**
 * One Python process for the whole file (importing SciPy costs about a second each time): it
 * reads one JSON line {code, data} at a time, runs `code` with `data` bound, and answers the
 * JSON that `code` prints as one line.
 */
const SERVER = `
import json, sys, io, contextlib
import numpy as np
from scipy import stats
from scipy.spatial import distance
for line in sys.stdin:
    req = json.loads(line)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(req["code"], {"json": json, "np": np, "stats": stats, "distance": distance, "data": req["data"]})
        sys.stdout.write(json.dumps({"ok": out.getvalue().strip()}) + "\\n")
    except Exception as e:
        sys.stdout.write(json.dumps({"error": repr(e)}) + "\\n")
    sys.stdout.flush()
`;
let py: ChildProcessWithoutNullStreams;
let lines: AsyncIterator<string>;
beforeAll(() => {
  py = spawn(testPython(), ['-c', SERVER]);
  lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
});
afterAll(() => py?.kill());

/** Runs a Python snippet with `data` bound (numpy as np, scipy.stats, scipy.spatial.distance) and returns what it printed, parsed as JSON. */
async function scipy(code: string, data: unknown): Promise<any> {
  py.stdin.write(JSON.stringify({ code, data }) + '\n');
  const { value } = await lines.next();
  const r = JSON.parse(value as string);
  if (r.error) throw new Error(`python failed: ${r.error}`);
  return JSON.parse(r.ok);
}

/** Seeded normal-ish data, rounded so ties occur. */
function sampleData(seed: number, n: number, shift = 0, scale = 1, round = 2): number[] {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    out.push(Number((shift + scale * z).toFixed(round)));
  }
  return out;
}

describe('Kolmogorov-Smirnov, two-sample', () => {
  const cases: Array<[string, number[], number[]]> = [
    ['tiny, disjoint', [1, 2, 3], [4, 5, 6, 7]],
    ['tiny, overlapping', [1, 2, 3, 4], [3, 4, 5, 6]],
    ['equal sizes', sampleData(1, 60), sampleData(2, 60, 0.3)],
    ['unequal sizes with ties', sampleData(3, 150, 0, 1, 1), sampleData(4, 97, 0.2, 1, 1)],
    ['same distribution', sampleData(5, 400), sampleData(6, 350)],
    ['shifted, larger', sampleData(7, 2000), sampleData(8, 1500, 0.1)],
    ['identical samples', [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]],
  ];
  it.each(cases)('%s: statistic and exact p-value match scipy ks_2samp(method="exact")', async (_name, a, b) => {
    const ours = ks2samp(sorted(a), sorted(b), 'exact');
    const ref = await scipy('r = stats.ks_2samp(data[0], data[1], method="exact"); print(json.dumps([float(r.statistic), float(r.pvalue)]))', [a, b]);
    expect(ours.statistic).toBeCloseTo(ref[0], 12);
    expect(Math.abs(ours.pvalue - ref[1])).toBeLessThan(1e-9);
  });

  it('auto mode picks exact up to 10,000 values and matches scipy\'s auto p-value there', async () => {
    const a = sampleData(9, 3000);
    const b = sampleData(10, 2500, 0.05);
    const ours = ks2samp(sorted(a), sorted(b));
    expect(ours.method).toBe('exact');
    const ref = await scipy('r = stats.ks_2samp(data[0], data[1]); print(json.dumps([float(r.statistic), float(r.pvalue)]))', [a, b]);
    expect(ours.statistic).toBeCloseTo(ref[0], 12);
    expect(Math.abs(ours.pvalue - ref[1])).toBeLessThan(1e-9);
  });

  it('large samples: the limiting Kolmogorov distribution, as scipy kstwobign.sf(sqrt(en)·D)', async () => {
    const a = sampleData(11, 20000);
    const b = sampleData(12, 12000, 0.02);
    const ours = ks2samp(sorted(a), sorted(b));
    expect(ours.method).toBe('asymp');
    const ref = await scipy(
      'a, b = data; r = stats.ks_2samp(a, b, method="asymp"); en = len(a)*len(b)/(len(a)+len(b)); print(json.dumps([float(r.statistic), float(stats.kstwobign.sf(np.sqrt(en)*r.statistic)), float(r.pvalue)]))',
      [a, b],
    );
    expect(ours.statistic).toBeCloseTo(ref[0], 12);
    expect(Math.abs(ours.pvalue - ref[1])).toBeLessThan(1e-9);
    // and close to scipy's finite-n asymptotic (kstwo), as documented
    expect(Math.abs(ours.pvalue - ref[2])).toBeLessThan(1e-2);
  });

  it('kolmogorovSf matches kstwobign.sf on both branches of the series', async () => {
    const xs = [0.05, 0.3, 0.7, 1.0, 1.17, 1.19, 1.5, 2.2, 3.5];
    const ref: number[] = await scipy('print(json.dumps([float(stats.kstwobign.sf(x)) for x in data]))', xs);
    xs.forEach((x, i) => expect(Math.abs(kolmogorovSf(x) - ref[i])).toBeLessThan(1e-12));
  });
});

describe('Wasserstein distance', () => {
  it.each([
    ['tiny', [0, 1, 3], [5, 6, 8]],
    ['ties and unequal sizes', sampleData(13, 300, 0, 1, 1), sampleData(14, 211, 0.4, 1.5, 1)],
    ['one current row', sampleData(15, 100), [0.7]],
  ])('%s: matches scipy wasserstein_distance, and the normed form divides by np.std(reference)', async (_n, a, b) => {
    const ref = await scipy('print(json.dumps([float(stats.wasserstein_distance(data[0], data[1])), float(np.std(data[0]))]))', [a, b]);
    expect(Math.abs(wasserstein(sorted(a), sorted(b)) - ref[0])).toBeLessThan(1e-9);
    expect(Math.abs(wassersteinNormed(sorted(a), sorted(b)) - ref[0] / Math.max(ref[1], 0.001))).toBeLessThan(1e-9);
  });
});

describe('chi-squared', () => {
  it.each([
    ['three categories', [50, 30, 20], [40, 35, 25]],
    ['strong shift', [100, 100, 100, 100], [10, 20, 150, 220]],
    ['two categories', [70, 30], [55, 45]],
  ])('%s: matches scipy chisquare(observed, reference shares × current total)', async (_n, refC, curC) => {
    const ours = chi2(refC, curC);
    const ref = await scipy(
      'r, c = np.array(data[0], float), np.array(data[1], float); res = stats.chisquare(c, r * c.sum() / r.sum()); print(json.dumps([float(res.statistic), float(res.pvalue)]))',
      [refC, curC],
    );
    expect(Math.abs(ours.statistic - ref[0])).toBeLessThan(1e-9);
    expect(Math.abs(ours.pvalue - ref[1])).toBeLessThan(1e-9);
  });

  it('a category the reference never saw is drift (infinite statistic, p = 0)', async () => {
    expect(chi2([10, 10, 0], [5, 5, 3])).toMatchObject({ statistic: Infinity, pvalue: 0 });
  });
});

describe('binned: quantile bins of the reference, PSI, Jensen-Shannon', () => {
  const refData = sampleData(16, 1000);
  const curData = sampleData(17, 800, 0.5);
  const { inner } = quantileEdges(sorted(refData), 10);
  const count = (xs: number[]) => {
    const c = new Array(inner.length + 1).fill(0);
    for (const x of xs) c[binOf(inner, x)]++;
    return c;
  };

  it('edges are numpy quantiles of the reference, bins as np.searchsorted(side="right")', async () => {
    const ref = await scipy(
      'r, c = np.array(data[0]), np.array(data[1]); e = np.unique(np.quantile(r, np.arange(1, 10) / 10)); e = e[e > r.min()]; print(json.dumps([e.tolist(), np.bincount(np.searchsorted(e, r, side="right"), minlength=len(e)+1).tolist(), np.bincount(np.searchsorted(e, c, side="right"), minlength=len(e)+1).tolist()]))',
      [refData, curData],
    );
    expect(inner.length).toBe(ref[0].length);
    inner.forEach((e, i) => expect(Math.abs(e - ref[0][i])).toBeLessThan(1e-12));
    expect(count(refData)).toEqual(ref[1]);
    expect(count(curData)).toEqual(ref[2]);
  });

  it('Jensen-Shannon matches scipy.spatial.distance.jensenshannon on the bin counts', async () => {
    const r = count(refData);
    const c = count(curData);
    const ref = await scipy('print(json.dumps(float(distance.jensenshannon(data[0], data[1]))))', [r, c]);
    expect(Math.abs(jensenShannon(r, c) - ref)).toBeLessThan(1e-9);
    // with empty bins
    const ref2 = await scipy('print(json.dumps(float(distance.jensenshannon(data[0], data[1]))))', [[5, 0, 3], [0, 4, 4]]);
    expect(Math.abs(jensenShannon([5, 0, 3], [0, 4, 4]) - ref2)).toBeLessThan(1e-9);
  });

  it('PSI matches the NumPy formula with empty bins as 0.0001 (Evidently), and grows with the shift', async () => {
    const r = count(refData);
    const c = count(curData);
    const ref = await scipy(
      'r, c = [np.array(x, float) / np.sum(x) for x in data]; r[r == 0] = 0.0001; c[c == 0] = 0.0001; print(json.dumps(float(np.sum((r - c) * np.log(r / c)))))',
      [r, c],
    );
    expect(Math.abs(psi(r, c) - ref)).toBeLessThan(1e-9);
    expect(psi(r, count(sampleData(18, 800)))).toBeLessThan(0.1);
    expect(psi(r, c)).toBeGreaterThan(0.1);
  });

  it('a constant reference column gets the bins (< c, = c, > c), so a shift shows', async () => {
    const e = quantileEdges(sorted([2, 2, 2, 2]));
    expect(e.constant).toBe(true);
    expect([1, 2, 3].map((x) => binOf(e.inner, x))).toEqual([0, 1, 2]);
  });
});
