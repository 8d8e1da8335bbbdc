/**
 * core/kube/services.ts against the fake API server (test/support/kube-apiserver.ts) through
 * the real @kubernetes/client-node: server-side apply, a Deployment controller that rolls
 * ReplicaSets, a scheduler with taints, pods that become ready (or never do), rollout
 * conditions, label selectors, deletion with garbage collection, and RBAC refusals in the API
 * server's words.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { isGitmlError } from '../../core/errors.js';
import { kubeClient, type KubeApi } from '../../core/kube/client.js';
import { renderServiceObjects, type KubeObject } from '../../core/kube/service-objects.js';
import type { KubeServiceSpec } from '../../core/kube/service-spec.js';
import { KubeServices } from '../../core/kube/services.js';
import { templatesDir } from '../../core/paths.js';
import { FakeKubeApiServer, matchLabels } from '../support/kube-apiserver.js';
import { removeDir, tmpDir } from '../support/repo.js';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const D3 = 'sha256:' + '3'.repeat(64);
const REPO = '127.0.0.1:5000/gitml/iris';

let server: FakeKubeApiServer;
let dir: string;
let kube: KubeApi;
let svc: KubeServices;

beforeAll(async () => {
  // One "second" of progressDeadlineSeconds lasts 20 ms here.
  server = await new FakeKubeApiServer({ namespaces: ['ml'], startDelayMs: 10, podReadyMs: 30, secondsMs: 20 }).start();
  dir = tmpDir('gitml-kube-svc-');
  const kubeconfig = server.writeKubeconfig(dir, { context: 'fake' });
  kube = await kubeClient({ kind: 'ComputeTarget', type: 'kubernetes', kubeconfig, namespace: 'ml' }, dir);
  svc = new KubeServices(kube, { pollMs: 15 });
  for (const d of [D1, D2, D3]) server.images.set(`${REPO}@${d}`, {});
});

afterAll(async () => {
  await server.stop();
  removeDir(dir);
});

afterEach(() => {
  server.denied = [];
  server.nodes = [{ name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } }];
});

function spec(service: string, extra: Partial<KubeServiceSpec> = {}): KubeServiceSpec {
  return {
    service,
    namespace: 'ml',
    model: 'iris',
    stable: { version: 'v1.0.0', image: `${REPO}:v1.0.0`, digest: D1, replicas: 2 },
    port: 80,
    progressDeadlineSeconds: 10,
    ...extra,
  };
}

const ready = (service: string, version?: string) =>
  server
    .list('pods', 'ml')
    .filter((p) => p.metadata.labels['dev.gitml/service'] === service && (!version || p.metadata.labels['app.kubernetes.io/version'] === version))
    .filter((p) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length;

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; data?: Record<string, unknown> }> {
  try {
    await p;
    return {};
  } catch (e) {
    return isGitmlError(e) ? { code: e.code, data: e.data } : { code: `not a GitmlError: ${String(e)}` };
  }
}

describe('KubeServices', () => {
  test('first deploy: every write is a server-side apply by gitml; the rollout ends Available with the pods by digest', async () => {
    const before = server.requests.length;
    const objs = renderServiceObjects(spec('iris'));
    await svc.apply(objs);
    const writes = server.requests.slice(before).filter((r) => r.method !== 'GET');
    expect(writes.map((w) => [w.method, w.contentType, w.query.fieldManager, w.query.force])).toEqual(objs.map(() => ['PATCH', 'application/apply-patch+yaml', 'gitml', 'true']));
    const status = await svc.waitForRollout('iris');
    expect(status).toMatchObject({ deployment: 'iris', replicas: 2, updatedReplicas: 2, availableReplicas: 2, revision: '1' });
    const state = await svc.state('iris');
    expect(state.deployments.map((d) => d.metadata?.name)).toEqual(['iris']);
    expect(state.replicaSets).toHaveLength(1);
    expect(state.pods).toHaveLength(2);
    expect(state.pods.map((p) => p.spec?.containers[0].image)).toEqual([`${REPO}@${D1}`, `${REPO}@${D1}`]);
    expect(state.services.map((s) => s.metadata?.name)).toEqual(['iris']);
    const dep = server.get('deployments', 'ml', 'iris')!;
    expect(dep.metadata.managedFields.map((m: any) => [m.manager, m.operation])).toEqual([['gitml', 'Apply']]);
    expect(dep.status.conditions.find((c: any) => c.type === 'Available').status).toBe('True');
  });

  test('a new version rolls start-first: the ready pods never drop below the replica count; old ReplicaSet scaled to 0', async () => {
    let lowest = Infinity;
    const sample = setInterval(() => (lowest = Math.min(lowest, ready('iris'))), 2);
    await svc.apply(renderServiceObjects(spec('iris', { stable: { version: 'v2.0.0', image: `${REPO}:v2.0.0`, digest: D2, replicas: 2 } })));
    const lines: string[] = [];
    const st = await svc.waitForRollout('iris', { onProgress: (l) => lines.push(l) });
    clearInterval(sample);
    expect(st).toMatchObject({ updatedReplicas: 2, availableReplicas: 2, revision: '2' });
    expect(lowest).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeGreaterThan(0);
    expect(ready('iris', 'v2.0.0')).toBe(2);
    expect(ready('iris', 'v1.0.0')).toBe(0);
    const rss = (await svc.state('iris')).replicaSets;
    expect(rss.map((r) => r.spec?.replicas).sort()).toEqual([0, 2]);
  });

  test('a version that never becomes ready: Stalled with ProgressDeadlineExceeded, the old version still serving', async () => {
    server.neverReady.add(`${REPO}@${D3}`);
    await svc.apply(renderServiceObjects(spec('iris', { stable: { version: 'v3.0.0', image: `${REPO}:v3.0.0`, digest: D3, replicas: 2 } })));
    const r = await codeOf(svc.waitForRollout('iris'));
    expect(r.code).toBe('KUBERNETES');
    expect(r.data?.reason).toBe('ProgressDeadlineExceeded');
    expect(ready('iris', 'v2.0.0')).toBe(2);
    expect(ready('iris', 'v3.0.0')).toBe(0);
    // Rolling back to the previous template reuses its ReplicaSet (a new revision) and completes.
    await svc.apply(renderServiceObjects(spec('iris', { stable: { version: 'v2.0.0', image: `${REPO}:v2.0.0`, digest: D2, replicas: 2 } })));
    const back = await svc.waitForRollout('iris');
    expect(back.revision).toBe('4');
    expect((await svc.state('iris')).replicaSets).toHaveLength(3);
  });

  test('a pod the scheduler cannot place stops the rollout after the pending deadline with the scheduler message; tolerations fix it', async () => {
    server.nodes = [{ name: 'gpu-1', labels: { pool: 'gpu' }, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] }];
    await svc.apply(renderServiceObjects(spec('gpu', { pendingDeadlineSeconds: 0.2 as number, placement: { nodeSelector: { pool: 'gpu' } } })));
    const r = await codeOf(svc.waitForRollout('gpu'));
    expect(r.code).toBe('KUBERNETES');
    expect(r.data?.reason).toBe('Unschedulable');
    expect(String(r.data?.message)).toContain('untolerated taint {nvidia.com/gpu: present}');
    // The same service with a toleration for the taint: new pods are placed and become ready.
    await svc.apply(
      renderServiceObjects(spec('gpu', { pendingDeadlineSeconds: 0.2, placement: { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] } })),
    );
    await expect(svc.waitForRollout('gpu')).resolves.toMatchObject({ availableReplicas: 2 });
  });

  test('server-side apply: another manager\'s field survives, a field gitml stopped applying goes, a conflicting field is taken back with force', async () => {
    await svc.apply(renderServiceObjects(spec('ssa', { labels: { team: 'vision' } })));
    // kubectl annotates the Deployment and scales it (merge patches by another field manager).
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(path.join(dir, 'kubeconfig.yaml'));
    await kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment(
      { name: 'ssa', namespace: 'ml', fieldManager: 'kubectl', body: { metadata: { annotations: { 'example.com/owner': 'ops' } }, spec: { replicas: 5 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(server.get('deployments', 'ml', 'ssa')!.spec.replicas).toBe(5);
    await svc.apply(renderServiceObjects(spec('ssa')));
    const dep = server.get('deployments', 'ml', 'ssa')!;
    expect(dep.metadata.annotations['example.com/owner']).toBe('ops');
    expect(dep.metadata.labels.team).toBeUndefined();
    expect(dep.spec.replicas).toBe(2);
    expect(dep.metadata.managedFields.map((m: any) => m.manager).sort()).toEqual(['gitml', 'kubectl']);
    await svc.deleteService('ssa');
  });

  test('prune removes what gitml deployed and no longer renders (the canary), and its pods with it', async () => {
    const canary = { version: 'v2.0.0', image: `${REPO}:v2.0.0`, digest: D2, replicas: 1, weight: 10 };
    await svc.apply(renderServiceObjects(spec('pr', { canary })));
    await svc.waitForRollout('pr-canary');
    expect(ready('pr', 'v2.0.0')).toBe(1);
    const objs: KubeObject[] = renderServiceObjects(spec('pr'));
    await svc.apply(objs);
    const removed = await svc.prune('pr', objs);
    expect(removed).toEqual([{ kind: 'Deployment', name: 'pr-canary' }]);
    await until(() => server.list('pods', 'ml').filter((p) => p.metadata.labels['dev.gitml/service'] === 'pr' && p.metadata.labels['dev.gitml/track'] === 'canary').length === 0);
    expect(await svc.list()).toContain('pr');
    // Delete by label: everything of the service goes, the other services stay.
    await svc.deleteService('pr');
    await until(() => server.list('pods', 'ml').every((p) => p.metadata.labels['dev.gitml/service'] !== 'pr'));
    const st = await svc.state('pr');
    expect([st.deployments.length, st.services.length, st.replicaSets.length]).toEqual([0, 0, 0]);
    expect(await svc.list()).not.toContain('pr');
    expect(await svc.list()).toContain('iris');
  });

  test('a refused permission names the RBAC rule; templates/kube/rbac.yaml allows every request these tests made', async () => {
    server.denied = [{ verb: 'patch', resource: 'deployments', group: 'apps' }];
    const r = await codeOf(svc.apply(renderServiceObjects(spec('iris'))));
    expect(r.code).toBe('KUBERNETES_UNAVAILABLE');
    expect(r.data?.rbac).toEqual({ verb: 'patch', resource: 'deployments', apiGroup: 'apps', namespace: 'ml' });
    server.denied = [{ verb: 'list', resource: 'replicasets', group: 'apps' }];
    expect((await codeOf(svc.state('iris'))).data?.rbac).toEqual({ verb: 'list', resource: 'replicasets', apiGroup: 'apps', namespace: 'ml' });
    server.denied = [];

    const role = parseAllDocuments(readFileSync(path.join(templatesDir(), 'kube', 'rbac.yaml'), 'utf8'))
      .map((d) => d.toJSON())
      .find((d) => d.kind === 'Role');
    const allowed = (verb: string, resource: string, group: string) =>
      role.rules.some((rule: any) => rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb));
    const missing = new Set<string>();
    for (const req of server.requests) {
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(req.path);
      if (!m) continue;
      const verb = req.method === 'GET' ? (m[3] ? 'get' : req.query.watch ? 'watch' : 'list') : req.method === 'PATCH' ? 'patch' : req.method === 'DELETE' ? 'delete' : 'create';
      const resource = m[4] ? `${m[2]}/${m[4]}` : m[2];
      // The merge patch of the SSA test stands for kubectl, not gitml.
      if (req.query.fieldManager === 'kubectl') continue;
      if (!allowed(verb, resource, m[1] ?? '')) missing.add(`${verb} ${resource}.${m[1] ?? ''}`);
    }
    expect([...missing]).toEqual([]);
  });

  test('logs follow every pod of the service and resume after a dropped stream without repeating a line', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const done = svc.logs('iris', { follow: true, signal: stop.signal, write: (l) => lines.push(l), rescanMs: 50 });
    const pods = server.list('pods', 'ml').filter((p) => p.metadata.labels['dev.gitml/service'] === 'iris' && p.status.phase === 'Running');
    expect(pods.length).toBeGreaterThan(0);
    await until(() => lines.some((l) => l.includes('listening on :8080')));
    server.writePodLog('ml', pods[0].metadata.name, 'before the cut\n');
    await until(() => lines.some((l) => l.endsWith('before the cut')));
    server.dropLogFollowers();
    await new Promise((r) => setTimeout(r, 50));
    server.writePodLog('ml', pods[0].metadata.name, 'after the cut\n');
    await until(() => lines.some((l) => l.endsWith('after the cut')), 5000);
    stop.abort();
    await done;
    expect(lines.filter((l) => l.endsWith('before the cut'))).toEqual([`[${pods[0].metadata.name}] before the cut`]);
    expect(lines.filter((l) => l.startsWith(`[${pods[0].metadata.name}]`) && l.includes('listening on :8080'))).toHaveLength(1);
  });

  test.each<[string, Record<string, string>, boolean]>([
    ['a=1,b', { a: '1', b: 'x' }, true],
    ['a in (1,2),b notin (x)', { a: '2', b: 'y' }, true],
    ['a in (1,2)', { a: '3' }, false],
    ['!a', { b: '1' }, true],
    ['a!=1', { a: '1' }, false],
  ])('the fake server reads label selector %s as the API server does', (sel, labels, expected) => {
    expect(matchLabels(sel, labels)).toBe(expected);
  });
});
