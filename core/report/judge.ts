/**
 * Which way is better for a metric, and whether a change is a regression. Pure.
 */
import { GitmlError } from '../errors.js';
import type { Change, Goal } from './types.js';

/** Metric names that are lower-is-better by convention (used for metrics that are not the experiment's primary). */
const LOWER_BETTER = /(^|[^a-z])(loss|error|err|mse|rmse|mae|mape|perplexity|latency|duration|time)([^a-z]|$)/i;

/** The goal for `metric`: the experiment's own for its primary metric, else what its name says, else none. */
export function goalFor(metric: string, primary: string | undefined, goal: Goal | undefined): Goal | undefined {
  if (metric === primary) return goal ?? (LOWER_BETTER.test(metric) ? 'minimize' : 'maximize');
  if (LOWER_BETTER.test(metric)) return 'minimize';
  if (/(^|[^a-z])(acc|accuracy|auc|f1|precision|recall|r2|score|map|ndcg|bleu)([^a-z]|$)/i.test(metric)) return 'maximize';
  return undefined;
}

export function judge(base: number | undefined, head: number | undefined, goal: Goal | undefined): Change {
  if (base === undefined && head === undefined) return 'unjudged';
  if (base === undefined) return 'new';
  if (head === undefined) return 'gone';
  if (head === base) return 'same';
  if (!goal) return 'unjudged';
  return (head > base) === (goal === 'maximize') ? 'better' : 'worse';
}

export interface Threshold {
  text: string;
  /** An absolute amount, or a fraction of |base| when `relative`. */
  amount: number;
  relative: boolean;
}

/** `0.01` (absolute) or `2%` (relative to the base value). */
export function parseThreshold(text: string | undefined): Threshold {
  const t = (text ?? '0').trim() || '0';
  const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(t);
  if (!m) throw new GitmlError('USAGE', `regression threshold ${JSON.stringify(text)} is neither a number (an absolute amount, e.g. 0.01) nor a percentage (e.g. 2%)`, { threshold: text });
  return { text: t, amount: m[2] ? Number(m[1]) / 100 : Number(m[1]), relative: m[2] === '%' };
}

/** true when head is worse than base, by the goal, by more than the threshold. */
export function regressed(base: number | undefined, head: number | undefined, goal: Goal | undefined, th: Threshold): boolean {
  if (base === undefined || head === undefined || !goal) return false;
  const worseBy = goal === 'maximize' ? base - head : head - base;
  const allowed = th.relative ? th.amount * Math.abs(base) : th.amount;
  return worseBy > allowed + 1e-12;
}
