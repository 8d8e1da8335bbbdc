/**
 * Drift statistics between a reference sample and a current sample of one column.
 *
 * No maintained TypeScript library computes the two-sample tests gitml needs (jStat and
 * simple-statistics have no two-sample Kolmogorov-Smirnov, @stdlib's `kstest` is one-sample
 * only), so the tests are written here, each following the definition SciPy uses, and
 * test/monitor/stats.test.ts checks every one against SciPy on the same data. The one special
 * function, the regularized upper incomplete gamma for the chi-squared p-value, comes from
 * @stdlib (`@stdlib/math-base-special-gammainc`).
 *
 * Example:
 *   ks2samp([1, 2, 3, 4], [3, 4, 5, 6])   // { statistic: 0.5, pvalue: 0.771..., method: 'exact' }
 */
import gammainc from '@stdlib/math-base-special-gammainc';

/** Ascending copy as a Float64Array (NaN must be removed by the caller). */
export function sorted(values: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(values as ArrayLike<number>);
  a.sort();
  return a;
}

// --------------------------------------------------------------------------------------
// Kolmogorov-Smirnov, two-sample, two-sided

export interface KsResult {
  statistic: number;
  pvalue: number;
  /** 'exact' (as SciPy's ks_2samp method='exact') or 'asymp' (the limiting Kolmogorov distribution). */
  method: 'exact' | 'asymp';
}

/** SciPy's `ks_2samp(..., method='auto')` uses the exact distribution up to this sample size. */
export const KS_EXACT_MAX_N = 10_000;

/**
 * Two-sample two-sided Kolmogorov-Smirnov test of sorted samples `a` and `b`.
 * The statistic is SciPy's; the p-value is exact (SciPy's method='exact', the lattice-path
 * probability) when both samples have at most KS_EXACT_MAX_N values, as SciPy's 'auto' mode
 * chooses, and otherwise the limiting Kolmogorov distribution at sqrt(mn/(m+n))·D (SciPy's
 * `kstwobign.sf`; SciPy's own 'asymp' mode uses the finite-n `kstwo` instead, which differs by
 * less than 1e-3 at these sizes).
 */
export function ks2samp(a: Float64Array, b: Float64Array, mode: 'auto' | 'exact' | 'asymp' = 'auto'): KsResult {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new RangeError('ks2samp needs two non-empty samples');
  const d = ksStatistic(a, b);
  const method = mode === 'auto' ? (Math.max(m, n) <= KS_EXACT_MAX_N ? 'exact' : 'asymp') : mode;
  if (method === 'exact') return { statistic: d, pvalue: ksExactPvalue(m, n, d), method };
  const en = (m * n) / (m + n);
  return { statistic: d, pvalue: kolmogorovSf(Math.sqrt(en) * d), method };
}

/** max |F_a(x) - F_b(x)| over every value of either sample (SciPy's searchsorted, side='right'). */
export function ksStatistic(a: Float64Array, b: Float64Array): number {
  const m = a.length;
  const n = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < m || j < n) {
    const v = j >= n || (i < m && a[i] <= b[j]) ? a[i] : b[j];
    while (i < m && a[i] <= v) i++;
    while (j < n && b[j] <= v) j++;
    const diff = Math.abs(i / m - j / n);
    if (diff > d) d = diff;
  }
  return d;
}

function gcd(x: number, y: number): number {
  while (y) [x, y] = [y, x % y];
  return x;
}

/**
 * P(D >= d) under the null for samples of m and n values: one minus the probability that a
 * uniformly random monotone lattice path from (0,0) to (m,n) stays strictly inside the band
 * |i/m - j/n| < d. Computed as a probability flow (no binomial coefficients, so no overflow),
 * visiting only the band. `d` is first snapped to the lattice as SciPy does (h = round(d·lcm)).
 */
export function ksExactPvalue(m: number, n: number, d: number): number {
  const g = gcd(m, n);
  const lcm = (m / g) * n;
  const h = Math.round(d * lcm);
  if (h === 0) return 1;
  // inside(i, j) <=> |i·n - j·m| / g < h  <=>  |i·n - j·m| < h·g
  const hg = h * g;
  let prev = new Float64Array(n + 1);
  let cur = new Float64Array(n + 1);
  // Row i = 0: only moves in j.
  prev[0] = 1;
  let prevLo = 0;
  let prevHi = 0;
  for (let j = 1; j <= n; j++) {
    if (Math.abs(0 - j * m) >= hg) break;
    prev[j] = prev[j - 1] * ((n - (j - 1)) / (m + n - (j - 1)));
    prevHi = j;
  }
  for (let i = 1; i <= m; i++) {
    // j with |i·n - j·m| < hg: (i·n - hg)/m < j < (i·n + hg)/m
    const lo = Math.max(0, Math.floor((i * n - hg) / m) + 1);
    const hi = Math.min(n, Math.ceil((i * n + hg) / m) - 1);
    let any = false;
    for (let j = lo; j <= hi; j++) {
      if (Math.abs(i * n - j * m) >= hg) {
        cur[j] = 0;
        continue;
      }
      let p = 0;
      // from (i-1, j): a step in i, taken with probability (m-(i-1)) / (remaining steps)
      if (j >= prevLo && j <= prevHi) p += prev[j] * ((m - (i - 1)) / (m - (i - 1) + n - j));
      // from (i, j-1): a step in j
      if (j > lo) p += cur[j - 1] * ((n - (j - 1)) / (m - i + n - (j - 1)));
      cur[j] = p;
      if (p !== 0) any = true;
    }
    if (!any) return 1;
    [prev, cur] = [cur, prev];
    prevLo = lo;
    prevHi = hi;
  }
  const inside = n >= prevLo && n <= prevHi ? prev[n] : 0;
  return Math.min(1, Math.max(0, 1 - inside));
}

/** Survival function of the limiting Kolmogorov distribution (SciPy's `kstwobign.sf`). */
export function kolmogorovSf(x: number): number {
  if (!(x > 0)) return 1;
  if (x < 1.18) {
    // Small x: the theta-function form converges fast; sf = 1 - cdf.
    const k = (Math.PI * Math.PI) / (8 * x * x);
    let s = 0;
    for (let j = 1; j <= 20; j += 2) s += Math.exp(-j * j * k);
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / x) * s));
  }
  let s = 0;
  for (let k = 1; k <= 100; k++) {
    const t = Math.exp(-2 * k * k * x * x);
    s += (k % 2 === 1 ? 1 : -1) * t;
    if (t < 1e-300) break;
  }
  return Math.min(1, Math.max(0, 2 * s));
}

// --------------------------------------------------------------------------------------
// Wasserstein (earth mover's) distance, 1-D

/** SciPy's `wasserstein_distance(u, v)` of two sorted samples with equal weights. */
export function wasserstein(a: Float64Array, b: Float64Array): number {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new RangeError('wasserstein needs two non-empty samples');
  let i = 0;
  let j = 0;
  let total = 0;
  let last = Math.min(a[0], b[0]);
  while (i < m || j < n) {
    const v = j >= n || (i < m && a[i] <= b[j]) ? a[i] : b[j];
    // CDFs are constant on [last, v): what has been passed so far.
    total += Math.abs(i / m - j / n) * (v - last);
    last = v;
    while (i < m && a[i] <= v) i++;
    while (j < n && b[j] <= v) j++;
  }
  return total;
}

/** Population standard deviation (NumPy's np.std). */
export function std(a: ArrayLike<number>): number {
  const n = a.length;
  if (n === 0) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i];
  mean /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (a[i] - mean) ** 2;
  return Math.sqrt(s / n);
}

/** Wasserstein distance in units of the reference's standard deviation (Evidently's normed form; std floored at 0.001). */
export function wassersteinNormed(ref: Float64Array, cur: Float64Array): number {
  return wasserstein(ref, cur) / Math.max(std(ref), 0.001);
}

// --------------------------------------------------------------------------------------
// Binned distributions: quantile bins of the reference, PSI, Jensen-Shannon

/**
 * Bin edges from the reference's quantiles (NumPy's default linear interpolation), deduplicated.
 * The returned inner edges split the real line into bins: value x falls in bin
 * `upperBound(inner, x)` (the number of inner edges <= x). A constant reference gets the three
 * bins (< c, = c, > c), so a shift to either side shows.
 */
export function quantileEdges(ref: Float64Array, bins = 10): { inner: number[]; constant: boolean } {
  const n = ref.length;
  if (n === 0) throw new RangeError('quantile bins need a non-empty reference');
  if (ref[0] === ref[n - 1]) return { inner: [ref[0], nextUp(ref[0])], constant: true };
  const qs: number[] = [];
  for (let k = 1; k < bins; k++) qs.push(quantileSorted(ref, k / bins));
  const inner = [...new Set(qs)].filter((q) => q > ref[0]);
  return { inner, constant: false };
}

function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const buf = new Float64Array([x]);
  const bits = new BigInt64Array(buf.buffer);
  bits[0] += x > 0 ? 1n : -1n;
  return buf[0];
}

/** NumPy's np.quantile(sorted, q) with the default 'linear' method. */
export function quantileSorted(a: Float64Array, q: number): number {
  const pos = (a.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, a.length - 1);
  return a[lo] + (a[hi] - a[lo]) * (pos - lo);
}

/** Index of the bin of `x`: how many edges are <= x (binary search). */
export function binOf(inner: number[], x: number): number {
  let lo = 0;
  let hi = inner.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (inner[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Population Stability Index of two count vectors over the same bins (empty bins count as 0.0001, as Evidently does). */
export function psi(refCounts: ArrayLike<number>, curCounts: ArrayLike<number>): number {
  const rp = shares(refCounts, 0.0001);
  const cp = shares(curCounts, 0.0001);
  let s = 0;
  for (let k = 0; k < rp.length; k++) s += (rp[k] - cp[k]) * Math.log(rp[k] / cp[k]);
  return s;
}

/** SciPy's `jensenshannon(p, q)` (natural log): the square root of the Jensen-Shannon divergence of two count vectors. */
export function jensenShannon(pCounts: ArrayLike<number>, qCounts: ArrayLike<number>): number {
  const p = shares(pCounts, 0);
  const q = shares(qCounts, 0);
  let s = 0;
  for (let k = 0; k < p.length; k++) {
    const mk = (p[k] + q[k]) / 2;
    if (p[k] > 0) s += p[k] * Math.log(p[k] / mk);
    if (q[k] > 0) s += q[k] * Math.log(q[k] / mk);
  }
  return Math.sqrt(Math.max(0, s / 2));
}

function shares(counts: ArrayLike<number>, floor: number): Float64Array {
  let total = 0;
  for (let k = 0; k < counts.length; k++) total += counts[k];
  const out = new Float64Array(counts.length);
  for (let k = 0; k < counts.length; k++) {
    const v = total > 0 ? counts[k] / total : 0;
    out[k] = floor > 0 && v === 0 ? floor : v;
  }
  return out;
}

// --------------------------------------------------------------------------------------
// Chi-squared goodness of fit of current category counts against the reference's shares

export interface Chi2Result {
  statistic: number;
  pvalue: number;
  dof: number;
}

/**
 * SciPy's `chisquare(observed, expected)` with expected = reference count × (current total /
 * reference total), over the union of categories (Evidently's chi-squared drift test). A
 * category the reference never saw gets an expected count of 0: the statistic is infinite and
 * the p-value 0 (the column has drifted).
 */
export function chi2(refCounts: ArrayLike<number>, curCounts: ArrayLike<number>): Chi2Result {
  let rt = 0;
  let ct = 0;
  for (let k = 0; k < refCounts.length; k++) rt += refCounts[k];
  for (let k = 0; k < curCounts.length; k++) ct += curCounts[k];
  const dof = refCounts.length - 1;
  if (rt === 0 || ct === 0 || dof < 1) return { statistic: 0, pvalue: 1, dof: Math.max(0, dof) };
  const kNorm = ct / rt;
  let stat = 0;
  for (let k = 0; k < refCounts.length; k++) {
    const e = refCounts[k] * kNorm;
    const o = curCounts[k];
    if (e === 0) {
      if (o > 0) return { statistic: Infinity, pvalue: 0, dof };
      continue;
    }
    stat += ((o - e) * (o - e)) / e;
  }
  return { statistic: stat, pvalue: chi2Sf(stat, dof), dof };
}

/** Survival function of the chi-squared distribution (SciPy's `chi2.sf`). */
export function chi2Sf(x: number, dof: number): number {
  if (!(x > 0)) return 1;
  if (!Number.isFinite(x)) return 0;
  return gammainc(x / 2, dof / 2, true, true);
}
