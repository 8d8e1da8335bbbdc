import { describe, expect, it } from 'vitest';
import { plan, replicaSpec } from '../../core/services/plan.js';
import type { ActualService, DesiredService } from '../../core/services/types.js';

const desired = (version: string, replicas = 2, canary?: { version: string; weight: number }): DesiredService => ({
  name: 'iris', model: 'iris', compute: { name: 'local-docker', type: 'docker' }, revision: 'abc', port: 8080, resources: {},
  versions: [
    { version, image: `img:${version}`, replicas, weight: 100 - (canary?.weight ?? 0), role: 'primary' },
    ...(canary ? [{ version: canary.version, image: `img:${canary.version}`, replicas: 1, weight: canary.weight, role: 'canary' as const }] : []),
  ],
});
const running = (version: string, n: number, ready = true): ActualService => ({
  name: 'iris', port: 8080, weights: { [version]: 100 },
  replicas: Array.from({ length: n }, (_, i) => ({ id: `${version}-${i}`, version, image: `img:${version}`, role: 'primary' as const, ready })),
});

describe('plan', () => {
  it('first deploy: front, start, wait, switch, in that order', () => {
    expect(plan('iris', desired('v1'), null).map((s) => s.kind)).toEqual(['ensure-front', 'start-replicas', 'wait-ready', 'switch-traffic']);
  });
  it('nothing changed is an empty plan', () => {
    expect(plan('iris', desired('v1'), running('v1', 2))).toEqual([]);
  });
  it('a new version is started-first: old replicas are removed only after traffic moves', () => {
    const steps = plan('iris', desired('v2'), running('v1', 2));
    expect(steps.map((s) => s.kind)).toEqual(['start-replicas', 'wait-ready', 'switch-traffic', 'remove-replicas']);
    expect(steps[3]).toMatchObject({ ids: ['v1-0', 'v1-1'] });
    expect(steps[2]).toMatchObject({ weights: { v2: 100 } });
  });
  it('replicas started with other resources or sampling are replaced start-first; the same settings are a no-op', () => {
    const d = desired('v1');
    const a = running('v1', 2);
    for (const r of a.replicas) r.spec = replicaSpec(d);
    expect(plan('iris', d, a)).toEqual([]);
    const sampled = { ...d, sampleRate: 0.5, resources: { memory: '512Mi' } };
    const steps = plan('iris', sampled, a);
    expect(steps.map((s) => s.kind)).toEqual(['start-replicas', 'wait-ready', 'switch-traffic', 'remove-replicas']);
    expect(steps[0]).toMatchObject({ count: 2 });
    // A driver that records no settings (Kubernetes applies them itself) never churns replicas.
    expect(plan('iris', sampled, running('v1', 2))).toEqual([]);
  });
  it('a replica killed by hand is replaced and the dead one removed', () => {
    const a = running('v1', 2);
    a.replicas[1]!.ready = false;
    const steps = plan('iris', desired('v1'), a);
    expect(steps[0]).toMatchObject({ kind: 'start-replicas', count: 1 });
    expect(steps.at(-1)).toMatchObject({ kind: 'remove-replicas', ids: ['v1-1'] });
  });
  it('canary weight is carried to the traffic split', () => {
    const steps = plan('iris', desired('v1', 2, { version: 'v2', weight: 10 }), running('v1', 2));
    expect(steps.find((s) => s.kind === 'switch-traffic')).toMatchObject({ weights: { v1: 90, v2: 10 } });
    expect(steps.some((s) => s.kind === 'remove-replicas')).toBe(false);
  });
  it('a vanished YAML deletes only with prune', () => {
    expect(plan('iris', null, running('v1', 1))).toEqual([]);
    expect(plan('iris', null, running('v1', 1), { prune: true })).toEqual([{ kind: 'delete-service', service: 'iris' }]);
  });
});
