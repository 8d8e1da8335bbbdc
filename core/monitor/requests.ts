/**
 * Reading a sample log: the JSON lines the scoring server appends for sampled requests
 * (`{"ts", "model", "version", "route", "ms", "inputs": [record...], "outputs": [...]}`).
 * Streamed line by line, so a log of ten million rows is never held in memory; torn or
 * malformed lines are skipped and counted, never fatal.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { GitmlError } from '../errors.js';

export interface SampledRow {
  ts: number | null;
  inputs: Record<string, unknown>;
  /** The model's answer for this row, when the request's outputs line up with its rows. */
  prediction?: unknown;
  hasPrediction: boolean;
}

export interface Window {
  /** Only lines with a timestamp at or after this (ms since the epoch). */
  sinceMs?: number;
  /** Only the last N rows of the log. */
  last?: number;
}

export interface ReadStats {
  lines: number;
  malformed: number;
  rows: number;
  outsideWindow: number;
}

/** Parse a duration such as `90s`, `30m`, `24h`, `7d` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new GitmlError('USAGE', `not a duration: ${JSON.stringify(text)} (expected a number and a unit: 90s, 30m, 24h, 7d)`, { value: text });
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

function rowsOfLine(line: string): SampledRow[] | null {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return null;
  const o = obj as Record<string, unknown>;
  if (!Array.isArray(o.inputs)) return null;
  const ts = typeof o.ts === 'string' ? Date.parse(o.ts) : null;
  const outputs = Array.isArray(o.outputs) && o.outputs.length === o.inputs.length ? o.outputs : null;
  const rows: SampledRow[] = [];
  for (let k = 0; k < o.inputs.length; k++) {
    const rec = o.inputs[k];
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) return null;
    rows.push({ ts: Number.isFinite(ts) ? ts : null, inputs: rec as Record<string, unknown>, prediction: outputs?.[k], hasPrediction: outputs !== null });
  }
  return rows;
}

/** The lines of several sample logs (one per replica), one file after the other. */
async function* linesOf(files: string[]): AsyncGenerator<string> {
  for (const f of files) yield* lines(f);
}

async function* lines(file: string): AsyncGenerator<string> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new GitmlError('IO', `no sample log at ${file}`, { path: file });
    throw new GitmlError('IO', `cannot read the sample log ${file}: ${err.message}`, { path: file });
  } finally {
    rl.close();
    stream.destroy();
  }
}

/**
 * Calls `onRow` for every sampled row of `file` (or of several, one per replica) inside the window. `--last N` needs the rows
 * counted first: the file is read twice (streamed both times) rather than held.
 */
export async function readSampleLog(file: string | string[], window: Window, onRow: (row: SampledRow) => void, onProgress?: (rows: number) => void): Promise<ReadStats> {
  const files = Array.isArray(file) ? file : [file];
  const stats: ReadStats = { lines: 0, malformed: 0, rows: 0, outsideWindow: 0 };
  let skip = 0;
  if (window.last !== undefined) {
    let total = 0;
    for await (const line of linesOf(files)) {
      if (!line.trim()) continue;
      const rows = rowsOfLine(line);
      if (rows) total += rows.filter((r) => window.sinceMs === undefined || (r.ts !== null && r.ts >= window.sinceMs)).length;
    }
    skip = Math.max(0, total - window.last);
  }
  for await (const line of linesOf(files)) {
    if (!line.trim()) continue;
    stats.lines++;
    const rows = rowsOfLine(line);
    if (!rows) {
      stats.malformed++;
      continue;
    }
    for (const r of rows) {
      if (window.sinceMs !== undefined && (r.ts === null || r.ts < window.sinceMs)) {
        stats.outsideWindow++;
        continue;
      }
      if (skip > 0) {
        skip--;
        stats.outsideWindow++;
        continue;
      }
      stats.rows++;
      onRow(r);
      if (onProgress && stats.rows % 100_000 === 0) onProgress(stats.rows);
    }
  }
  return stats;
}
