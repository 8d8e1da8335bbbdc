/**
 * The primary metric's series at base and head as a Mermaid `xychart-beta` block, which
 * GitHub renders itself in comments, check runs and job summaries (no image to host anywhere).
 * Pure.
 */
import type { Series } from './types.js';

/** Past this many steps the series are sampled evenly (the last step always kept). */
const MAX_POINTS = 60;

const num = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(6)).toString() : '0');
/** Mermaid reads a quoted title up to the next quote; keep titles to safe characters. */
const label = (s: string) => s.replace(/["\\`\n\r]/g, '').slice(0, 80);

/** Values of `points` at each of `steps`, carrying the last known value over gaps (the first one back-filled). */
function align(points: Array<{ step: number; value: number }>, steps: number[]): number[] | undefined {
  if (!points.length) return undefined;
  const byStep = new Map<number, number>();
  for (const p of points) byStep.set(p.step, p.value);
  let last = points[0].value;
  return steps.map((s) => {
    const v = byStep.get(s);
    if (v !== undefined && Number.isFinite(v)) last = v;
    return last;
  });
}

function sample(steps: number[]): number[] {
  if (steps.length <= MAX_POINTS) return steps;
  const out: number[] = [];
  for (let i = 0; i < MAX_POINTS; i++) out.push(steps[Math.round((i * (steps.length - 1)) / (MAX_POINTS - 1))]);
  return [...new Set(out)];
}

/** The Mermaid block, or undefined when neither side has a series. */
export function mermaidChart(s: Series): string | undefined {
  const all = [...new Set([...s.base, ...s.head].map((p) => p.step).filter(Number.isFinite))].sort((a, b) => a - b);
  if (!all.length) return undefined;
  const steps = sample(all);
  const base = align(s.base, steps);
  const head = align(s.head, steps);
  const lines = ['```mermaid', 'xychart-beta', `  title "${label(s.metric)}: ${[base && 'base', head && 'head'].filter(Boolean).join(' vs ')}"`, `  x-axis "step" [${steps.map(num).join(', ')}]`, `  y-axis "${label(s.metric)}"`];
  if (base) lines.push(`  line [${base.map(num).join(', ')}]`);
  if (head) lines.push(`  line [${head.map(num).join(', ')}]`);
  lines.push('```');
  return lines.join('\n');
}
