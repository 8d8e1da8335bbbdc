/**
 * Colours for the UI, off when NO_COLOR is set (https://no-color.org): views pass `tone(...)`
 * props to ink's <Text>, which then carry no colour at all. Layout never depends on colour:
 * the cursor row is also marked with `›` and marks with `*`.
 */
import type { RunStatus } from '../../core/runs/types.js';

export function colorEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NO_COLOR === undefined || env.NO_COLOR === '';
}

export type Tone = 'good' | 'bad' | 'busy' | 'dim' | 'accent' | 'diff';

const COLORS: Record<Tone, string> = { good: 'green', bad: 'red', busy: 'yellow', dim: 'gray', accent: 'cyan', diff: 'yellow' };

/** Props for <Text>: a colour when colours are on, nothing otherwise. */
export function tone(t: Tone | undefined, on: boolean): { color?: string; dimColor?: boolean } {
  if (!t || !on) return {};
  if (t === 'dim') return { dimColor: true };
  return { color: COLORS[t] };
}

export function statusTone(s: RunStatus | string): Tone | undefined {
  if (s === 'completed') return 'good';
  if (s === 'failed' || s === 'timed_out') return 'bad';
  if (s === 'running' || s === 'queued') return 'busy';
  return 'dim';
}
