/**
 * Check and convert `--param k=v` values against an experiment's declared params. Only
 * declared params may be set; each value is converted to the declared type (or the type of
 * its default), and checked against enum/minimum/maximum.
 */
import { GitmlError } from '../errors.js';
import type { Experiment, Param } from '../entities/types.js';
import type { ParamValue } from '../runs/types.js';

type ParamType = NonNullable<Param['type']>;

function declaration(d: string | number | boolean | Param): Param {
  return typeof d === 'object' && d !== null ? d : { default: d };
}

function typeOf(p: Param): ParamType {
  if (p.type) return p.type;
  if (typeof p.default === 'number') return Number.isInteger(p.default) ? 'number' : 'number';
  if (typeof p.default === 'boolean') return 'boolean';
  return 'string';
}

function convert(name: string, raw: ParamValue, type: ParamType): ParamValue {
  const bad = (): never => {
    throw new GitmlError('PARAM', `param ${name}: ${JSON.stringify(raw)} is not ${type === 'integer' ? 'an integer' : `a ${type}`}`, { param: name, value: raw, type });
  };
  switch (type) {
    case 'string':
      return String(raw);
    case 'number':
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) bad();
      if (type === 'integer' && !Number.isInteger(n)) bad();
      return n;
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      return bad();
    }
  }
}

/**
 * The run's params: every declared param with its given or default value.
 *
 * @example resolveParams({ experiment: spec, given: { lr: '0.1' } }) // { lr: 0.1, epochs: 10 }
 */
export function resolveParams(opts: { experiment: Experiment; given?: Record<string, ParamValue>; experimentName?: string }): Record<string, ParamValue> {
  const declared = opts.experiment.params ?? {};
  const given = opts.given ?? {};
  for (const k of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(declared, k)) {
      const known = Object.keys(declared);
      throw new GitmlError(
        'PARAM',
        `param ${JSON.stringify(k)} is not declared by experiment ${opts.experimentName ?? ''}`.trimEnd() +
          ` (declared: ${known.length ? known.join(', ') : 'none'}); add it under \`params:\` in the experiment's YAML`,
        { param: k, declared: known },
      );
    }
  }
  const out: Record<string, ParamValue> = {};
  for (const [name, d] of Object.entries(declared)) {
    const p = declaration(d);
    const type = typeOf(p);
    const raw = Object.prototype.hasOwnProperty.call(given, name) ? given[name] : p.default;
    if (raw === undefined) throw new GitmlError('PARAM', `param ${name} has no default: set it with --param ${name}=VALUE`, { param: name });
    const v = convert(name, raw, type);
    if (p.enum && !p.enum.some((e) => e === v || String(e) === String(v))) {
      throw new GitmlError('PARAM', `param ${name}: ${JSON.stringify(v)} is not one of ${p.enum.map((e) => JSON.stringify(e)).join(', ')}`, { param: name, value: v });
    }
    if (typeof v === 'number' && ((p.minimum !== undefined && v < p.minimum) || (p.maximum !== undefined && v > p.maximum))) {
      throw new GitmlError('PARAM', `param ${name}: ${v} is outside [${p.minimum ?? '-inf'}, ${p.maximum ?? 'inf'}]`, { param: name, value: v });
    }
    out[name] = v;
  }
  return out;
}
