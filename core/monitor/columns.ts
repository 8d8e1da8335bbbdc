/**
 * Per-column accumulators for the current (served) data. A sample log can hold millions of
 * rows, so nothing keeps every value: a numeric column keeps its bin counts against the
 * reference's quantile bins exactly, and a uniform reservoir (Vitter's algorithm R, seeded, so
 * a report is reproducible) of at most `cap` values for the tests that need raw values
 * (Kolmogorov-Smirnov, Wasserstein); a categorical column keeps exact counts of at most
 * `maxCategories` values, the rest counted as other.
 */
import { binOf } from './stats.js';

export type ColumnKind = 'numeric' | 'categorical';

export const OTHER_CATEGORY = '\u0000other';

/** A small fast PRNG (mulberry32) so reservoirs are the same for the same log. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class NumericColumn {
  readonly kind = 'numeric' as const;
  count = 0;
  missing = 0;
  invalid = 0;
  readonly bins: Float64Array;
  private values: Float64Array;
  private filled = 0;
  private readonly random: () => number;

  constructor(readonly inner: number[], readonly cap = 200_000, seed = 1) {
    this.bins = new Float64Array(inner.length + 1);
    this.values = new Float64Array(Math.min(cap, 1024));
    this.random = rng(seed);
  }

  add(v: unknown): void {
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) {
      this.missing++;
      return;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.invalid++;
      return;
    }
    this.count++;
    this.bins[binOf(this.inner, v)]++;
    if (this.filled < this.cap) {
      if (this.filled === this.values.length) {
        const grown = new Float64Array(Math.min(this.cap, this.values.length * 2));
        grown.set(this.values);
        this.values = grown;
      }
      this.values[this.filled++] = v;
    } else {
      const k = Math.floor(this.random() * this.count);
      if (k < this.cap) this.values[k] = v;
    }
  }

  /** The reservoir, sorted. */
  sample(): Float64Array {
    const a = this.values.slice(0, this.filled);
    a.sort();
    return a;
  }
}

export class CategoricalColumn {
  readonly kind = 'categorical' as const;
  count = 0;
  missing = 0;
  invalid = 0;
  readonly counts = new Map<string, number>();

  constructor(readonly maxCategories = 10_000) {}

  add(v: unknown): void {
    if (v === null || v === undefined) {
      this.missing++;
      return;
    }
    if (typeof v === 'object') {
      this.invalid++;
      return;
    }
    this.count++;
    let key = String(v);
    if (!this.counts.has(key) && this.counts.size >= this.maxCategories) key = OTHER_CATEGORY;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}

export type Column = NumericColumn | CategoricalColumn;
