/**
 * Turns ajv's JSON-pointer errors into located, plain-words problems: each error is mapped
 * back to the YAML node it concerns (through the document's source ranges and a LineCounter),
 * and worded for a person ("unknown field `comand`; did you mean `command`?").
 */
import type { ErrorObject } from 'ajv';
import type { Document, LineCounter, Node } from 'yaml';
import { yamlLib } from './parse.js';
import type { Problem } from './types.js';
import { closest } from '../suggest.js';

export interface SourceDoc {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

function decodePointer(ptr: string): string[] {
  if (ptr === '') return [];
  return ptr
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The YAML node at a JSON-pointer path, plus the key node of its pair when there is one. */
export function nodeAt(doc: Document.Parsed, segments: (string | number)[]): { node?: Node; key?: Node } {
  const { isMap, isPair, isScalar, isSeq } = yamlLib();
  let node: unknown = doc.contents;
  let key: Node | undefined;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return { node: node as Node, key };
      key = pair.key as Node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (item === undefined) return { node: node as Node, key };
      key = undefined;
      node = item;
    } else {
      return { node: node as Node, key };
    }
  }
  return { node: node as Node, key };
}

export function position(src: SourceDoc, node: Node | undefined): { line: number; col: number } {
  const offset = node?.range?.[0];
  if (offset === undefined) return { line: 1, col: 1 };
  const p = src.lineCounter.linePos(offset);
  return { line: p.line, col: p.col };
}

export function locate(src: SourceDoc, segments: (string | number)[], preferKey = false): { line: number; col: number } {
  const { node, key } = nodeAt(src.doc, segments);
  return position(src, preferKey && key ? key : node);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${typeof value} ${String(value)}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  null: 'nothing',
};

function typeWords(t: unknown): string {
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => TYPE_WORDS[String(x)] ?? String(x)).join(' or ');
}

function field(segments: string[]): string {
  return segments.length === 0 ? 'the document' : `\`${segments.join('.')}\``;
}

function valueAt(data: unknown, segments: string[]): unknown {
  let v: unknown = data;
  for (const s of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[s];
  }
  return v;
}

/**
 * Keep the most useful errors: for a failed `oneOf`, the errors of the branch that got furthest
 * (a mapping checked against the mapping branch) rather than every branch's type mismatch.
 */
function prune(errors: ErrorObject[]): ErrorObject[] {
  const oneOfs = errors.filter((e) => e.keyword === 'oneOf');
  let kept = errors;
  for (const o of oneOfs) {
    const prefix = o.schemaPath.replace(/\/oneOf$/, '/oneOf/');
    const inside = kept.filter((e) => e.schemaPath.startsWith(prefix) && e.instancePath.startsWith(o.instancePath));
    const specific = inside.filter((e) => !(e.keyword === 'type' && e.instancePath === o.instancePath));
    if (specific.length > 0) {
      // The value had the right shape for one branch: report that branch's complaints only.
      kept = kept.filter((e) => e !== o && (!inside.includes(e) || specific.includes(e)));
    } else {
      // Wrong shape for every branch: one message listing the accepted shapes.
      const types = inside.filter((e) => e.keyword === 'type').map((e) => e.params.type);
      (o as ErrorObject & { gitmlTypes?: unknown[] }).gitmlTypes = types.flat();
      kept = kept.filter((e) => !inside.includes(e));
    }
  }
  return kept;
}

export function schemaProblems(src: SourceDoc, data: unknown, errors: ErrorObject[], kindLabel: string): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const e of prune(errors)) {
    const segs = decodePointer(e.instancePath);
    let message: string;
    let at = locate(src, segs);
    switch (e.keyword) {
      case 'required': {
        const missing = String(e.params.missingProperty);
        message = `${field([...segs, missing])} is missing (required in ${segs.length ? field(segs) : `a ${kindLabel}`})`;
        break;
      }
      case 'additionalProperties': {
        const extra = String(e.params.additionalProperty);
        const known = Object.keys((e.parentSchema?.properties as object) ?? {});
        const guess = closest(extra, known);
        message = `unknown field ${field([...segs, extra])}${guess ? `; did you mean \`${guess}\`?` : known.length ? ` (known: ${known.join(', ')})` : ''}`;
        at = locate(src, [...segs, extra], true);
        break;
      }
      case 'type':
        message = `${field(segs)} should be ${typeWords(e.params.type)}, got ${describe(valueAt(data, segs))}`;
        break;
      case 'oneOf': {
        const types = (e as ErrorObject & { gitmlTypes?: unknown[] }).gitmlTypes;
        message = types?.length
          ? `${field(segs)} should be ${typeWords([...new Set(types)])}, got ${describe(valueAt(data, segs))}`
          : `${field(segs)} does not match any accepted form`;
        break;
      }
      case 'const':
        message = `${field(segs)} must be ${JSON.stringify(e.params.allowedValue)}, got ${describe(valueAt(data, segs))}`;
        break;
      case 'enum': {
        const allowed = (e.params.allowedValues as unknown[]).map(String);
        const got = valueAt(data, segs);
        const guess = typeof got === 'string' ? closest(got, allowed) : undefined;
        message = `${field(segs)} must be one of ${allowed.join(', ')}, got ${describe(got)}${guess ? `; did you mean \`${guess}\`?` : ''}`;
        break;
      }
      case 'discriminator': {
        message =
          e.params.error === 'mapping'
            ? `${field([...segs, String(e.params.tag)])} must be one of local, docker, kubernetes, spark, got ${describe(valueAt(data, [...segs, String(e.params.tag)]))}`
            : `${field([...segs, String(e.params.tag)])} is missing or not a string`;
        at = locate(src, [...segs, String(e.params.tag)]);
        break;
      }
      case 'not':
        message =
          e.schemaPath === '#/not'
            ? `${field(segs)}: use either \`${((e.schema as { required?: string[] }).required ?? []).join('` or `')}\`, not both`
            : `${field(segs)} is not allowed here`;
        break;
      case 'pattern': {
        const desc = (e.parentSchema?.description as string | undefined)?.split('. ')[0];
        message = `${field(segs)} has an invalid form ${describe(valueAt(data, segs))}${desc ? ` (expected: ${desc.replace(/\.$/, '')})` : ''}`;
        break;
      }
      case 'propertyNames':
        continue; // reported through the nested pattern error
      default:
        message = `${field(segs)} ${e.message ?? 'is invalid'}`;
    }
    if (e.keyword === 'pattern' && e.propertyName !== undefined) {
      message = `name ${JSON.stringify(e.propertyName)} in ${field(segs)} must start with a letter or _ and use letters, digits, '_', '.', '-'`;
      at = locate(src, [...segs, e.propertyName], true);
    }
    const key = `${at.line}:${at.col}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ file: src.file, ...at, message, code: 'schema', severity: 'error' });
  }
  return out;
}
