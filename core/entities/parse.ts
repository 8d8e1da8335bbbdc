/**
 * Parses one entity file into a YAML document with source positions, refusing what is not a
 * small, single, text YAML mapping before it can cost memory or time (binary files, huge
 * files, alias bombs, several documents).
 */
import { CORE_SCHEMA, load as fastLoad } from 'js-yaml';
import { createRequire } from 'node:module';
import type { Document } from 'yaml';
import type { SourceDoc } from './diagnostics.js';
import type { Problem } from './types.js';

// The position-keeping parser is only needed to explain a problem: load it on first use.
const yamlLib = (() => {
  let lib: typeof import('yaml') | undefined;
  return () => (lib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));
})();
export { yamlLib };

/** Entity files are hand-written configuration; anything bigger is a mistake. */
export const MAX_ENTITY_BYTES = 1024 * 1024;
/** Aliases allowed when converting to plain data (a "billion laughs" document has millions). */
export const MAX_ALIASES = 100;

export interface Parsed {
  /** The document with source positions; built on first use, since valid files never need it. */
  src?: () => SourceDoc;
  data?: unknown;
  problems: Problem[];
}

/** Anchors or aliases (`&a`, `*a`) take the careful path, which caps alias expansion. */
const ANCHOR_RE = /(^|[\s[{,:-])[&*][^\s,\]}]/m;

const problem = (file: string, line: number, col: number, message: string, code: Problem['code'] = 'yaml'): Problem => ({
  file,
  line,
  col,
  message,
  code,
  severity: 'error',
});

function fmtBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/**
 * Fast path first: js-yaml reads a plain, valid document about 7x faster than building a
 * document with source ranges, and a repository of valid files never needs positions. Any
 * doubt (an anchor, a second document, a parse error) takes the careful path, whose errors
 * carry line and column.
 */
export function parseEntity(file: string, bytes: Buffer): Parsed {
  const early = checkBytes(file, bytes);
  if (typeof early !== 'string') return early;
  const text = early;
  if (!ANCHOR_RE.test(text) && !/^(---|\.\.\.)/m.test(text)) {
    try {
      const data = fastLoad(text, { schema: CORE_SCHEMA, json: false });
      if (data !== null && data !== undefined && typeof data === 'object' && !Array.isArray(data)) {
        let src: SourceDoc | undefined;
        return { data, problems: [], src: () => (src ??= sourceDoc(file, text)) };
      }
    } catch {
      /* fall through to the careful parser for a located message */
    }
  }
  return parseCarefully(file, text);
}

function sourceDoc(file: string, text: string): SourceDoc {
  const { LineCounter, parseDocument } = yamlLib();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, version: '1.2' });
  return { file, doc, lineCounter };
}

function checkBytes(file: string, bytes: Buffer): Parsed | string {
  if (bytes.length > MAX_ENTITY_BYTES) {
    return { problems: [problem(file, 0, 0, `file is ${fmtBytes(bytes.length)}; gitml entity files must be under ${fmtBytes(MAX_ENTITY_BYTES)}`, 'io')] };
  }
  if (bytes.includes(0)) {
    return { problems: [problem(file, 0, 0, 'this is a binary file, not YAML text', 'io')] };
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { problems: [problem(file, 0, 0, 'this file is not valid UTF-8 text', 'io')] };
  }
}

function parseCarefully(file: string, text: string): Parsed {
  const { LineCounter, parseDocument } = yamlLib();
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, version: '1.2' });
  } catch (e) {
    return { problems: [problem(file, 1, 1, `cannot parse YAML: ${(e as Error).message}`)] };
  }
  const sd: SourceDoc = { file, doc, lineCounter };
  const src = () => sd;
  if (doc.errors.length > 0) {
    return {
      src,
      problems: doc.errors.map((err) => {
        const p = lineCounter.linePos(err.pos[0]);
        return problem(file, p.line, p.col, yamlMessage(err.code, err.message, text, err.pos[0]));
      }),
    };
  }
  // A second document after `---` would be silently ignored: refuse it.
  const rest = text.slice(doc.range[2]);
  if (/^---/m.test(rest) && /\S/.test(rest.replace(/^---\s*$/m, ''))) {
    const off = doc.range[2] + rest.search(/^---/m);
    const p = lineCounter.linePos(off);
    return { src, problems: [problem(file, p.line, p.col, 'a gitml entity file holds one YAML document; found a second one after `---`')] };
  }
  try {
    const data = doc.toJS({ maxAliasCount: MAX_ALIASES });
    if (data === null || data === undefined) {
      return { src, problems: [problem(file, 1, 1, 'the file is empty; expected a mapping with `kind:` and the entity fields')] };
    }
    if (typeof data !== 'object' || Array.isArray(data)) {
      const what = Array.isArray(data) ? 'a list' : `a ${typeof data}`;
      const pos = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
      return { src, problems: [problem(file, pos.line, pos.col, `the document is ${what}; expected a mapping of fields (\`kind: ...\` and so on)`, 'schema')] };
    }
    return { src, data, problems: [] };
  } catch (e) {
    const msg = (e as Error).message;
    if (/alias/i.test(msg)) {
      return { src, problems: [problem(file, 1, 1, `too many YAML aliases (more than ${MAX_ALIASES}); this looks like an alias bomb`)] };
    }
    return { src, problems: [problem(file, 1, 1, `cannot read YAML: ${msg}`)] };
  }
}

function yamlMessage(code: string, message: string, text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const line = text.slice(lineStart, text.indexOf('\n', offset) === -1 ? undefined : text.indexOf('\n', offset));
  if (/^\s*\t/.test(line) || code === 'TAB_AS_INDENT') return 'a tab is used for indentation; YAML indents with spaces only';
  if (code === 'MULTIPLE_DOCS') return 'a gitml entity file holds one YAML document; found a second one after `---`';
  if (code === 'DUPLICATE_KEY') return `duplicate key: ${message.replace(/ at line.*$/s, '').replace(/^Map keys must be unique/, 'each field may appear once')}`;
  // The yaml library's messages are precise but end with a code excerpt; keep the first sentence.
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}
