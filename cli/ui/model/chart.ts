/**
 * Terminal charts of metric series from block characters, with labelled axes. A series of any
 * length is first reduced to one bucket a column (min, max and mean of the points that fall in
 * it), so 100,000 points cost one pass and the drawing costs only the chart's size.
 */
import { fmtNum } from '../../output.js';

export interface Point {
  step: number;
  value: number;
}

export interface Bucket {
  /** First and last step in the bucket. */
  from: number;
  to: number;
  min: number;
  max: number;
  mean: number;
}

/** Reduce `points` to at most `width` buckets (non-finite values are skipped). */
export function downsample(points: Point[], width: number): Bucket[] {
  const n = points.length;
  if (n === 0 || width <= 0) return [];
  const cols = Math.min(width, n);
  const out: Bucket[] = [];
  for (let c = 0; c < cols; c++) {
    const a = Math.floor((c * n) / cols);
    const b = Math.max(a + 1, Math.floor(((c + 1) * n) / cols));
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let k = 0;
    for (let i = a; i < b; i++) {
      const v = points[i].value;
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      k++;
    }
    if (k) out.push({ from: points[a].step, to: points[b - 1].step, min, max, mean: sum / k });
  }
  return out;
}

const BLOCKS = ' ▁▂▃▄▅▆▇█';

export interface ChartOptions {
  width: number;
  height: number;
}

/**
 * Lines of a column chart: a y axis labelled with the maximum, middle and minimum values on the
 * left, one column a bucket (its mean, in eighths of a row), and an x axis labelled with the
 * first and last step. Returns `['(no points)']` for an empty series.
 *
 * Example: `chart(series.loss, { width: 60, height: 8 })`.
 */
export function chart(points: Point[], o: ChartOptions): string[] {
  const labels = (lo: number, hi: number) => [fmtNum(hi), fmtNum((lo + hi) / 2), fmtNum(lo)];
  const height = Math.max(2, o.height);
  // The axis labels take what they need; the plot gets the rest.
  const probe = downsample(points, Math.max(1, o.width));
  if (probe.length === 0) return ['(no finite points)'];
  let lo = Math.min(...probe.map((b) => b.min));
  let hi = Math.max(...probe.map((b) => b.max));
  const labelWidth = Math.max(...labels(lo, hi).map((s) => s.length));
  const plotWidth = Math.max(1, o.width - labelWidth - 2);
  const buckets = downsample(points, plotWidth);
  lo = Math.min(...buckets.map((b) => b.min));
  hi = Math.max(...buckets.map((b) => b.max));
  const span = hi - lo || 1;
  const levels = buckets.map((b) => (hi === lo ? height * 4 : Math.round(((b.mean - lo) / span) * height * 8)));
  const [top, mid, bottom] = labels(lo, hi);
  const rows: string[] = [];
  for (let r = height - 1; r >= 0; r--) {
    let line = '';
    for (const l of levels) {
      const eighths = Math.max(0, Math.min(8, l - r * 8));
      line += r === 0 && eighths === 0 ? BLOCKS[1] : BLOCKS[eighths];
    }
    const label = r === height - 1 ? top : r === 0 ? bottom : r === Math.floor((height - 1) / 2) ? mid : '';
    rows.push(`${label.padStart(labelWidth)} ┤${line}`);
  }
  const first = String(buckets[0].from);
  const last = String(buckets[buckets.length - 1].to);
  const axis = `${' '.repeat(labelWidth)} └${'─'.repeat(plotWidth)}`;
  const steps = `${' '.repeat(labelWidth + 2)}${first}${last.padStart(Math.max(1, plotWidth - first.length))}`;
  rows.push(axis, `${steps}  step`);
  return rows;
}

/**
 * Several series overlaid on one grid: each series draws its bucket means with its own mark
 * (`marks[i]`), later series over earlier ones. The steps share one x axis (from the lowest to
 * the highest step of all series).
 */
export function overlay(series: Point[][], o: ChartOptions & { marks: string[] }): string[] {
  const all = series.flat().filter((p) => Number.isFinite(p.value));
  if (all.length === 0) return ['(no finite points)'];
  let lo = Infinity;
  let hi = -Infinity;
  let s0 = Infinity;
  let s1 = -Infinity;
  for (const p of all) {
    if (p.value < lo) lo = p.value;
    if (p.value > hi) hi = p.value;
    if (p.step < s0) s0 = p.step;
    if (p.step > s1) s1 = p.step;
  }
  const labelWidth = Math.max(fmtNum(hi).length, fmtNum(lo).length);
  const w = Math.max(1, o.width - labelWidth - 2);
  const h = Math.max(2, o.height);
  const grid = Array.from({ length: h }, () => Array.from({ length: w }, () => ' '));
  series.forEach((pts, i) => {
    for (const b of downsample(pts, w * 2)) {
      const x = s1 === s0 ? 0 : Math.round((((b.from + b.to) / 2 - s0) / (s1 - s0)) * (w - 1));
      const y = hi === lo ? Math.floor(h / 2) : Math.round(((b.mean - lo) / (hi - lo)) * (h - 1));
      grid[h - 1 - y][x] = o.marks[i % o.marks.length];
    }
  });
  const rows = grid.map((cells, r) => `${(r === 0 ? fmtNum(hi) : r === h - 1 ? fmtNum(lo) : '').padStart(labelWidth)} ┤${cells.join('')}`);
  rows.push(`${' '.repeat(labelWidth)} └${'─'.repeat(w)}`, `${' '.repeat(labelWidth + 2)}${String(s0)}${String(s1).padStart(Math.max(1, w - String(s0).length))}  step`);
  return rows;
}
