/**
 * Filter expressions and sort keys over run records: `params.C>=1`, `metrics.accuracy>0.9`,
 * `status=completed`, `source.branch!=main`, `tags.team~vision` (contains).
 *
 * Everything that can be checked without the runs is checked here (syntax, operator, that a
 * metric is compared with a number, that a plain key is a record field); whether a named param
 * or metric exists at all is checked against the runs by listRuns (see `mapRef`).
 */
import { GitmlError } from '../errors.js';
import type { RunRecord } from './types.js';
import { closest as suggest } from '../suggest.js';

export type Op = '>=' | '<=' | '!=' | '=' | '>' | '<' | '~';

export interface Condition {
  key: string;
  op: Op;
  value: string;
}

const MAPS = new Set(['params', 'metrics', 'tags', 'inputs']);

/** Top-level fields of a RunRecord, the keys a condition or sort may name besides the maps. */
export const RECORD_FIELDS = [
  'id',
  'experiment',
  'status',
  'source',
  'environment',
  'compute',
  'host',
  'user',
  'trigger',
  'startedAt',
  'endedAt',
  'durationMs',
  'exitCode',
  'error',
  'spec',
  'artifacts',
  'schema',
] as const;
const FIELDS = new Set<string>(RECORD_FIELDS);

const OPS = '= != > >= < <= ~ (contains)';

/** The candidate closest to `name` when it is a plausible typo of it (run keys are short: one edit at least). */
export const closest = (name: string, candidates: Iterable<string>): string | undefined => suggest(name, candidates, 1);

/**
 * Check that `key` names something a run record can have: `params.X`, `metrics.X`, `tags.X`,
 * `inputs.X`, or a record field, optionally dotted (`source.branch`). `what` names the option
 * for the message.
 */
export function checkKey(key: string, what: string): void {
  const dot = key.indexOf('.');
  const head = dot < 0 ? key : key.slice(0, dot);
  if (MAPS.has(head)) {
    if (dot < 0 || dot === key.length - 1) throw new GitmlError('USAGE', `${what}: ${JSON.stringify(key)} needs a name after the dot, e.g. ${head}.accuracy`, { key });
    return;
  }
  if (!FIELDS.has(head)) {
    const hint = closest(head, [...FIELDS, ...MAPS]);
    throw new GitmlError(
      'USAGE',
      `${what}: unknown key ${JSON.stringify(key)}${hint ? ` (did you mean ${hint}?)` : ''}; use params.NAME, metrics.NAME, tags.NAME, inputs.NAME or a record field (${RECORD_FIELDS.slice(0, 12).join(', ')})`,
      { key },
    );
  }
}

/** For `params.x` / `metrics.x` / `inputs.x`: the map and the name, whose presence on some run is checked. */
export function mapRef(key: string): { map: 'params' | 'metrics' | 'inputs'; name: string } | undefined {
  const dot = key.indexOf('.');
  const head = key.slice(0, dot);
  if (dot > 0 && (head === 'params' || head === 'metrics' || head === 'inputs')) return { map: head, name: key.slice(dot + 1) };
  return undefined;
}

const isNumeric = (s: string) => s.trim() !== '' && Number.isFinite(Number(s));

export function parseWhere(expr: string): Condition {
  const m = /^\s*([A-Za-z_][\w.\-/:]*?)\s*(>=|<=|!=|==|=|>|<|~)\s*(.*?)\s*$/.exec(expr);
  if (!m) throw new GitmlError('USAGE', `--where: cannot read the condition ${JSON.stringify(expr)}; expected KEY OP VALUE, e.g. metrics.accuracy>0.9 or params.C=1 (OP is one of ${OPS})`, { expr });
  const [, key, rawOp, value] = m;
  // `=>`, `>>`, `=<`, `!~`...: the regex read the first operator and left the rest in the value.
  const extra = /^[<>=!~]+/.exec(value)?.[0];
  if (extra) throw new GitmlError('USAGE', `--where: unknown operator ${JSON.stringify(rawOp + extra)} in ${JSON.stringify(expr)}; use one of ${OPS}`, { expr });
  if (value === '') throw new GitmlError('USAGE', `--where: the condition ${JSON.stringify(expr)} has no value after ${rawOp}`, { expr });
  checkKey(key, '--where');
  const op = (rawOp === '==' ? '=' : rawOp) as Op;
  if (key.startsWith('metrics.') && op !== '~' && !isNumeric(value)) {
    throw new GitmlError('USAGE', `--where: ${key} is a number; ${JSON.stringify(value)} in ${JSON.stringify(expr)} is not`, { expr });
  }
  return { key, op, value };
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

/**
 * A test of one value against a condition, with the value already looked up (the index calls it
 * on column values, `matches` on record fields: one rule for both, so answers cannot differ).
 */
export function compileCondition(c: Condition): (v: unknown) => boolean {
  const b = asNumber(c.value);
  return (v) => {
    if (v === undefined || v === null) return c.op === '!=';
    if (c.op === '~') return String(v).includes(c.value);
    const a = asNumber(v);
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
  };
}

export function matches(r: RunRecord, c: Condition): boolean {
  return compileCondition(c)(fieldOf(r, c.key));
}

/** The key a sort spec names and its direction (`-metrics.loss`: metrics.loss, descending); checked. */
export function sortKey(spec: string): { key: string; desc: boolean } {
  const desc = spec.startsWith('-');
  const key = desc ? spec.slice(1) : spec.replace(/^\+/, '');
  if (!key) throw new GitmlError('USAGE', `--sort: empty key ${JSON.stringify(spec)}; use e.g. metrics.accuracy, or -metrics.accuracy for descending`);
  checkKey(key, '--sort');
  return { key, desc };
}

/**
 * The order of two runs by their values at the sort key (`a`, `b`) and their ids: missing values
 * last, ties newest first. Shared by the record comparator and the index.
 */
export function compareValues(a: unknown, aId: string, b: unknown, bId: string, desc: boolean): number {
  const am = a === undefined || a === null || (typeof a === 'number' && Number.isNaN(a));
  const bm = b === undefined || b === null || (typeof b === 'number' && Number.isNaN(b));
  if (am || bm) return am === bm ? (aId < bId ? 1 : -1) : am ? 1 : -1;
  let cmp: number;
  if (typeof a === 'number' && typeof b === 'number') cmp = a - b;
  else {
    const sa = String(a);
    const sb = String(b);
    cmp = sa < sb ? -1 : sa > sb ? 1 : 0;
  }
  if (cmp === 0) return aId < bId ? 1 : aId > bId ? -1 : 0;
  return desc ? -cmp : cmp;
}

/** A comparator for `key` or `-key` (descending); records without the key sort last. */
export function sorter(spec: string): (a: RunRecord, b: RunRecord) => number {
  const { key, desc } = sortKey(spec);
  return (x, y) => compareValues(fieldOf(x, key), x.id, fieldOf(y, key), y.id, desc);
}
