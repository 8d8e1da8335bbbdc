/**
 * The cluster side of a model service: the calls the Kubernetes service driver (driver.ts)
 * makes, over the narrow KubeApi of client.ts. Objects come from the pure renderers in
 * service-objects.ts; here they are applied (server-side apply, fieldManager gitml, force),
 * read back by gitml's labels, pruned, deleted, and their rollouts watched until the new
 * ReplicaSet is available or the rollout is Stalled, with the reason the cluster gives.
 *
 * A 403 becomes a GitmlError naming the RBAC rule that is missing (verb, resource, apiGroup,
 * namespace): templates/kube/rbac.yaml lists every rule gitml needs.
 *
 * @example
 *   const services = new KubeServices(await kubeClient(compute, repoDir));
 *   await services.apply(renderServiceObjects(spec));
 *   await services.waitForRollout('iris', { onProgress: console.error });
 *   await services.prune('iris', renderServiceObjects(spec));
 */
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { KubernetesObject, V1Deployment, V1Pod, V1ReplicaSet, V1Service } from '@kubernetes/client-node';
import { GitmlError, isGitmlError } from '../errors.js';
import { kubeError, type KubeApi, type RbacRule } from './client.js';
import { followLog } from './log-follow.js';
import { PENDING_DEADLINE_ANNOTATION, SAMPLE_LINE_PREFIX, SERVER_CONTAINER, serviceSelector, type HTTPRouteObject, type KubeObject } from './service-objects.js';
import { DEFAULT_PENDING_DEADLINE } from './service-spec.js';
import { sleep } from '../sleep.js';

/** The kinds gitml writes for a service, with the resource RBAC knows them by. */
const WRITTEN = [
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', resource: 'httproutes', apiGroup: 'gateway.networking.k8s.io' },
  { apiVersion: 'v1', kind: 'Service', resource: 'services', apiGroup: '' },
  { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments', apiGroup: 'apps' },
] as const;

function resourceOf(kind: string): { resource: string; apiGroup: string } {
  const w = WRITTEN.find((x) => x.kind === kind);
  if (w) return w;
  if (kind === 'ReplicaSet') return { resource: 'replicasets', apiGroup: 'apps' };
  if (kind === 'Pod') return { resource: 'pods', apiGroup: '' };
  return { resource: `${kind.toLowerCase()}s`, apiGroup: '' };
}

/** Everything gitml runs for one service, found by its labels. */
export interface KubeServiceState {
  deployments: V1Deployment[];
  replicaSets: V1ReplicaSet[];
  pods: V1Pod[];
  services: V1Service[];
  routes: HTTPRouteObject[];
}

export interface RolloutStatus {
  deployment: string;
  /** deployment.kubernetes.io/revision of the new ReplicaSet. */
  revision?: string;
  replicas: number;
  updatedReplicas: number;
  availableReplicas: number;
}

export interface WaitRolloutOptions {
  /** Seconds a pod may stay unschedulable (or unable to pull or start) before the rollout is Stalled. Default: the Deployment's annotation, else 300. */
  pendingDeadlineSeconds?: number;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface KubeServicesOptions {
  /** How often a rollout is looked at (ms). */
  pollMs?: number;
  /** Clock (ms), for the pending deadline. */
  now?: () => number;
}

/** Container waiting reasons that do not fix themselves: after the pending deadline the rollout stops with them. */
const STUCK = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'CrashLoopBackOff', 'RunContainerError']);


/** A 403 without the rule in the server's words gets the rule from what was asked. */
function withRule(e: unknown, rule: RbacRule, namespace: string): unknown {
  if (isGitmlError(e) && e.data.status === 403 && !e.data.rbac && e.cause !== undefined) {
    return kubeError(e.cause, String(e.data.what ?? `${rule.verb} ${rule.resource}`), { ...(e.data as { server?: string; context?: string }), namespace, rule });
  }
  return e;
}

function selectorString(labels: Record<string, string> = {}): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const key = (o: { kind?: string; metadata?: { name?: string } }): string => `${o.kind}/${o.metadata?.name}`;

export class KubeServices {
  constructor(
    private readonly kube: KubeApi,
    private readonly opts: KubeServicesOptions = {},
  ) {}

  get namespace(): string {
    return this.kube.namespace;
  }

  private async call<T>(rule: Omit<RbacRule, 'namespace'>, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw withRule(e, { ...rule, namespace: this.kube.namespace }, this.kube.namespace);
    }
  }

  /** Server-side apply of each object, in the order given (the renderers' apply order). */
  async apply(objects: readonly KubeObject[]): Promise<KubeObject[]> {
    const out: KubeObject[] = [];
    for (const o of objects) {
      const r = resourceOf(o.kind);
      out.push(await this.call({ verb: 'patch', ...r }, () => this.kube.applyObject(o as unknown as KubernetesObject)) as unknown as KubeObject);
    }
    return out;
  }

  /** Objects of a kind gitml wrote for the service; an API group the cluster does not serve (no Gateway API) has none. */
  private async listKind<T extends KubernetesObject>(apiVersion: string, kind: string, selector: string): Promise<T[]> {
    try {
      return await this.call({ verb: 'list', ...resourceOf(kind) }, () => this.kube.listObjects<T>(apiVersion, kind, selector));
    } catch (e) {
      // No Gateway API in the cluster: discovery of its group answers 404, so there are no routes.
      if (kind === 'HTTPRoute' && isGitmlError(e, 'KUBERNETES') && e.data.status === 404) return [];
      throw e;
    }
  }

  /** What runs for a service, by gitml's labels (ReplicaSets and pods carry the pod template's labels). */
  async state(service: string): Promise<KubeServiceState> {
    const sel = serviceSelector(service);
    const [deployments, replicaSets, pods, services, routes] = await Promise.all([
      this.listKind<V1Deployment>('apps/v1', 'Deployment', sel),
      this.listKind<V1ReplicaSet>('apps/v1', 'ReplicaSet', sel),
      this.call({ verb: 'list', resource: 'pods', apiGroup: '' }, () => this.kube.listPods(sel)),
      this.listKind<V1Service>('v1', 'Service', sel),
      this.listKind<HTTPRouteObject & KubernetesObject>('gateway.networking.k8s.io/v1', 'HTTPRoute', sel),
    ]);
    return { deployments, replicaSets, pods, services, routes: routes as HTTPRouteObject[] };
  }

  /** Names of every service gitml deployed in the namespace (from the front Services and Deployments). */
  async list(): Promise<string[]> {
    const sel = 'app.kubernetes.io/managed-by=gitml,dev.gitml/service';
    const [deps, svcs] = await Promise.all([this.listKind<V1Deployment>('apps/v1', 'Deployment', sel), this.listKind<V1Service>('v1', 'Service', sel)]);
    return [...new Set([...deps, ...svcs].map((o) => o.metadata?.labels?.['dev.gitml/service']).filter((s): s is string => !!s))].sort();
  }

  /** Delete what gitml deployed for the service and `rendered` no longer holds (e.g. the canary Deployment). Returns what went. */
  async prune(service: string, rendered: readonly KubeObject[]): Promise<Array<{ kind: string; name: string }>> {
    const keep = new Set(rendered.map(key));
    const sel = serviceSelector(service);
    const removed: Array<{ kind: string; name: string }> = [];
    for (const w of WRITTEN) {
      for (const o of await this.listKind<KubernetesObject>(w.apiVersion, w.kind, sel)) {
        if (keep.has(`${w.kind}/${o.metadata?.name}`)) continue;
        await this.call({ verb: 'delete', resource: w.resource, apiGroup: w.apiGroup }, () => this.kube.deleteObject({ apiVersion: w.apiVersion, kind: w.kind, metadata: { name: o.metadata!.name!, namespace: this.kube.namespace } }));
        removed.push({ kind: w.kind, name: o.metadata!.name! });
      }
    }
    return removed;
  }

  /** Delete everything gitml deployed for the service (route first, so traffic stops before the pods go). */
  async deleteService(service: string): Promise<Array<{ kind: string; name: string }>> {
    return this.prune(service, []);
  }

  /**
   * Wait until the Deployment's rollout is complete (every replica updated and available, no
   * old ones left: the semantics of `kubectl rollout status`), or throw a GitmlError
   * 'KUBERNETES' whose data.reason says why it Stalled: ProgressDeadlineExceeded (the
   * Deployment's progressDeadlineSeconds), Unschedulable (a pod pending longer than the pending
   * deadline, with the scheduler's message), or a container that cannot start (ErrImagePull...).
   * Old pods keep serving meanwhile: the Deployment only removes them as new ones become ready.
   */
  async waitForRollout(name: string, opts: WaitRolloutOptions = {}): Promise<RolloutStatus> {
    const now = this.opts.now ?? Date.now;
    const firstSeen = new Map<string, number>();
    let lastLine = '';
    for (;;) {
      if (opts.signal?.aborted) throw new GitmlError('CANCELED', `stopped waiting for the rollout of Deployment ${name}`, { deployment: name });
      const dep = await this.call({ verb: 'get', resource: 'deployments', apiGroup: 'apps' }, () => this.kube.readObject<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name } }));
      if (!dep) throw new GitmlError('KUBERNETES', `Deployment ${name} is gone (deleted while its rollout was watched)`, { deployment: name, reason: 'Deleted' });
      const desired = dep.spec?.replicas ?? 1;
      const st = dep.status ?? {};
      const observed = (st.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0);
      const updated = st.updatedReplicas ?? 0;
      const available = st.availableReplicas ?? 0;
      const total = st.replicas ?? 0;
      const revision = dep.metadata?.annotations?.['deployment.kubernetes.io/revision'];
      const stalled = (reason: string, message: string, extra: Record<string, unknown> = {}): GitmlError =>
        new GitmlError('KUBERNETES', `the rollout of Deployment ${name} stopped (${reason}): ${message}; what served before keeps serving`, { deployment: name, reason, message, ...extra });

      if (observed && updated === desired && total === desired && available === desired) {
        return { deployment: name, ...(revision ? { revision } : {}), replicas: total, updatedReplicas: updated, availableReplicas: available };
      }
      const progressing = st.conditions?.find((c) => c.type === 'Progressing');
      const pods = await this.call({ verb: 'list', resource: 'pods', apiGroup: '' }, () => this.kube.listPods(selectorString(dep.spec?.selector?.matchLabels)));
      // Why a pod does not come up (old pods are ready, so only the new ones can be stuck).
      let stuck: { reason: string; message: string; pod: string } | undefined;
      for (const p of pods) {
        const podName = p.metadata?.name ?? '?';
        const unsched = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
        const waiting = p.status?.containerStatuses?.find((c) => c.name === SERVER_CONTAINER)?.state?.waiting;
        const problem = unsched?.reason === 'Unschedulable' ? { reason: 'Unschedulable', message: unsched.message ?? 'no node fits the pod' } : waiting?.reason && STUCK.has(waiting.reason) ? { reason: waiting.reason, message: waiting.message ?? waiting.reason } : undefined;
        if (!problem) {
          firstSeen.delete(podName);
          continue;
        }
        const since = firstSeen.get(podName) ?? now();
        firstSeen.set(podName, since);
        const deadline = opts.pendingDeadlineSeconds ?? Number(dep.metadata?.annotations?.[PENDING_DEADLINE_ANNOTATION] ?? DEFAULT_PENDING_DEADLINE);
        stuck ??= { ...problem, pod: podName };
        if (now() - since >= deadline * 1000) {
          throw stalled(problem.reason, `pod ${podName}: ${problem.message}`, { pod: podName, pendingDeadlineSeconds: deadline });
        }
      }
      if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
        const notReady = pods.find((p) => !p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        // A pod that cannot be placed or started is the cause worth naming, whichever deadline came first.
        if (stuck) throw stalled(stuck.reason, `pod ${stuck.pod}: ${stuck.message} (${progressing.message ?? 'ProgressDeadlineExceeded'})`, { pod: stuck.pod, progressDeadlineSeconds: dep.spec?.progressDeadlineSeconds });
        const why = notReady ? `pod ${notReady.metadata?.name} never became ready (its readiness probe on /v2/health/ready kept failing)` : '';
        throw stalled('ProgressDeadlineExceeded', `${progressing.message ?? 'no progress within progressDeadlineSeconds'} ${why}`.trim(), { progressDeadlineSeconds: dep.spec?.progressDeadlineSeconds });
      }
      const line = `Deployment ${name}: ${updated}/${desired} updated, ${available} available${total > desired ? `, ${total - updated} old replica(s) still serving` : ''}${stuck ? ` (pod ${stuck.pod}: ${stuck.reason})` : ''}`;
      if (line !== lastLine) opts.onProgress?.(line);
      lastLine = line;
      await sleep(this.opts.pollMs ?? 1000, opts.signal);
    }
  }

  /**
   * The sampled requests of every pod of the service, read from the pods' logs through the
   * API (the server writes them to standard output, each line prefixed SAMPLE_LINE_PREFIX),
   * streamed into `dest/requests-<pod>.jsonl` without the prefix, never held whole. A pod
   * that has not started has no log yet and gives no file. What the cluster keeps of a log
   * (the kubelet rotates them) bounds how far back this reaches.
   */
  async sampleLogs(service: string, dest: string): Promise<string[]> {
    const pods = await this.call({ verb: 'list', resource: 'pods', apiGroup: '' }, () => this.kube.listPods(serviceSelector(service)));
    const files: string[] = [];
    for (const p of pods) {
      const name = p.metadata!.name!;
      // Pod names are DNS-1123 subdomains: checked anyway, as they become file names.
      if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) continue;
      const file = path.join(dest, `requests-${name}.jsonl`);
      const out = createWriteStream(file);
      let partial = '';
      const keep = (line: string): void => {
        if (line.startsWith(SAMPLE_LINE_PREFIX)) out.write(`${line.slice(SAMPLE_LINE_PREFIX.length)}\n`);
      };
      const read = this.call({ verb: 'get', resource: 'pods/log', apiGroup: '' }, () =>
        this.kube.streamPodLog(name, SERVER_CONTAINER, (text) => {
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) keep(l);
        }, { follow: false }),
      );
      const started = await read.then(
        () => true,
        (e) => {
          if (isGitmlError(e, 'KUBERNETES') && (e.data.status === 400 || e.data.status === 404)) return false; // not started yet, or gone
          throw e;
        },
      ).finally(() => new Promise<void>((resolve, reject) => {
        if (partial) keep(partial); // a last line without its newline (a log cut mid-line is skipped as torn by the reader)
        out.end((e?: Error | null) => (e ? reject(e) : resolve()));
      }));
      if (started) files.push(file);
    }
    return files.sort();
  }

  /**
   * Log lines of every pod of the service, each prefixed with its pod's name. With `follow`,
   * new pods (a rollout) are picked up as they appear and a dropped stream is resumed; ends
   * when the signal aborts.
   */
  async logs(service: string, opts: { follow: boolean; signal?: AbortSignal; write: (line: string) => void; rescanMs?: number }): Promise<void> {
    const sel = serviceSelector(service);
    const prefix = (pod: string, text: string): void => {
      for (const line of text.split('\n')) if (line) opts.write(`[${pod}] ${line}`);
    };
    const pods = await this.call({ verb: 'list', resource: 'pods', apiGroup: '' }, () => this.kube.listPods(sel));
    if (!opts.follow) {
      for (const p of pods) {
        const name = p.metadata!.name!;
        const text = await this.call({ verb: 'get', resource: 'pods/log', apiGroup: '' }, () => this.kube.readPodLog(name, SERVER_CONTAINER)).catch((e) => {
          // A pod still pulling its image has no log yet.
          if (isGitmlError(e, 'KUBERNETES') && e.data.status === 400) return '';
          throw e;
        });
        prefix(name, text);
      }
      return;
    }
    const following = new Map<string, Promise<void>>();
    let failure: unknown;
    const start = (name: string): void => {
      following.set(
        name,
        followLog(this.kube, name, SERVER_CONTAINER, { signal: opts.signal, onText: (t) => prefix(name, t) }).catch((e) => {
          if (isGitmlError(e, 'KUBERNETES') && (e.data.status === 400 || e.data.status === 404)) {
            following.delete(name); // not started yet, or gone: the next scan retries
            return;
          }
          failure ??= withRule(e, { verb: 'get', resource: 'pods/log', apiGroup: '', namespace: this.kube.namespace }, this.kube.namespace);
        }),
      );
    };
    for (const p of pods) start(p.metadata!.name!);
    while (!opts.signal?.aborted && !failure) {
      await sleep(opts.rescanMs ?? 2000, opts.signal);
      if (opts.signal?.aborted) break;
      const now = await this.call({ verb: 'list', resource: 'pods', apiGroup: '' }, () => this.kube.listPods(sel));
      for (const p of now) if (!following.has(p.metadata!.name!)) start(p.metadata!.name!);
    }
    await Promise.all(following.values());
    if (failure) throw failure;
  }
}
