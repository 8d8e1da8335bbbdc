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

export interface CollectedMetrics {
  /** Last value of each metric (the run record's `metrics`). */
  final: Record<string, number>;
  /** Every point, complete (name, value, step, timestamp), in the order reported. */
  points: MetricPoint[];
  /** Lines that were ignored as malformed. */
  malformed: number;
}

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
  const lastStep = new Map<string, number>();
  const final: Record<string, number> = {};
  const maxWarnings = opts.maxWarnings ?? 20;
  let bad = 0;
  const points: MetricPoint[] = [];
  const add = (name: string, value: number, step0: number | undefined, timestamp: number | undefined) => {
    const prev = lastStep.get(name);
    const step = step0 ?? (prev === undefined ? 0 : prev + 1);
    lastStep.set(name, step);
    final[name] = value;
    points.push({ name, value, step, timestamp: timestamp ?? now });
  };
  const warn = (where: string, why: string, line: string) => {
    bad++;
    if (bad <= maxWarnings) opts.onWarning(`gitml: warning: ignored metric at ${where}: ${why}: ${line.length > 120 ? line.slice(0, 117) + '...' : line}`);
  };

  if (opts.metricsFile && existsSync(opts.metricsFile)) {
    let lineNo = 0;
    let rest = '';
    let lastName = '';
    const handle = (line: string) => {
      lineNo++;
      // Fast path for the usual shape (what json.dumps and the helper write); anything else
      // goes through JSON.parse and the full check.
      const m = FAST.exec(line);
      if (m && (m[1] === lastName || NAME.test(m[1]))) {
        lastName = m[1];
        const value = Number(m[2]);
        if (Number.isFinite(value)) {
          add(m[1], value, m[3] === undefined ? undefined : Number(m[3]), m[4] === undefined ? undefined : Number(m[4]));
          return;
        }
      }
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
      else add(p.name, p.value, p.step, p.timestamp);
    };
    for await (const chunk of createReadStream(opts.metricsFile, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
      const text = rest + (chunk as string);
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        handle(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
    }
    if (rest !== '') handle(rest);
  }
  for (const p of opts.markers ?? []) add(p.name, p.value, p.step, p.timestamp);
  if (bad > maxWarnings) opts.onWarning(`gitml: warning: ${bad} malformed metric lines in all (first ${maxWarnings} shown)`);
  return { final, points, malformed: bad };
}
