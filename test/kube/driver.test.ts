/**
 * The Kubernetes service driver under the real reconciler: plan() from core/services/plan.ts and
 * applyPlan() from core/services/apply.ts, against the fake API server that runs Deployments
 * (ReplicaSets, pods becoming ready or not, rollout conditions). Each scenario deploys, then
 * checks what the cluster holds and that planning again finds nothing to do.
 */
import { parseAllDocuments } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { ComputeTarget, KubernetesCompute, Loaded } from '../../core/entities/types.js';
import { isGitmlError } from '../../core/errors.js';
import { createKubernetesServiceDriver, trafficByReplicas } from '../../core/kube/driver.js';
import { kubeObjectProblems } from '../../core/kube/validate.js';
import { applyPlan } from '../../core/services/apply.js';
import type { ServiceDriver } from '../../core/services/driver.js';
import { plan } from '../../core/services/plan.js';
import type { DesiredService, DesiredVersion } from '../../core/services/types.js';
import { FakeKubeApiServer } from '../support/kube-apiserver.js';
import { removeDir, tmpDir } from '../support/repo.js';

const REPO = '127.0.0.1:5000/gitml/iris';
const digest = (n: number) => 'sha256:' + String(n).repeat(64);
const COMMIT = 'c'.repeat(40);

let server: FakeKubeApiServer;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  // The Deployments keep the default progressDeadlineSeconds (600); one "second" lasts 2 ms here.
  server = await new FakeKubeApiServer({ namespaces: ['ml'], startDelayMs: 10, podReadyMs: 30, secondsMs: 2 }).start();
  dir = tmpDir('gitml-kube-driver-');
  kubeconfig = server.writeKubeconfig(dir, { context: 'fake' });
  for (const n of [1, 2, 3, 4]) server.images.set(`${REPO}@${digest(n)}`, {});
  server.neverReady.add(`${REPO}@${digest(3)}`);
});

afterAll(async () => {
  await server.stop();
  removeDir(dir);
});

afterEach(() => {
  server.denied = [];
});

function compute(extra: Partial<KubernetesCompute> = {}): Loaded<ComputeTarget> {
  return { name: 'k8s', file: 'gitml/compute/k8s.yaml', spec: { kind: 'ComputeTarget', type: 'kubernetes', kubeconfig, namespace: 'ml', ...extra } };
}

function driverFor(extra: Partial<KubernetesCompute> = {}): ServiceDriver {
  return createKubernetesServiceDriver({ compute: compute(extra), repoDir: dir, pollMs: 15, logRescanMs: 30 });
}

const v = (n: number, replicas: number, extra: Partial<DesiredVersion> = {}): DesiredVersion => ({
  version: `v${n}.0.0`,
  tag: `iris#production#${n}`,
  image: `${REPO}:v${n}.0.0`,
  digest: digest(n),
  replicas,
  weight: 100,
  role: 'primary',
  ...extra,
});

function desired(name: string, versions: DesiredVersion[], extra: Partial<DesiredService> = {}): DesiredService {
  return { name, model: 'iris', compute: { name: 'k8s', type: 'kubernetes' }, revision: COMMIT, port: 80, resources: { cpu: 0.5, memory: '512Mi' }, versions, ...extra };
}

async function reconcile(driver: ServiceDriver, name: string, want: DesiredService | null, prune = false) {
  const steps = plan(name, want, await driver.actual(name), { prune });
  const outcome = await applyPlan(driver, want, steps, {});
  return { steps, outcome };
}

const podsOf = (service: string) => server.list('pods', 'ml').filter((p) => p.metadata.labels['dev.gitml/service'] === service);
const readyVersions = (service: string) =>
  podsOf(service)
    .filter((p) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
    .map((p) => p.metadata.labels['app.kubernetes.io/version'])
    .sort();

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the Kubernetes service driver under plan() and applyPlan()', () => {
  test('first deploy: Service and Deployment applied, pods by digest ready, actual state read back, then nothing to do', async () => {
    const driver = driverFor();
    expect(await driver.actual('iris')).toBeNull();
    const { steps, outcome } = await reconcile(driver, 'iris', desired('iris', [v(1, 2)]));
    expect(steps.map((s) => s.kind)).toEqual(['ensure-front', 'start-replicas', 'wait-ready', 'switch-traffic']);
    expect(outcome.failed).toBeUndefined();
    expect(outcome.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
    expect(readyVersions('iris')).toEqual(['v1.0.0', 'v1.0.0']);
    expect(podsOf('iris').map((p) => p.spec.containers[0].image)).toEqual([`${REPO}@${digest(1)}`, `${REPO}@${digest(1)}`]);
    const dep = server.get('deployments', 'ml', 'iris')!;
    expect(dep.spec.template.spec.containers[0].resources.requests).toMatchObject({ cpu: '0.5', memory: '512Mi' });
    const actual = await driver.actual('iris');
    expect(actual).toMatchObject({ name: 'iris', port: 80, weights: { 'v1.0.0': 100 }, revision: COMMIT });
    expect(actual!.replicas.map((r) => [r.version, r.image, r.role, r.ready, r.digest])).toEqual([
      ['v1.0.0', `${REPO}:v1.0.0`, 'primary', true, digest(1)],
      ['v1.0.0', `${REPO}:v1.0.0`, 'primary', true, digest(1)],
    ]);
    // Reconciling again with nothing changed is a no-op.
    expect(plan('iris', desired('iris', [v(1, 2)]), actual)).toEqual([]);
    expect(await driver.list()).toEqual(['iris']);
  });

  test('a new version rolls out start-first and replaces the old one; the old pods are removed by the Deployment', async () => {
    const driver = driverFor();
    let lowest = Infinity;
    const sample = setInterval(() => (lowest = Math.min(lowest, readyVersions('iris').length)), 2);
    const { steps, outcome } = await reconcile(driver, 'iris', desired('iris', [v(2, 2)]));
    clearInterval(sample);
    expect(steps.map((s) => s.kind)).toEqual(['start-replicas', 'wait-ready', 'switch-traffic', 'remove-replicas']);
    expect(outcome.failed).toBeUndefined();
    expect(lowest).toBeGreaterThanOrEqual(2);
    await until(() => podsOf('iris').length === 2);
    expect(readyVersions('iris')).toEqual(['v2.0.0', 'v2.0.0']);
    expect(plan('iris', desired('iris', [v(2, 2)]), await driver.actual('iris'))).toEqual([]);
  });

  test('a version that never becomes ready: Stalled, the old version keeps serving; deploying the old one again repairs it', async () => {
    const driver = driverFor();
    const { outcome } = await reconcile(driver, 'iris', desired('iris', [v(3, 2)]));
    expect(outcome.failed?.step.kind).toBe('wait-ready');
    expect(outcome.failed?.code).toBe('KUBERNETES');
    expect(outcome.conditions.find((c) => c.type === 'Stalled')?.status).toBe(true);
    expect(readyVersions('iris')).toEqual(['v2.0.0', 'v2.0.0']);
    // Rolling back: the Deployment is turned back to v2 and the v3 pods that never got ready go.
    const back = await reconcile(driver, 'iris', desired('iris', [v(2, 2)]));
    expect(back.outcome.failed).toBeUndefined();
    expect(back.steps.map((s) => s.kind)).toContain('remove-replicas');
    await until(() => podsOf('iris').length === 2 && podsOf('iris').every((p) => p.metadata.labels['app.kubernetes.io/version'] === 'v2.0.0'));
    expect(server.get('deployments', 'ml', 'iris')!.spec.template.metadata.annotations['dev.gitml/version']).toBe('v2.0.0');
    expect(plan('iris', desired('iris', [v(2, 2)]), await driver.actual('iris'))).toEqual([]);
  });

  test('a canary behind a gateway: HTTPRoute with the exact weights, read back; removing the canary prunes its Deployment', async () => {
    const driver = driverFor({ gateway: { name: 'public', namespace: 'gateways' } });
    const want = desired('cnr', [v(2, 2, { weight: 90 }), v(4, 1, { weight: 10, role: 'canary' })]);
    const { outcome } = await reconcile(driver, 'cnr', want);
    expect(outcome.failed).toBeUndefined();
    const route = server.get('httproutes', 'ml', 'cnr')!;
    expect(route.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([
      ['cnr-stable', 90],
      ['cnr-canary', 10],
    ]);
    expect(route.spec.parentRefs).toEqual([{ name: 'public', namespace: 'gateways' }]);
    const actual = await driver.actual('cnr');
    expect(actual?.weights).toEqual({ 'v2.0.0': 90, 'v4.0.0': 10 });
    expect(actual?.replicas.filter((r) => r.role === 'canary').map((r) => r.version)).toEqual(['v4.0.0']);
    expect(plan('cnr', want, actual)).toEqual([]);

    // The canary is gone from the YAML: traffic back to stable, then its Deployment and Service pruned.
    const only = desired('cnr', [v(2, 2)]);
    const r = await reconcile(driver, 'cnr', only);
    expect(r.steps.map((s) => s.kind)).toEqual(['switch-traffic', 'remove-replicas']);
    expect(r.outcome.failed).toBeUndefined();
    expect(server.get('deployments', 'ml', 'cnr-canary')).toBeUndefined();
    expect(server.get('services', 'ml', 'cnr-canary')).toBeUndefined();
    expect(server.get('httproutes', 'ml', 'cnr')!.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([['cnr-stable', 100]]);
    await until(() => podsOf('cnr').length === 2);
    expect(plan('cnr', only, await driver.actual('cnr'))).toEqual([]);
  });

  test('a canary without a gateway: one Service over both tracks, weights read as the replica ratio', async () => {
    const driver = driverFor();
    const versions = [v(2, 3, { weight: 75 }), v(4, 1, { weight: 25, role: 'canary' })];
    expect(trafficByReplicas(versions)).toEqual({ 'v2.0.0': 75, 'v4.0.0': 25 });
    const { outcome } = await reconcile(driver, 'ratio', desired('ratio', versions));
    expect(outcome.failed).toBeUndefined();
    expect(server.get('httproutes', 'ml', 'ratio')).toBeUndefined();
    expect(server.get('services', 'ml', 'ratio')!.spec.selector).toEqual({ 'dev.gitml/service': 'ratio' });
    const actual = await driver.actual('ratio');
    expect(actual?.weights).toEqual({ 'v2.0.0': 75, 'v4.0.0': 25 });
    expect(plan('ratio', desired('ratio', versions), actual)).toEqual([]);
  });

  test('a refused permission stops the plan with the missing RBAC rule, nothing half-applied serving', async () => {
    const driver = driverFor();
    server.denied = [{ verb: 'patch', resource: 'deployments', group: 'apps' }];
    const { outcome } = await reconcile(driver, 'denied', desired('denied', [v(1, 1)]));
    expect(outcome.failed?.step.kind).toBe('start-replicas');
    expect(outcome.failed?.code).toBe('KUBERNETES_UNAVAILABLE');
    let rbac: unknown;
    try {
      await driver.apply({ kind: 'start-replicas', service: 'denied', version: 'v1.0.0', image: `${REPO}:v1.0.0`, role: 'primary', count: 1 }, desired('denied', [v(1, 1)]), {});
    } catch (e) {
      rbac = isGitmlError(e) ? e.data.rbac : e;
    }
    expect(rbac).toEqual({ verb: 'patch', resource: 'deployments', apiGroup: 'apps', namespace: 'ml' });
    server.denied = [];
    expect((await reconcile(driver, 'denied', desired('denied', [v(1, 1)]))).outcome.failed).toBeUndefined();
  });

  test('--prune: a service whose YAML is gone is deleted by label, its pods with it; without --prune it stays', async () => {
    const driver = driverFor();
    expect((await reconcile(driver, 'denied', null)).steps).toEqual([]);
    const { steps, outcome } = await reconcile(driver, 'denied', null, true);
    expect(steps).toEqual([{ kind: 'delete-service', service: 'denied' }]);
    expect(outcome.failed).toBeUndefined();
    expect(await driver.actual('denied')).toBeNull();
    await until(() => podsOf('denied').length === 0);
    expect(await driver.list()).not.toContain('denied');
  });

  test('render: the exact objects as YAML, each valid, without contacting the cluster', () => {
    const before = server.requests.length;
    const driver = driverFor({ gateway: { name: 'public' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }], priorityClassName: 'serving', imagePullSecrets: ['regcred'] });
    const text = driver.render(desired('iris', [v(2, 2, { weight: 90 }), v(4, 1, { weight: 10, role: 'canary' })]));
    const objs = parseAllDocuments(text).map((d) => d.toJSON());
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Service/iris', 'Service/iris-stable', 'Service/iris-canary', 'HTTPRoute/iris', 'Deployment/iris', 'Deployment/iris-canary']);
    for (const o of objs) expect(kubeObjectProblems(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    const pod = objs.find((o) => o.kind === 'Deployment').spec.template.spec;
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.priorityClassName).toBe('serving');
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(server.requests.length).toBe(before);
  });

  test('logs across the replicas, each line with its pod', async () => {
    const driver = driverFor();
    const lines: string[] = [];
    await driver.logs('iris', { follow: false, write: (l) => lines.push(l) });
    const pods = podsOf('iris').map((p) => p.metadata.name);
    for (const p of pods) expect(lines).toContain(`[${p}] gitml scoring server: listening on :8080, ready`);
  });

  test('a compute that is not kubernetes is refused', () => {
    let code: string | undefined;
    try {
      createKubernetesServiceDriver({ compute: { name: 'd', file: 'gitml/compute/d.yaml', spec: { kind: 'ComputeTarget', type: 'docker' } }, repoDir: dir });
    } catch (e) {
      code = isGitmlError(e) ? e.code : undefined;
    }
    expect(code).toBe('TARGET');
  });
});

describe('clusters and hands', () => {
  test('a cluster without the Gateway API: services are read and listed all the same (no HTTPRoutes)', async () => {
    const plain = await new FakeKubeApiServer({ namespaces: ['ml'], startDelayMs: 10, podReadyMs: 30, gatewayApi: false }).start();
    const d = tmpDir('gitml-kube-nogw-');
    try {
      plain.images.set(`${REPO}@${digest(1)}`, {});
      const driver = createKubernetesServiceDriver({
        compute: { name: 'k8s', file: 'gitml/compute/k8s.yaml', spec: { kind: 'ComputeTarget', type: 'kubernetes', kubeconfig: plain.writeKubeconfig(d), namespace: 'ml' } },
        repoDir: d,
        pollMs: 15,
      });
      const { outcome } = await reconcile(driver, 'plain', desired('plain', [v(1, 1)]));
      expect(outcome.failed).toBeUndefined();
      expect((await driver.actual('plain'))?.weights).toEqual({ 'v1.0.0': 100 });
      expect(await driver.list()).toEqual(['plain']);
    } finally {
      await plain.stop();
      removeDir(d);
    }
  });

  test('a deploy stopped midway (after the new Deployment was applied, before its rollout was watched) is completed by the next one', async () => {
    const driver = driverFor();
    expect((await reconcile(driver, 'mid', desired('mid', [v(1, 2)]))).outcome.failed).toBeUndefined();
    const steps = plan('mid', desired('mid', [v(2, 2)]), await driver.actual('mid'));
    await driver.apply(steps[0], desired('mid', [v(2, 2)]), {}); // start-replicas, then the process dies
    const next = await reconcile(driver, 'mid', desired('mid', [v(2, 2)]));
    expect(next.outcome.failed).toBeUndefined();
    await until(() => podsOf('mid').length === 2);
    expect(readyVersions('mid')).toEqual(['v2.0.0', 'v2.0.0']);
    expect(plan('mid', desired('mid', [v(2, 2)]), await driver.actual('mid'))).toEqual([]);
    await driver.delete('mid');
  });

  test('a replica deleted by hand is replaced by its ReplicaSet; the next plan has nothing to do', async () => {
    const driver = driverFor();
    const victim = podsOf('iris')[0].metadata.name;
    const kube = await (await import('../../core/kube/client.js')).kubeClient(compute().spec as KubernetesCompute, dir);
    await kube.deleteObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: victim } });
    await until(() => readyVersions('iris').length === 2 && !podsOf('iris').some((p) => p.metadata.name === victim));
    expect(plan('iris', desired('iris', [v(2, 2)]), await driver.actual('iris'))).toEqual([]);
  });
});
