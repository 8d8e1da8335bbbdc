/**
 * Metrics from a run, two ways, both documented in the README:
 * - the JSON-lines file at $GITML_METRICS, one object a line:
 *   `{"name": "loss", "value": 0.31, "step": 2, "timestamp": 1700000000000}`
 *   (`step` defaults to the previous step of that metric + 1, starting at 0; `timestamp`, in
 *   milliseconds since the epoch, defaults to the time gitml reads the line);
 * - marker lines on stdout, alone on their line:
 *   `::gitml metric name=loss value=0.31 step=2` or `::gitml metric {"name":"loss","value":0.31}`.
 * A malformed line is a warning in the run's log, never a failed run.
 */
import { createReadStream, existsSync } from 'node:fs';
import type { MetricPoint } from '../runs/types.js';

export const MARKER = '::gitml metric ';

export type PartialPoint = { name: string; value: number; step?: number; timestamp?: number };

const NAME = /^[^\s\u0000-\u001f]{1,200}$/;
const FAST = /^\{"name": ?"([^"\\]{1,200})", ?"value": ?(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?:, ?"step": ?(-?\d+))?(?:, ?"timestamp": ?(\d+))?\}\s*$/;

/** Validate one decoded metric object; returns the point or why it is not one. */
export function checkPoint(o: unknown): PartialPoint | string {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return 'not a JSON object';
  const r = o as Record<string, unknown>;
  if (typeof r.name !== 'string' || !NAME.test(r.name)) return 'missing or invalid "name"';
  const value = typeof r.value === 'string' && r.value.trim() !== '' ? Number(r.value) : r.value;
  if (typeof value !== 'number' || !Number.isFinite(value)) return `"value" of ${r.name} is not a finite number`;
  if (r.step !== undefined && (typeof r.step !== 'number' || !Number.isInteger(r.step))) return `"step" of ${r.name} is not an integer`;
  if (r.timestamp !== undefined && (typeof r.timestamp !== 'number' || !Number.isFinite(r.timestamp))) return `"timestamp" of ${r.name} is not a number (milliseconds)`;
  return { name: r.name, value, step: r.step as number | undefined, timestamp: r.timestamp as number | undefined };
}

/** Parse a stdout marker line (without its newline). undefined when the line is not a marker; a string when it is a malformed one. */
export function parseMarker(line: string): PartialPoint | string | undefined {
  if (!line.startsWith(MARKER)) return undefined;
  const body = line.slice(MARKER.length).trim();
  if (body.startsWith('{')) {
    try {
      return checkPoint(JSON.parse(body));
    } catch {
      return 'not valid JSON';
    }
  }
  const o: Record<string, unknown> = {};
  for (const tok of body.split(/\s+/)) {
    const i = tok.indexOf('=');
    if (i <= 0) return `expected key=value, got ${JSON.stringify(tok)}`;
    const k = tok.slice(0, i);
    const v = tok.slice(i + 1);
    o[k] = k === 'name' ? v : v.trim() === '' ? v : Number(v);
  }
  return checkPoint(o);
}

/**
 * Points held in columns (typed arrays) rather than a million small objects, which would
 * survive long enough to be promoted and then dominate the time in garbage collection.
 * Iterating yields a fresh, short-lived MetricPoint per point.
 */
export class PointColumns implements Iterable<MetricPoint> {
  private names: string[] = [];
  private index = new Map<string, number>();
  private nameIdx = new Uint32Array(1024);
  private values = new Float64Array(1024);
  private steps = new Float64Array(1024);
  private times = new Float64Array(1024);
  length = 0;

  nameIndex(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(name);
      this.index.set(name, i);
    }
    return i;
  }

  nameAt(nameIndex: number): string {
    return this.names[nameIndex];
  }

  push(nameIndex: number, value: number, step: number, timestamp: number): void {
    if (this.length === this.values.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.nameIdx = grow(this.nameIdx);
      this.values = grow(this.values);
      this.steps = grow(this.steps);
      this.times = grow(this.times);
    }
    const i = this.length++;
    this.nameIdx[i] = nameIndex;
    this.values[i] = value;
    this.steps[i] = step;
    this.times[i] = timestamp;
  }

  *[Symbol.iterator](): Iterator<MetricPoint> {
    for (let i = 0; i < this.length; i++) {
      yield { name: this.names[this.nameIdx[i]], value: this.values[i], step: this.steps[i], timestamp: this.times[i] };
    }
  }
}

export interface CollectedMetrics {
  /** Last value of each metric (the run record's `metrics`). */
  final: Record<string, number>;
  /** Every point, complete (name, value, step, timestamp), in the order reported. */
  points: PointColumns;
  /** Lines that were ignored as malformed. */
  malformed: number;
}

/** FAST, anchored where the scan stands (sticky) and ending with the line's newline: no per-line substring. */
const FAST_AT = /\{"name": ?"([^"\\\n]{1,200})", ?"value": ?(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?:, ?"step": ?(-?\d+))?(?:, ?"timestamp": ?(\d+))?\}[ \t\r]*\n/y;

/**
 * Read the run's metrics file (streaming: it may hold millions of points) plus the points
 * seen on stdout, as complete points for the runs store.
 */
export async function collectMetrics(opts: {
  metricsFile?: string;
  markers?: PartialPoint[];
  onWarning: (msg: string) => void;
  clock?: () => number;
  /** Stop reporting malformed lines after this many (the count is still reported). */
  maxWarnings?: number;
}): Promise<CollectedMetrics> {
  const now = (opts.clock ?? Date.now)();
  const lastStep: number[] = [];
  const lastValue: number[] = [];
  const maxWarnings = opts.maxWarnings ?? 20;
  let bad = 0;
  const points = new PointColumns();
  const add = (ni: number, value: number, step0: number | undefined, timestamp: number | undefined) => {
    const prev = lastStep[ni];
    const step = step0 ?? (prev === undefined ? 0 : prev + 1);
    lastStep[ni] = step;
    lastValue[ni] = value;
    points.push(ni, value, step, timestamp ?? now);
  };
  const warn = (where: string, why: string, line: string) => {
    bad++;
    if (bad <= maxWarnings) opts.onWarning(`gitml: warning: ignored metric at ${where}: ${why}: ${line.length > 120 ? line.slice(0, 117) + '...' : line}`);
  };

  if (opts.metricsFile && existsSync(opts.metricsFile)) {
    let lineNo = 0;
    let rest = '';
    let lastName = '';
    let lastIdx = -1;
    const slow = (line: string) => {
      lineNo++;
      if (line.trim() === '') return;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        warn(`$GITML_METRICS line ${lineNo}`, 'not valid JSON', line);
        return;
      }
      const p = checkPoint(o);
      if (typeof p === 'string') warn(`$GITML_METRICS line ${lineNo}`, p, line);
      else add(points.nameIndex(p.name), p.value, p.step, p.timestamp);
    };
    for await (const chunk of createReadStream(opts.metricsFile, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
      const text = rest + (chunk as string);
      let start = 0;
      for (;;) {
        // Fast path for the usual shape (what json.dumps and the helper write); anything
        // else goes through JSON.parse and the full check.
        FAST_AT.lastIndex = start;
        const m = FAST_AT.exec(text);
        if (m !== null) {
          const name = m[1];
          if (name !== lastName) {
            if (!NAME.test(name)) {
              slow(text.slice(start, FAST_AT.lastIndex - 1));
              start = FAST_AT.lastIndex;
              continue;
            }
            lastName = name;
            lastIdx = points.nameIndex(name);
          }
          const value = Number(m[2]);
          if (!Number.isFinite(value)) {
            slow(text.slice(start, FAST_AT.lastIndex - 1));
            start = FAST_AT.lastIndex;
            continue;
          }
          lineNo++;
          add(lastIdx, value, m[3] === undefined ? undefined : Number(m[3]), m[4] === undefined ? undefined : Number(m[4]));
          start = FAST_AT.lastIndex;
          continue;
        }
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        slow(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
    }
    if (rest !== '') slow(rest);
  }
  for (const p of opts.markers ?? []) add(points.nameIndex(p.name), p.value, p.step, p.timestamp);
  if (bad > maxWarnings) opts.onWarning(`gitml: warning: ${bad} malformed metric lines in all (first ${maxWarnings} shown)`);
  const final: Record<string, number> = {};
  lastValue.forEach((v, i) => {
    if (v !== undefined) final[points.nameAt(i)] = v;
  });
  return { final, points, malformed: bad };
}
