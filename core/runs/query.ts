/**
 * Filter expressions and sort keys over run records: `params.C>=1`, `metrics.accuracy>0.9`,
 * `status=completed`, `source.branch!=main`, `tags.team~vision` (contains).
 */
import { GitmlError } from '../errors.js';
import type { RunRecord } from './types.js';

export type Op = '>=' | '<=' | '!=' | '=' | '>' | '<' | '~';

export interface Condition {
  key: string;
  op: Op;
  value: string;
}

const MAPS = new Set(['params', 'metrics', 'tags', 'inputs']);

export function parseWhere(expr: string): Condition {
  const m = /^\s*([A-Za-z_][\w.\-/:]*?)\s*(>=|<=|!=|==|=|>|<|~)\s*(.*?)\s*$/.exec(expr);
  if (!m) throw new GitmlError('USAGE', `cannot read the condition ${JSON.stringify(expr)}; expected KEY OP VALUE, e.g. metrics.accuracy>0.9 or params.C=1`, { expr });
  return { key: m[1], op: (m[2] === '==' ? '=' : m[2]) as Op, value: m[3] };
}

/** The value at `key` in a record: `params.x`, `metrics.x`, `tags.x`, or a dotted path. */
export function fieldOf(r: RunRecord, key: string): unknown {
  const dot = key.indexOf('.');
  if (dot > 0 && MAPS.has(key.slice(0, dot))) {
    const map = (r as unknown as Record<string, Record<string, unknown> | undefined>)[key.slice(0, dot)];
    return map?.[key.slice(dot + 1)];
  }
  let cur: unknown = r;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const asNumber = (v: unknown): number | undefined => {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
};

export function matches(r: RunRecord, c: Condition): boolean {
  const v = fieldOf(r, c.key);
  if (v === undefined || v === null) return c.op === '!=';
  if (c.op === '~') return String(v).includes(c.value);
  const a = asNumber(v);
  const b = asNumber(c.value);
  let cmp: number;
  if (a !== undefined && b !== undefined) cmp = a === b ? 0 : a < b ? -1 : a > b ? 1 : NaN;
  else {
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    cmp = s === c.value ? 0 : s < c.value ? -1 : 1;
  }
  switch (c.op) {
    case '=':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
  }
  return false;
}

/** A comparator for `key` or `-key` (descending); records without the key sort last. */
export function sorter(spec: string): (a: RunRecord, b: RunRecord) => number {
  const desc = spec.startsWith('-');
  const key = desc ? spec.slice(1) : spec.replace(/^\+/, '');
  if (!key) throw new GitmlError('USAGE', `empty sort key ${JSON.stringify(spec)}`);
  return (x, y) => {
    const a = fieldOf(x, key);
    const b = fieldOf(y, key);
    const am = a === undefined || a === null || (typeof a === 'number' && Number.isNaN(a));
    const bm = b === undefined || b === null || (typeof b === 'number' && Number.isNaN(b));
    if (am || bm) return am === bm ? (x.id < y.id ? 1 : -1) : am ? 1 : -1;
    let cmp: number;
    if (typeof a === 'number' && typeof b === 'number') cmp = a - b;
    else {
      const sa = String(a);
      const sb = String(b);
      cmp = sa < sb ? -1 : sa > sb ? 1 : 0;
    }
    if (cmp === 0) return x.id < y.id ? 1 : x.id > y.id ? -1 : 0;
    return desc ? -cmp : cmp;
  };
}
