/**
 * Carry out a plan through a driver, one step at a time, in order. The first failing step
 * stops the rollout (what already serves keeps serving, because removals come last in a
 * plan) and the outcome says Stalled with the step and the reason, for the status branch.
 */
import { isGitmlError } from '../errors.js';
import type { ApplyContext, ServiceDriver } from './driver.js';
import { describeStep } from './plan.js';
import type { DesiredService, Step } from './types.js';

export interface Condition { type: 'Ready' | 'Reconciling' | 'Stalled'; status: boolean; reason: string; message: string }

export interface ApplyOutcome {
  applied: Step[];
  failed?: { step: Step; code: string; message: string };
  conditions: Condition[];
}

export async function applyPlan(driver: ServiceDriver, desired: DesiredService | null, steps: Step[], ctx: ApplyContext = {}): Promise<ApplyOutcome> {
  const applied: Step[] = [];
  for (const step of steps) {
    ctx.progress?.(describeStep(step));
    try {
      await driver.apply(step, desired, ctx);
      applied.push(step);
    } catch (e) {
      const code = isGitmlError(e) ? e.code : 'INTERNAL';
      const message = e instanceof Error ? e.message : String(e);
      // The driver's own reason (ReplicaFailed, ProgressDeadlineExceeded, Unschedulable...) says more than the code.
      const why = isGitmlError(e) && typeof e.data.reason === 'string' ? e.data.reason : code;
      return {
        applied, failed: { step, code, message },
        conditions: [
          { type: 'Ready', status: false, reason: 'RolloutStopped', message: `stopped at: ${describeStep(step)}` },
          { type: 'Reconciling', status: false, reason: 'Stopped', message: 'the previous version keeps serving' },
          { type: 'Stalled', status: true, reason: why, message },
        ],
      };
    }
  }
  return {
    applied,
    conditions: [
      { type: 'Ready', status: true, reason: steps.length === 0 ? 'NoChange' : 'Applied', message: steps.length === 0 ? 'nothing changed' : `${steps.length} step(s) applied` },
      { type: 'Reconciling', status: false, reason: 'Done', message: '' },
      { type: 'Stalled', status: false, reason: 'Done', message: '' },
    ],
  };
}
