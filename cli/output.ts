/**
 * Terminal output helpers shared by every command: colours that respect NO_COLOR (and
 * FORCE_COLOR), aligned tables, sparklines, JSON, and a progress line on stderr.
 */
import { stripVTControlCharacters } from 'node:util';

export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

const wrap = (open: number, close: number) => (s: string, stream?: NodeJS.WriteStream) =>
  useColor(stream) ? `\u001b[${open}m${s}\u001b[${close}m` : s;

export const c = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  blue: wrap(34, 39),
  cyan: wrap(36, 39),
};

/**
 * Text that came from outside this process (run records and logs from a pulled runs branch,
 * registry tags anyone with push access wrote, error messages quoting them) made safe for a
 * terminal: SGR colour sequences (`ESC [ ... m`) stay, every other control character is
 * written as an escape that can be read (`\x1b`, `\x9b`, `\u202e`), so OSC 52 cannot write the
 * clipboard, OSC 8 cannot forge a link, CSI cannot clear the screen or move the cursor, and
 * bidirectional overrides cannot reorder what is shown. With `line`, newlines, carriage
 * returns and tabs are escaped too (a table cell, a one-line value cannot forge more lines).
 * --json output never goes through this: it is exact.
 *
 * Example: `termSafe('a\x1b]52;c;eA==\x07b')` → `'a\\x1b]52;c;eA==\\x07b'`.
 */
export function termSafe(text: string, opts: { line?: boolean } = {}): string {
  // Fast path: nothing a terminal acts on.
  if (!/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text)) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const code = ch.charCodeAt(0);
    if (ch === '\u001b') {
      const sgr = /^\u001b\[[0-9;:]*m/.exec(text.slice(i, i + 64));
      if (sgr) {
        out += sgr[0];
        i += sgr[0].length - 1;
        continue;
      }
    }
    if (!opts.line && (ch === '\n' || ch === '\t' || ch === '\r')) out += ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if ((code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) out += `\\u${code.toString(16)}`;
    else out += ch;
  }
  return out;
}

/** Human output on stdout, made safe for the terminal (see termSafe); line ends are kept. */
export function writeOut(text: string): void {
  process.stdout.write(termSafe(text));
}

/** The same on stderr. */
export function writeErr(text: string): void {
  process.stderr.write(termSafe(text));
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

const CHUNK = 1 << 20;
/** Room past CHUNK for one structural character's newline and indent; deeper rows go the slow way. */
const SLACK = 1 << 12;

/**
 * Compact JSON text `src[s, e)` (as JSON.stringify writes it: no whitespace) pretty-printed at
 * `depth` as JSON.stringify(JSON.parse(text), null, 2) would print it there, into `out` from
 * `o`; returns the end, or -1 when `out` would overflow (then nothing is to be kept past `o`).
 * Bytes are copied as they are: in UTF-8 no byte of a multi-byte character is a JSON
 * delimiter, so nothing is decoded.
 */
function prettyInto(src: Uint8Array, s: number, e: number, depth: number, out: Uint8Array, o: number, end: number): number {
  let d = depth;
  for (let i = s; i < e; i++) {
    const b = src[i];
    if (b === 0x22) {
      // A string: copied to its closing quote (a backslash takes the next byte with it).
      let j = i + 1;
      for (;;) {
        const ch = src[j];
        if (ch === 0x5c) j += 2;
        else if (ch === 0x22 || j >= e) break;
        else j++;
      }
      if (o + (j + 1 - i) > end) return -1;
      for (; i <= j; i++) out[o++] = src[i];
      i = j;
      continue;
    }
    if (o + 2 * d + 4 > end) return -1;
    if (b === 0x2c) {
      out[o++] = 0x2c;
      out[o++] = 10;
      for (let k = 2 * d; k > 0; k--) out[o++] = 0x20;
    } else if (b === 0x3a) {
      out[o++] = 0x3a;
      out[o++] = 0x20;
    } else if (b === 0x7b || b === 0x5b) {
      // `{}` and `[]` stay on one line, as JSON.stringify prints them.
      if (src[i + 1] === b + 2) {
        out[o++] = b;
        out[o++] = b + 2;
        i++;
        continue;
      }
      d++;
      out[o++] = b;
      out[o++] = 10;
      for (let k = 2 * d; k > 0; k--) out[o++] = 0x20;
    } else if (b === 0x7d || b === 0x5d) {
      d--;
      out[o++] = 10;
      for (let k = 2 * d; k > 0; k--) out[o++] = 0x20;
      out[o++] = b;
    } else out[o++] = b;
  }
  return o;
}

/**
 * `printJson({ runs, problems, total })` for runs given as their compact JSON text (listRunsJson):
 * the same bytes, written in chunks as they are made. At 100,000 runs this is one pass over the
 * index's rows instead of parsing them, stringifying a 114 MB string and encoding it again.
 */
export function writeJsonListing(r: { runs: Uint8Array[]; problems: unknown[]; total: number }): void {
  const tail = `  "problems": ${JSON.stringify(r.problems, null, 2).replace(/\n/g, '\n  ')},\n  "total": ${JSON.stringify(r.total)}\n}\n`;
  if (r.runs.length === 0) {
    process.stdout.write(`{\n  "runs": [],\n${tail}`);
    return;
  }
  if (r.runs.length <= 64) {
    // A few rows: JSON.parse and JSON.stringify (native) cost less than the copy loop run cold.
    printJson({ runs: r.runs.map((b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8')) as unknown), problems: r.problems, total: r.total });
    return;
  }
  let out = Buffer.allocUnsafe(CHUNK + SLACK);
  let o = out.write('{\n  "runs": [\n');
  const flush = () => {
    // A fresh buffer each time: the stream may still hold the last one (a pipe it could not fill at once).
    process.stdout.write(out.subarray(0, o));
    out = Buffer.allocUnsafe(CHUNK + SLACK);
    o = 0;
  };
  for (let k = 0; k < r.runs.length; k++) {
    if (o > CHUNK) {
      flush();
      if (process.stdout.destroyed) return; // the reader went away (EPIPE is handled in main)
    }
    const row = r.runs[k];
    const start = o;
    if (k) {
      out[o++] = 0x2c;
      out[o++] = 10;
    }
    for (let i = 0; i < 4; i++) out[o++] = 0x20;
    const end = prettyInto(row, 0, row.length, 2, out, o, out.length);
    if (end >= 0) {
      o = end;
      continue;
    }
    // Too big for what is left of the chunk (or nested deeper than SLACK allows): the slow way.
    o = start;
    flush();
    const text = JSON.stringify(JSON.parse(Buffer.from(row.buffer, row.byteOffset, row.length).toString('utf8')), null, 2).replace(/\n/g, '\n    ');
    process.stdout.write(`${k ? ',\n' : ''}    ${text}`);
  }
  flush();
  process.stdout.write(`\n  ],\n${tail}`);
}

const width = (s: string) => stripVTControlCharacters(s).length;

/** Render rows as an aligned table; numeric-looking columns are right-aligned. */
export function table(headers: string[], rows: string[][]): string {
  // Every cell is one line of safe text, whatever the record or tag it came from held.
  headers = headers.map((h) => termSafe(h, { line: true }));
  rows = rows.map((r) => r.map((cell) => termSafe(String(cell ?? ''), { line: true })));
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.,e+%-]*$/i.test(r[i] ?? '')));
  const line = (r: string[], head = false) =>
    r
      .map((cell, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i] - width(cell ?? '')));
        const v = cell ?? '';
        return numeric[i] && !head ? pad + v : v + pad;
      })
      .join('  ')
      .trimEnd();
  return [c.bold(line(headers, true)), ...rows.map((r) => line(r))].join('\n');
}

const SPARK = '▁▂▃▄▅▆▇█';

/** A one-line chart of a series, resampled to at most `maxWidth` characters. */
export function sparkline(values: number[], maxWidth = 40): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return '';
  let series = values;
  if (values.length > maxWidth) {
    series = [];
    for (let i = 0; i < maxWidth; i++) {
      const a = Math.floor((i * values.length) / maxWidth);
      const b = Math.max(a + 1, Math.floor(((i + 1) * values.length) / maxWidth));
      const chunk = values.slice(a, b).filter(Number.isFinite);
      series.push(chunk.length ? chunk.reduce((x, y) => x + y, 0) / chunk.length : NaN);
    }
  }
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  return series
    .map((v) => (Number.isFinite(v) ? SPARK[max === min ? 3 : Math.round(((v - min) / (max - min)) * (SPARK.length - 1))] : ' '))
    .join('');
}

/** Format a number compactly for tables (4 significant digits, no trailing noise). */
export function fmtNum(v: unknown): string {
  if (typeof v !== 'number') return v === undefined || v === null ? '' : String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(4)));
}

export function fmtDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

/**
 * A progress/status line on stderr for work longer than a second. On a TTY it rewrites one
 * line; otherwise it prints each distinct message once, so logs stay readable.
 */
export function progress(stream: NodeJS.WriteStream = process.stderr) {
  let last = '';
  let active = false;
  return {
    update(msg: string) {
      if (msg === last) return;
      last = msg;
      if (stream.isTTY) {
        stream.write(`\r\u001b[2K${c.dim(msg, stream)}`);
        active = true;
      } else stream.write(msg + '\n');
    },
    done(msg?: string) {
      if (active) stream.write('\r\u001b[2K');
      active = false;
      if (msg) stream.write(msg + '\n');
    },
  };
}
