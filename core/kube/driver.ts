/**
 * The Kubernetes service driver: the reconciler's steps (core/services/plan.ts) carried out on
 * a kubernetes ComputeTarget with the objects of service-objects.ts and the calls of
 * services.ts. The Deployment is the unit of a track (stable, canary) and does the start-first
 * rollout itself (maxSurge 1, maxUnavailable 0): gitml applies it and watches it.
 *
 * | step            | on the cluster                                                                 |
 * |-----------------|--------------------------------------------------------------------------------|
 * | ensure-front    | apply the Service (+ per-track Services and the HTTPRoute with a gateway)     |
 * | start-replicas  | apply that track's Deployment: desired image (by digest) and replica count     |
 * | wait-ready      | watch that Deployment until Available, or Stalled with the cluster's reason    |
 * | switch-traffic  | apply the HTTPRoute's weights; without a gateway the split is the replica ratio|
 * | remove-replicas | re-apply the desired Deployments, prune objects no longer rendered (a canary)  |
 * | delete-service  | delete everything carrying the service's gitml labels                          |
 *
 * Old pods are removed by their Deployment as new ones become ready, never by gitml.
 *
 * @example
 *   const driver = createKubernetesServiceDriver({ compute, repoDir });
 *   const steps = plan('iris', desired, await driver.actual('iris'));
 *   const outcome = await applyPlan(driver, desired, steps, { progress: console.error });
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ComputeTarget, KubernetesCompute, Loaded } from '../entities/types.js';
import { GitmlError } from '../errors.js';
import type { ApplyContext, ServiceDriver } from '../services/driver.js';
import { replicaSpec } from '../services/plan.js';
import type { ActualReplica, ActualService, DesiredService, DesiredVersion, Step } from '../services/types.js';
import type { KubeApi } from './client.js';
import { TRACK_LABEL } from './labels.js';
import {
  COMMIT_ANNOTATION,
  DIGEST_ANNOTATION,
  IMAGE_ANNOTATION,
  REPLICA_SPEC_ANNOTATION,
  SERVER_CONTAINER,
  VERSION_ANNOTATION,
  objectsYaml,
  renderServiceObjects,
  serviceObjectNames,
  type HTTPRouteObject,
  type KubeObject,
} from './service-objects.js';
import type { KubeServiceSpec, KubeTrack } from './service-spec.js';
import { KubeServices } from './services.js';

export interface KubernetesServiceDriverOptions {
  compute: Loaded<ComputeTarget>;
  repoDir: string;
  /** API client factory; default kubeClient() from the compute's kubeconfig (made on first use: render never contacts the cluster). */
  kube?: (compute: KubernetesCompute, repoDir: string) => Promise<KubeApi>;
  /** How often a rollout is looked at (ms). */
  pollMs?: number;
  /** Pause between log rescans when following (ms). */
  logRescanMs?: number;
}

const MI = 1024 * 1024;

/** Bytes as a Kubernetes quantity (Mi or Gi when whole, else plain bytes). */
export function memoryQuantity(bytes: number): string {
  const b = Math.round(bytes);
  if (b % (1024 * MI) === 0) return `${b / (1024 * MI)}Gi`;
  if (b % MI === 0) return `${b / MI}Mi`;
  return String(b);
}

/**
 * The weights a replica ratio gives (what a cluster without a gateway does: one Service
 * selects both tracks' pods). A desired-state builder for a kubernetes compute without a
 * gateway can use it so that `plan` compares like with like.
 */
export function trafficByReplicas(versions: readonly Pick<DesiredVersion, 'version' | 'replicas'>[]): Record<string, number> {
  const total = versions.reduce((n, v) => n + v.replicas, 0);
  const out: Record<string, number> = {};
  if (total === 0) return out;
  for (const v of versions) out[v.version] = (out[v.version] ?? 0) + Math.round((100 * v.replicas) / total);
  return out;
}

function kubeSpec(compute: Loaded<ComputeTarget>): KubernetesCompute {
  if (compute.spec.type !== 'kubernetes') {
    throw new GitmlError('TARGET', `compute target ${compute.name} is of type ${compute.spec.type}, not kubernetes`, { compute: compute.name });
  }
  return compute.spec;
}

/** The KubeServiceSpec a desired service becomes on this compute (pure). */
export function serviceSpecFor(desired: DesiredService, compute: KubernetesCompute, namespace: string): KubeServiceSpec {
  const primary = desired.versions.find((v) => v.role === 'primary');
  const canary = desired.versions.find((v) => v.role === 'canary');
  if (!primary) throw new GitmlError('KUBERNETES', `service ${JSON.stringify(desired.name)} has no primary version to deploy`, { service: desired.name });
  const r = desired.resources ?? {};
  const placement: KubeServiceSpec['placement'] = {
    ...(compute.nodeSelector ? { nodeSelector: compute.nodeSelector } : {}),
    ...(compute.tolerations?.length ? { tolerations: compute.tolerations as NonNullable<KubeServiceSpec['placement']>['tolerations'] } : {}),
    ...(compute.affinity ? { affinity: compute.affinity as NonNullable<KubeServiceSpec['placement']>['affinity'] } : {}),
    ...(compute.imagePullSecrets?.length ? { imagePullSecrets: compute.imagePullSecrets } : {}),
    ...(compute.priorityClassName ? { priorityClassName: compute.priorityClassName } : {}),
  };
  return {
    service: desired.name,
    namespace,
    model: desired.model,
    stable: { version: primary.version, image: primary.image, ...(primary.digest ? { digest: primary.digest } : {}), replicas: primary.replicas },
    ...(canary ? { canary: { version: canary.version, image: canary.image, ...(canary.digest ? { digest: canary.digest } : {}), replicas: canary.replicas, weight: canary.weight } } : {}),
    port: desired.port,
    resources: { ...(r.cpu !== undefined ? { cpu: r.cpu } : {}), ...(r.memory !== undefined ? { memory: r.memory } : {}) },
    ...(Object.keys(placement).length ? { placement } : {}),
    ...(compute.gateway ? { gateway: { ...compute.gateway } } : {}),
    ...(compute.pendingDeadline !== undefined ? { pendingDeadlineSeconds: compute.pendingDeadline } : {}),
    revision: { commit: desired.revision, ...(primary.tag ? { tag: primary.tag } : {}) },
    ...(desired.sampleRate ? { sampleRate: desired.sampleRate } : {}),
    replicaSpec: replicaSpec(desired),
  };
}

const isReady = (p: V1Pod): boolean => !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

export function createKubernetesServiceDriver(opts: KubernetesServiceDriverOptions): ServiceDriver {
  const compute = kubeSpec(opts.compute);
  let client: Promise<{ kube: KubeApi; services: KubeServices }> | undefined;
  const connect = (): Promise<{ kube: KubeApi; services: KubeServices }> =>
    (client ??= (async () => {
      const factory = opts.kube ?? (async (c: KubernetesCompute, r: string) => (await import('./client.js')).kubeClient(c, r));
      const kube = await factory(compute, opts.repoDir);
      return { kube, services: new KubeServices(kube, { ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}) }) };
    })());

  const need = (desired: DesiredService | null, step: Step): DesiredService => {
    if (!desired) throw new GitmlError('INTERNAL', `step ${step.kind} of service ${step.service} needs the desired state`, { step: step.kind });
    return desired;
  };

  const trackOf = (desired: DesiredService, version: string, role?: 'primary' | 'canary'): KubeTrack => {
    const v = desired.versions.find((x) => x.version === version && (!role || x.role === role)) ?? desired.versions.find((x) => x.version === version);
    return (v?.role ?? role) === 'canary' ? 'canary' : 'stable';
  };

  async function existingCanaryWeight(services: KubeServices, service: string): Promise<number> {
    const route = (await services.state(service)).routes.find((r) => r.metadata.name === serviceObjectNames(service).route);
    const canary = route?.spec.rules[0]?.backendRefs.find((b) => b.name === serviceObjectNames(service).trackService.canary);
    return canary?.weight ?? 0;
  }

  async function apply(step: Step, desired: DesiredService | null, ctx: ApplyContext): Promise<void> {
    const { kube, services } = await connect();
    if (step.kind === 'delete-service') {
      const gone = await services.deleteService(step.service);
      ctx.progress?.(`${step.service}: deleted ${gone.map((g) => `${g.kind}/${g.name}`).join(', ') || 'nothing (already gone)'}`);
      return;
    }
    const want = need(desired, step);
    const spec = serviceSpecFor(want, compute, kube.namespace);
    const objects = renderServiceObjects(spec);
    const names = serviceObjectNames(spec.service);
    const deploymentOf = (track: KubeTrack): KubeObject => {
      const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === names.deployment[track]);
      if (!d) throw new GitmlError('INTERNAL', `service ${spec.service} renders no ${track} Deployment`, { track });
      return d;
    };
    switch (step.kind) {
      case 'ensure-front': {
        // The route keeps the split it has (traffic moves only at switch-traffic), or sends all to stable when new.
        const front = spec.gateway && spec.canary ? renderServiceObjects({ ...spec, canary: { ...spec.canary, weight: await existingCanaryWeight(services, spec.service) } }) : objects;
        await services.apply(front.filter((o) => o.kind === 'Service' || o.kind === 'HTTPRoute'));
        return;
      }
      case 'start-replicas': {
        const track = step.role === 'canary' ? 'canary' : 'stable';
        ctx.progress?.(`${spec.service}: applying Deployment ${names.deployment[track]} (${(track === 'canary' ? spec.canary : spec.stable)?.replicas} replica(s) of ${step.version})`);
        await services.apply([deploymentOf(track)]);
        return;
      }
      case 'wait-ready': {
        const track = trackOf(want, step.version);
        await services.waitForRollout(names.deployment[track], {
          ...(spec.pendingDeadlineSeconds !== undefined ? { pendingDeadlineSeconds: spec.pendingDeadlineSeconds } : {}),
          ...(ctx.progress ? { onProgress: ctx.progress } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        return;
      }
      case 'switch-traffic': {
        if (!spec.gateway) {
          const ratio = trafficByReplicas(want.versions);
          ctx.progress?.(
            `${spec.service}: compute ${opts.compute.name} names no gateway, so one Service balances over every ready pod: traffic follows the replica ratio (${Object.entries(ratio).map(([v, w]) => `${v}=${w}%`).join(', ')}); set \`gateway\` on the compute for exact weights`,
          );
          return;
        }
        await services.apply(objects.filter((o) => o.kind === 'Service' || o.kind === 'HTTPRoute'));
        return;
      }
      case 'remove-replicas': {
        // The Deployments as desired (a rollout that stalled earlier is turned back here: its pods go
        // when the template is the serving one again), then what is no longer rendered (the canary).
        await services.apply(objects.filter((o) => o.kind === 'Deployment'));
        const removed = await services.prune(spec.service, objects);
        ctx.progress?.(`${spec.service}: ${removed.length ? `removed ${removed.map((r) => `${r.kind}/${r.name}`).join(', ')}` : 'nothing to prune'}; old pods are removed by their Deployment`);
        return;
      }
    }
  }

  return {
    async actual(service: string): Promise<ActualService | null> {
      const { services } = await connect();
      const st = await services.state(service);
      if (st.deployments.length === 0 && st.services.length === 0 && st.routes.length === 0) return null;
      const names = serviceObjectNames(service);
      const replicas: ActualReplica[] = st.pods
        .filter((p) => !p.metadata?.deletionTimestamp)
        .map((p) => {
          const a = p.metadata?.annotations ?? {};
          const digest = a[DIGEST_ANNOTATION];
          return {
            id: p.metadata!.name!,
            version: a[VERSION_ANNOTATION] ?? p.metadata?.labels?.['app.kubernetes.io/version'] ?? '',
            image: a[IMAGE_ANNOTATION] ?? p.spec?.containers.find((c) => c.name === SERVER_CONTAINER)?.image ?? '',
            role: p.metadata?.labels?.[TRACK_LABEL] === 'canary' ? 'canary' : 'primary',
            ...(digest ? { digest } : {}),
            ...(a[REPLICA_SPEC_ANNOTATION] ? { spec: a[REPLICA_SPEC_ANNOTATION] } : {}),
            ready: isReady(p),
          } satisfies ActualReplica;
        })
        .sort((a, b) => a.id.localeCompare(b.id));
      const versionOf = (track: KubeTrack): string | undefined => {
        const d = st.deployments.find((x: V1Deployment) => x.metadata?.name === names.deployment[track]);
        return d?.spec?.template?.metadata?.annotations?.[VERSION_ANNOTATION];
      };
      const weights: Record<string, number> = {};
      const route: HTTPRouteObject | undefined = st.routes.find((r) => r.metadata.name === names.route);
      if (route) {
        for (const b of route.spec.rules[0]?.backendRefs ?? []) {
          const v = versionOf(b.name === names.trackService.canary ? 'canary' : 'stable');
          if (v && b.weight > 0) weights[v] = (weights[v] ?? 0) + b.weight;
        }
      } else {
        const ready = replicas.filter((r) => r.ready);
        const counts = new Map<string, number>();
        for (const r of ready) counts.set(r.version, (counts.get(r.version) ?? 0) + 1);
        Object.assign(weights, trafficByReplicas([...counts].map(([version, n]) => ({ version, replicas: n }))));
      }
      const front = st.services.find((s) => s.metadata?.name === names.service);
      const stable = st.deployments.find((d) => d.metadata?.name === names.deployment.stable);
      const revision = stable?.metadata?.annotations?.[COMMIT_ANNOTATION] ?? front?.metadata?.annotations?.[COMMIT_ANNOTATION];
      return {
        name: service,
        replicas,
        weights,
        ...(front?.spec?.ports?.[0]?.port !== undefined ? { port: front.spec.ports[0].port } : {}),
        ...(revision ? { revision } : {}),
      };
    },
    async list(): Promise<string[]> {
      return (await connect()).services.list();
    },
    apply,
    render(desired: DesiredService): string {
      return objectsYaml(renderServiceObjects(serviceSpecFor(desired, compute, compute.namespace ?? 'default')));
    },
    async logs(service, lopts): Promise<void> {
      await (await connect()).services.logs(service, { ...lopts, ...(opts.logRescanMs !== undefined ? { rescanMs: opts.logRescanMs } : {}) });
    },
    async delete(service: string): Promise<void> {
      await (await connect()).services.deleteService(service);
    },
    async sampleLogs(service: string, dest: string): Promise<string[]> {
      return (await connect()).services.sampleLogs(service, dest);
    },
  };
}
