// The Kubernetes objects of a model service: every rendered object passes the official
// schemas (kubernetes-models, Gateway API CRDs) and carries what the restricted profile, the
// rollout and the traffic split need.
import { describe, expect, it } from 'vitest';
import { objectsYaml, renderServiceObjects } from '../../core/kube/service-objects.js';
import type { KubeServiceSpec } from '../../core/kube/service-spec.js';
import { kubeObjectProblems } from '../../core/kube/validate.js';
import { isGitmlError } from '../../core/errors.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);
const base: KubeServiceSpec = {
  service: 'iris',
  namespace: 'ml',
  model: 'iris',
  stable: { version: 'v1.0.0', image: '127.0.0.1:5000/gitml/iris:v1.0.0', digest: DIGEST, replicas: 2 },
  port: 80,
  resources: { cpu: '500m', memory: '512Mi' },
  revision: { commit: 'c'.repeat(40), tag: 'iris#production#3' },
};

const kinds = (objs: any[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`);

describe('renderServiceObjects', () => {
  it.each<[string, KubeServiceSpec, string[]]>([
    ['stable only', base, ['Service/iris', 'Deployment/iris']],
    ['with a canary', { ...base, canary: { version: 'v1.1.0', image: '127.0.0.1:5000/gitml/iris:v1.1.0', digest: DIGEST, replicas: 1, weight: 10 } }, ['Service/iris', 'Deployment/iris', 'Deployment/iris-canary']],
    [
      'with a gateway: per-track Services and an HTTPRoute',
      { ...base, canary: { version: 'v1.1.0', image: '127.0.0.1:5000/gitml/iris:v1.1.0', digest: DIGEST, replicas: 1, weight: 10 }, gateway: { name: 'public', namespace: 'gateways' } },
      ['Service/iris', 'Service/iris-stable', 'Service/iris-canary', 'HTTPRoute/iris', 'Deployment/iris', 'Deployment/iris-canary'],
    ],
  ])('%s: the objects in apply order, each valid against the schemas', (_n, spec, expected) => {
    const objs = renderServiceObjects(spec) as any[];
    expect(kinds(objs)).toEqual(expected);
    for (const o of objs) expect(kubeObjectProblems(o), `${o.kind}/${o.metadata.name}`).toEqual([]);
    expect(objectsYaml(objs).split('---\n').length - 1).toBe(objs.length);
  });

  it('pods: image by digest, probes on the v2 health routes, restricted security context, read-only root with sized emptyDirs', () => {
    const dep = (renderServiceObjects(base) as any[]).find((o) => o.kind === 'Deployment');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe(`127.0.0.1:5000/gitml/iris@${DIGEST}`);
    expect(c.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/v2/health/live');
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext ?? c.securityContext).toMatchObject({ runAsNonRoot: true });
    for (const v of pod.volumes) expect(v.emptyDir.sizeLimit).toBeTruthy();
    expect(c.resources.requests).toMatchObject({ cpu: '500m', memory: '512Mi' });
    expect(c.resources.requests['ephemeral-storage']).toBeTruthy();
    expect(dep.spec.strategy.rollingUpdate).toMatchObject({ maxUnavailable: 0 });
    for (const k of ['name', 'instance', 'version', 'component', 'part-of', 'managed-by']) expect(dep.metadata.labels[`app.kubernetes.io/${k}`], k).toBeTruthy();
  });

  it('the HTTPRoute carries the exact canary weight', () => {
    const spec = { ...base, canary: { version: 'v1.1.0', image: 'r/iris:v1.1.0', digest: DIGEST, replicas: 1, weight: 10 }, gateway: { name: 'public' } };
    const route = (renderServiceObjects(spec) as any[]).find((o) => o.kind === 'HTTPRoute');
    const refs = route.spec.rules[0].backendRefs;
    expect(refs.map((r: any) => [r.name, r.weight])).toEqual([['iris-stable', 90], ['iris-canary', 10]]);
  });

  it('a name the API server would refuse is refused before anything is sent', () => {
    let code: string | undefined;
    try {
      renderServiceObjects({ ...base, service: 'Iris_Service' });
    } catch (e) {
      if (isGitmlError(e)) code = e.code;
    }
    expect(code).toBe('KUBERNETES');
  });
});
