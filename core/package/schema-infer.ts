/**
 * Infers a model's column signature (the `schema.json` of a serving bundle: `inputs` and
 * `outputs` as `[{name, type}]`, type one of double | long | string | boolean) from the sample
 * data saved at training time.
 *
 * The sample is read from its JSON text, not from a parsed value, because `5.0` and `5` are
 * the same number once parsed: a column written by pandas as `5.0, 6.0` is a double column,
 * and calling it `long` would make the server refuse `5.1` later.
 *
 * @example
 *   const { schema, records } = inferSchema({ text: '[{"a": 1.5, "b": "x"}]', flavor: 'sklearn' });
 *   // schema.inputs = [{name: 'a', type: 'double'}, {name: 'b', type: 'string'}]
 *   // schema.outputs = [{name: 'prediction', type: 'long'}]
 */
import { GitmlError } from '../errors.js';

export type ColumnType = 'double' | 'long' | 'string' | 'boolean';

export interface Column {
  name: string;
  type: ColumnType;
}

export interface ModelSchema {
  inputs: Column[];
  outputs: Column[];
}

export interface InferSchemaOptions {
  /** The sample file's text (JSON: a list of records, or `{columns, data}`, or `{column: [values]}`). */
  text: string;
  /** The Model's flavor; decides the outputs when nothing better is known. */
  flavor?: 'sklearn' | 'python';
  /** Where the sample came from, for messages. */
  source?: string;
}

export interface InferredSchema {
  schema: ModelSchema;
  /** The sample as a list of records in column order (what the bundle's sample.json holds). */
  records: Array<Record<string, unknown>>;
  /** Where the outputs came from. */
  outputsFrom: 'flavor' | 'none';
  /** Things the user should know (an all-null column typed as double, mixed types...). */
  warnings: string[];
}

/** A JSON number with its source text, so `5.0` stays a double. */
class Num {
  constructor(readonly text: string) {}
  get value(): number {
    return Number(this.text);
  }
  get integral(): boolean {
    return /^-?\d+$/.test(this.text);
  }
}

type Raw = null | boolean | string | Num | Raw[] | { [k: string]: Raw };

/** A small strict JSON parser that keeps number lexemes. Throws on anything not JSON. */
export function parseJsonKeepingNumbers(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const value = (depth: number): Raw => {
    if (depth > 64) fail('nesting too deep');
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const o: Record<string, Raw> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const k = str();
        ws();
        if (text[i++] !== ':') fail("expected ':'");
        Object.defineProperty(o, k, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return o;
        }
        fail("expected ',' or '}'");
      }
    }
    if (ch === '[') {
      i++;
      const a: Raw[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return a;
        }
        fail("expected ',' or ']'");
      }
    }
    if (ch === '"') return str();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m![0].length;
    return new Num(m![0]);
  };
  const str = (): string => {
    const start = i;
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) fail('unterminated string');
      if (c === '\\') i += 2;
      else if (c === '"') break;
      else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

const isObj = (v: unknown): v is Record<string, Raw> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Num);

/** Rows as records of raw values, from any of the accepted sample layouts. */
function toRawRecords(data: unknown, where: string): Array<Record<string, Raw>> {
  const bad = (msg: string): never => {
    throw new GitmlError('MANIFEST', `${where}: ${msg}; sample data must be a JSON list of records ([{"col": value, ...}]) or {"columns": [...], "data": [[...]]}`, { source: where });
  };
  if (Array.isArray(data)) {
    if (data.length === 0) bad('the sample has no rows');
    if (!data.every(isObj)) bad('every row of the list must be an object');
    return data as Array<Record<string, Raw>>;
  }
  if (isObj(data)) {
    if (Array.isArray(data.columns) && Array.isArray(data.data)) {
      const cols = data.columns as Raw[];
      if (!cols.every((c) => typeof c === 'string')) bad('`columns` must be a list of names');
      const names = cols as string[];
      const rows = data.data as Raw[];
      if (rows.length === 0) bad('the sample has no rows');
      return rows.map((r, n) => {
        if (!Array.isArray(r) || r.length !== names.length) bad(`data[${n}] must be a list of ${names.length} values`);
        const o: Record<string, Raw> = {};
        names.forEach((c, k) => Object.defineProperty(o, c, { value: (r as Raw[])[k], enumerable: true, writable: true, configurable: true }));
        return o;
      });
    }
    const entries = Object.entries(data);
    if (entries.length > 0 && entries.every(([, v]) => Array.isArray(v))) {
      const len = (entries[0][1] as Raw[]).length;
      if (len === 0) bad('the sample has no rows');
      if (!entries.every(([, v]) => (v as Raw[]).length === len)) bad('every column must have the same number of values');
      return Array.from({ length: len }, (_, n) => {
        const o: Record<string, Raw> = {};
        for (const [k, v] of entries) Object.defineProperty(o, k, { value: (v as Raw[])[n], enumerable: true, writable: true, configurable: true });
        return o;
      });
    }
  }
  return bad('unexpected layout');
}

function plain(v: Raw): unknown {
  return v instanceof Num ? v.value : v;
}

/** The type of one column from its values; null values are ignored. */
export function inferColumnType(values: unknown[], name: string, warnings: string[], where = 'sample'): ColumnType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) {
    warnings.push(`${where}: column ${JSON.stringify(name)} is null in every row; typed as double`);
    return 'double';
  }
  for (const v of present) {
    if (typeof v === 'object' && !(v instanceof Num)) {
      throw new GitmlError('MANIFEST', `${where}: column ${JSON.stringify(name)} holds ${Array.isArray(v) ? 'a list' : 'an object'}; the scoring schema takes scalar columns only (numbers, strings, booleans)`, { column: name, source: where });
    }
  }
  const kinds = new Set(present.map((v) => (v instanceof Num ? (v.integral ? 'long' : 'double') : typeof v === 'number' ? (Number.isInteger(v) ? 'long' : 'double') : typeof v)));
  if (kinds.size === 1) {
    const k = [...kinds][0];
    if (k === 'long' || k === 'double' || k === 'string' || k === 'boolean') return k;
  }
  if ([...kinds].every((k) => k === 'long' || k === 'double')) return 'double';
  warnings.push(`${where}: column ${JSON.stringify(name)} mixes ${[...kinds].sort().join(' and ')} values; typed as string`);
  return 'string';
}

/**
 * What a model of this flavor returns when nothing better is known. The built-in sklearn
 * loader calls `predict`, which for a classifier (the common case, and the `sklearn`
 * template) gives one label per row: `prediction` as long. A regressor's floats still come
 * back as numbers (the server keeps the values' own type when they do not fit). The python
 * flavor's scoring script may return anything: no declared outputs.
 */
export function outputsForFlavor(flavor: 'sklearn' | 'python' | undefined): Column[] {
  return (flavor ?? 'sklearn') === 'sklearn' ? [{ name: 'prediction', type: 'long' }] : [];
}

/** Infer the bundle schema and normalised records from the sample text. */
export function inferSchema(opts: InferSchemaOptions): InferredSchema {
  const where = opts.source ?? 'sample data';
  let data: unknown;
  try {
    data = parseJsonKeepingNumbers(opts.text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new GitmlError('MANIFEST', `${where} is not valid JSON (${(e as Error).message})`, { source: where });
  }
  const rows = toRawRecords(data, where);
  const names: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.has(k)) seen.add(k), names.push(k);
  if (names.length === 0) throw new GitmlError('MANIFEST', `${where}: the sample rows have no columns`, { source: where });
  const warnings: string[] = [];
  const inputs = names.map((name) => ({ name, type: inferColumnType(rows.map((r) => (Object.hasOwn(r, name) ? r[name] : null)), name, warnings, where) }));
  const records = rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const c of inputs) {
      const v = Object.hasOwn(r, c.name) ? plain(r[c.name]) : null;
      Object.defineProperty(o, c.name, { value: c.type === 'string' && v !== null && typeof v !== 'string' ? String(v) : v, enumerable: true, writable: true, configurable: true });
    }
    return o;
  });
  const outputs = outputsForFlavor(opts.flavor);
  return { schema: { inputs, outputs }, records, outputsFrom: outputs.length ? 'flavor' : 'none', warnings };
}
