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

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

const width = (s: string) => stripVTControlCharacters(s).length;

/** Render rows as an aligned table; numeric-looking columns are right-aligned. */
export function table(headers: string[], rows: string[][]): string {
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
