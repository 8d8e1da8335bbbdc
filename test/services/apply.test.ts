import { describe, expect, it } from 'vitest';
import { applyPlan } from '../../core/services/apply.js';
import type { ServiceDriver } from '../../core/services/driver.js';
import { GitmlError } from '../../core/errors.js';
import type { Step } from '../../core/services/types.js';

function recorder(failOn?: Step['kind']): { driver: ServiceDriver; seen: string[] } {
  const seen: string[] = [];
  const driver: ServiceDriver = {
    actual: async () => null, list: async () => [], render: () => '', logs: async () => {}, delete: async () => {},
    apply: async (step) => {
      seen.push(step.kind);
      if (step.kind === failOn) throw new GitmlError('SERVE', 'model never became ready');
    },
  };
  return { driver, seen };
}
const steps: Step[] = [
  { kind: 'start-replicas', service: 's', version: 'v2', image: 'i', role: 'primary', count: 1 },
  { kind: 'wait-ready', service: 's', version: 'v2', count: 1 },
  { kind: 'switch-traffic', service: 's', weights: { v2: 100 } },
  { kind: 'remove-replicas', service: 's', ids: ['old'], reason: 'x' },
];

describe('applyPlan', () => {
  it('runs every step in order and reports Ready', async () => {
    const { driver, seen } = recorder();
    const out = await applyPlan(driver, null, steps);
    expect(seen).toEqual(steps.map((s) => s.kind));
    expect(out.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
  });
  it('a replica that never becomes ready stops the rollout before traffic moves or old replicas go: Stalled', async () => {
    const { driver, seen } = recorder('wait-ready');
    const out = await applyPlan(driver, null, steps);
    expect(seen).toEqual(['start-replicas', 'wait-ready']);
    expect(out.failed).toMatchObject({ code: 'SERVE' });
    expect(out.conditions.find((c) => c.type === 'Stalled')).toMatchObject({ status: true, reason: 'SERVE' });
  });
  it('an empty plan is a no-op', async () => {
    const { driver, seen } = recorder();
    const out = await applyPlan(driver, null, []);
    expect(seen).toEqual([]);
    expect(out.conditions[0]).toMatchObject({ reason: 'NoChange' });
  });
});
