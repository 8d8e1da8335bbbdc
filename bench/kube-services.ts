/**
 * Kubernetes service costs that do not depend on a cluster: `npx tsx bench/kube-services.ts [--runs 20]`.
 *
 * 1. A reconcile with nothing to do: the driver reads what runs (Deployments, ReplicaSets,
 *    pods, Services, HTTPRoutes by label) and plan() finds no step, against the baseline of
 *    one list of the service's pods through the same client (the least any reconcile must
 *    ask). Both go to the recording API server in this process over HTTPS, so the ratio is
 *    the number and weight of requests; a real API server adds its own latency to each.
 * 2. Rendering: renderServiceObjects() (Service, Deployments, and with a gateway the track
 *    Services and the HTTPRoute, each validated against the Kubernetes OpenAPI schemas) against
 *    the baseline: YAML of the same objects without validation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import type { ComputeTarget, KubernetesCompute, Loaded } from '../core/entities/types.js';
import { kubeClient } from '../core/kube/client.js';
import { createKubernetesServiceDriver } from '../core/kube/driver.js';
import { renderServiceObjects, serviceSelector } from '../core/kube/service-objects.js';
import type { KubeServiceSpec } from '../core/kube/service-spec.js';
import { applyPlan } from '../core/services/apply.js';
import { plan } from '../core/services/plan.js';
import type { DesiredService } from '../core/services/types.js';
import { FakeKubeApiServer } from '../test/support/kube-apiserver.js';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1] || 0) || 20;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

async function main(): Promise<void> {
  const server = await new FakeKubeApiServer({ namespaces: ['ml'], startDelayMs: 5, podReadyMs: 10 }).start();
  const dir = mkdtempSync(path.join(tmpdir(), 'gitml-bench-kube-svc-'));
  try {
    const REPO = '127.0.0.1:5000/gitml/iris';
    const D = 'sha256:' + '1'.repeat(64);
    server.images.set(`${REPO}@${D}`, {});
    const compute: Loaded<ComputeTarget> = { name: 'k8s', file: 'gitml/compute/k8s.yaml', spec: { kind: 'ComputeTarget', type: 'kubernetes', kubeconfig: server.writeKubeconfig(dir), namespace: 'ml' } };
    const driver = createKubernetesServiceDriver({ compute, repoDir: dir, pollMs: 10 });
    const desired: DesiredService = {
      name: 'iris',
      model: 'iris',
      compute: { name: 'k8s', type: 'kubernetes' },
      revision: 'c'.repeat(40),
      port: 80,
      resources: { cpu: 0.5, memoryBytes: 512 * 1024 * 1024 },
      versions: [{ version: 'v1.0.0', image: `${REPO}:v1.0.0`, digest: D, replicas: 3, weight: 100, role: 'primary' }],
    };
    const first = await applyPlan(driver, desired, plan('iris', desired, await driver.actual('iris')));
    if (first.failed) throw new Error(`first deploy failed: ${first.failed.message}`);
    const kube = await kubeClient(compute.spec as KubernetesCompute, dir);

    // Warm both paths (discovery, TLS session, module loading).
    await driver.actual('iris');
    await kube.listPods(serviceSelector('iris'));

    const noop: number[] = [];
    const base: number[] = [];
    let requests = 0;
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      await kube.listPods(serviceSelector('iris'));
      base.push(performance.now() - t);
      const before = server.requests.length;
      t = performance.now();
      const steps = plan('iris', desired, await driver.actual('iris'));
      noop.push(performance.now() - t);
      requests = server.requests.length - before;
      if (steps.length) throw new Error(`expected a no-op, got ${steps.map((s) => s.kind).join(', ')}`);
    }
    console.log(`1. reconcile with nothing to do (${RUNS} runs, 3 replicas)`);
    console.log(`   baseline  one pod list:          ${fmt(median(base))}`);
    console.log(`   actual() + plan() (${requests} requests): ${fmt(median(noop))}  ratio ${(median(noop) / median(base)).toFixed(2)}x  (target: under 1 s)`);

    const spec: KubeServiceSpec = {
      service: 'iris',
      namespace: 'ml',
      model: 'iris',
      stable: { version: 'v1.0.0', image: `${REPO}:v1.0.0`, digest: D, replicas: 3 },
      canary: { version: 'v1.1.0', image: `${REPO}:v1.1.0`, digest: D, replicas: 1, weight: 10 },
      port: 80,
      gateway: { name: 'public' },
    };
    const objs = renderServiceObjects(spec);
    const render: number[] = [];
    const yaml: number[] = [];
    for (let i = 0; i < RUNS * 5; i++) {
      let t = performance.now();
      renderServiceObjects(spec);
      render.push(performance.now() - t);
      t = performance.now();
      for (const o of objs) stringify(o);
      yaml.push(performance.now() - t);
    }
    console.log(`2. rendering a service with a canary and a gateway (${objs.length} objects, ${RUNS * 5} runs)`);
    console.log(`   baseline  YAML of the objects:   ${fmt(median(yaml))}`);
    console.log(`   renderServiceObjects (validated): ${fmt(median(render))}  ratio ${(median(render) / median(yaml)).toFixed(2)}x`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
