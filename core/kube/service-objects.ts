/**
 * Pure renderers: a KubeServiceSpec (service-spec.ts) -> the Kubernetes objects of one model
 * service, each checked against the Kubernetes OpenAPI schemas (and the HTTPRoute against the
 * Gateway API CRD schema) before it is returned. No I/O: `gitml deploy --render` prints exactly
 * these, and services.ts applies exactly these.
 *
 * Objects (in apply order):
 *   - Service `<service>`: ClusterIP on `port`, selecting every pod of the service (both tracks),
 *     so without a gateway the canary gets requests in proportion to its replicas;
 *   - with a gateway, Services `<service>-stable` and `<service>-canary` (one per track) and an
 *     HTTPRoute `<service>` whose backendRefs carry the canary's weight exactly;
 *   - Deployment `<service>` (stable track) and, when a canary is set, `<service>-canary`.
 *
 * @example
 *   const objs = renderServiceObjects(spec);
 *   process.stdout.write(objectsYaml(objs));   // --render
 */
import { stringify } from 'yaml';
import type { V1Container, V1Deployment, V1PodSpec, V1Service } from '@kubernetes/client-node';
import { GitmlError } from '../errors.js';
import { isDnsLabel, kubeObjectProblems } from './validate.js';
import { MANAGED_BY, SERVICE_LABEL, TRACK_LABEL, appLabels, imageByDigest, labelValue, restrictedContainerSecurity, restrictedPodSecurity, scratchVolumes } from './labels.js';
import { DEFAULT_PENDING_DEADLINE, DEFAULT_PROGRESS_DEADLINE, SERVER_PORT, type KubeServiceSpec, type KubeServiceVersion, type KubeTrack } from './service-spec.js';

export { SERVICE_LABEL, TRACK_LABEL } from './labels.js';

export const SERVER_CONTAINER = 'server';
export const COMPONENT = 'model-server';
/** Annotations on the rendered objects. */
export const COMMIT_ANNOTATION = 'dev.gitml/commit';
export const TAG_ANNOTATION = 'dev.gitml/tag';
export const PENDING_DEADLINE_ANNOTATION = 'dev.gitml/pending-deadline-seconds';
/** On the pod template: what the pods run, as gitml asked for it (the container's image is the by-digest form). */
export const VERSION_ANNOTATION = 'dev.gitml/version';
export const IMAGE_ANNOTATION = 'dev.gitml/image';
export const DIGEST_ANNOTATION = 'dev.gitml/digest';
/** On the pod template: the replica settings besides version and image (services/plan.ts replicaSpec). */
export const REPLICA_SPEC_ANNOTATION = 'dev.gitml/replica-spec';
/** The sample log of a pod: its standard output, where each sampled line carries the server's prefix. */
export const SAMPLE_LOG_STDOUT = '-';
/** What starts a sampled request's line in a pod's log (templates/server/gitml_server.py SAMPLE_LINE_PREFIX). */
export const SAMPLE_LINE_PREFIX = 'gitml-sample ';

/** An object gitml renders for a service (Deployment, Service or HTTPRoute). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
}

/** An HTTPRoute (gateway.networking.k8s.io/v1), as far as gitml writes it. */
export interface HTTPRouteObject extends KubeObject {
  apiVersion: 'gateway.networking.k8s.io/v1';
  kind: 'HTTPRoute';
  spec: {
    parentRefs: { name: string; namespace?: string; sectionName?: string }[];
    hostnames?: string[];
    rules: { matches: { path: { type: 'PathPrefix'; value: string } }[]; backendRefs: { name: string; port: number; weight: number }[] }[];
  };
}

/** Names of the objects of one service. */
export function serviceObjectNames(service: string): { service: string; deployment: Record<KubeTrack, string>; trackService: Record<KubeTrack, string>; route: string } {
  return {
    service,
    deployment: { stable: service, canary: `${service}-canary` },
    trackService: { stable: `${service}-stable`, canary: `${service}-canary` },
    route: service,
  };
}

/** Label selector (string form) of everything gitml deployed for a service: for reading actual state and pruning. */
export function serviceSelector(service: string): string {
  return `${Object.keys(MANAGED_BY)[0]}=gitml,${SERVICE_LABEL}=${labelValue(service)}`;
}

/** Selector labels of the pods of a service (one track, or both). Deployment selectors are immutable: never include the version. */
export function podSelector(service: string, track?: KubeTrack): Record<string, string> {
  return { [SERVICE_LABEL]: labelValue(service), ...(track ? { [TRACK_LABEL]: track } : {}) };
}

function fail(message: string): never {
  throw new GitmlError('KUBERNETES', message);
}

function checkSpec(spec: KubeServiceSpec): void {
  if (!isDnsLabel(spec.service) || spec.service.length > 56) fail(`service name ${JSON.stringify(spec.service)} must be a DNS-1123 label of at most 56 characters (lowercase letters, digits and '-'; gitml adds -canary/-stable)`);
  if (!isDnsLabel(spec.namespace)) fail(`namespace ${JSON.stringify(spec.namespace)} is not a DNS-1123 label`);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) fail(`port ${spec.port} must be an integer from 1 to 65535`);
  for (const [track, v] of [['stable', spec.stable], ['canary', spec.canary]] as const) {
    if (!v) continue;
    if (!Number.isInteger(v.replicas) || v.replicas < 0) fail(`${track} replicas ${v.replicas} must be a whole number >= 0`);
    if (!v.image) fail(`${track} image is missing`);
    if (v.digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(v.digest)) fail(`${track} digest ${JSON.stringify(v.digest)} is not sha256:<64 hex>`);
  }
  if (spec.canary && (!Number.isInteger(spec.canary.weight) || spec.canary.weight < 0 || spec.canary.weight > 100)) fail(`canary weight ${spec.canary.weight} must be a whole percent from 0 to 100`);
}

function checked<T>(obj: T, what: string): T {
  const causes = kubeObjectProblems(obj);
  if (causes.length > 0) {
    throw new GitmlError('KUBERNETES', `the ${what} gitml generated is not a valid Kubernetes object: ${causes.map((c) => `${c.field || '(object)'}: ${c.message}`).join('; ')}`, { causes });
  }
  return obj;
}

function objectLabels(spec: KubeServiceSpec, version: string, track?: KubeTrack): Record<string, string> {
  return {
    ...(spec.labels ?? {}),
    ...appLabels({ name: spec.model, instance: spec.service, version, component: COMPONENT, partOf: spec.service }),
    [SERVICE_LABEL]: labelValue(spec.service),
    ...(track ? { [TRACK_LABEL]: track } : {}),
  };
}

function annotations(spec: KubeServiceSpec): Record<string, string> | undefined {
  const a: Record<string, string> = {};
  if (spec.revision?.commit) a[COMMIT_ANNOTATION] = spec.revision.commit;
  if (spec.revision?.tag) a[TAG_ANNOTATION] = spec.revision.tag;
  return Object.keys(a).length ? a : undefined;
}

function resources(spec: KubeServiceSpec): V1Container['resources'] {
  const r = spec.resources ?? {};
  const q: Record<string, string> = {};
  if (r.cpu !== undefined) q.cpu = String(r.cpu);
  if (r.memory !== undefined) q.memory = r.memory;
  if (r.gpu) q['nvidia.com/gpu'] = String(r.gpu);
  // Requests equal limits (Guaranteed QoS when cpu and memory are given); scratch space is requested
  // so the scheduler places the pod where its emptyDirs fit.
  return { requests: { ...q, 'ephemeral-storage': r.ephemeralStorage ?? scratchVolumes().request }, limits: { ...q, ...(r.ephemeralStorage ? { 'ephemeral-storage': r.ephemeralStorage } : {}) } };
}

function podSpec(spec: KubeServiceSpec, v: KubeServiceVersion): V1PodSpec {
  const p = spec.placement ?? {};
  const scratch = scratchVolumes();
  const probe = (path: string, period: number, failures: number) => ({ httpGet: { path, port: 'http' }, periodSeconds: period, timeoutSeconds: 2, failureThreshold: failures });
  return {
    ...(p.serviceAccount ? { serviceAccountName: p.serviceAccount } : {}),
    automountServiceAccountToken: p.serviceAccount ? true : false,
    enableServiceLinks: false,
    ...(p.nodeSelector ? { nodeSelector: { ...p.nodeSelector } } : {}),
    ...(p.tolerations?.length ? { tolerations: p.tolerations.map((t) => ({ ...t })) } : {}),
    ...(p.affinity ? { affinity: p.affinity } : {}),
    ...(p.imagePullSecrets?.length ? { imagePullSecrets: p.imagePullSecrets.map((name) => ({ name })) } : {}),
    ...(p.priorityClassName ? { priorityClassName: p.priorityClassName } : {}),
    securityContext: restrictedPodSecurity(),
    volumes: scratch.volumes,
    containers: [
      {
        name: SERVER_CONTAINER,
        image: imageByDigest(v.image, v.digest),
        imagePullPolicy: 'IfNotPresent',
        ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
        env: [...scratch.env, ...(spec.sampleRate ? [{ name: 'GITML_SAMPLE_LOG', value: SAMPLE_LOG_STDOUT }, { name: 'GITML_SAMPLE_RATE', value: String(spec.sampleRate) }] : [])],
        resources: resources(spec),
        // Startup allows ten minutes for the model to load; liveness then only restarts a hung server.
        startupProbe: probe('/v2/health/live', 5, 120),
        livenessProbe: probe('/v2/health/live', 10, 3),
        readinessProbe: probe('/v2/health/ready', 5, 2),
        volumeMounts: scratch.mounts,
        securityContext: restrictedContainerSecurity(),
      },
    ],
  } as V1PodSpec;
}

function deployment(spec: KubeServiceSpec, track: KubeTrack, v: KubeServiceVersion): V1Deployment {
  const names = serviceObjectNames(spec.service);
  const labels = objectLabels(spec, v.version, track);
  const ann = annotations(spec);
  return checked<V1Deployment>(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: names.deployment[track],
        namespace: spec.namespace,
        labels,
        annotations: { ...(ann ?? {}), [PENDING_DEADLINE_ANNOTATION]: String(spec.pendingDeadlineSeconds ?? DEFAULT_PENDING_DEADLINE) },
      },
      spec: {
        replicas: v.replicas,
        revisionHistoryLimit: 5,
        progressDeadlineSeconds: spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE,
        selector: { matchLabels: podSelector(spec.service, track) },
        // Start first: a new pod must be ready before an old one goes, so capacity never drops.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        // The template holds only what the pods run: a new commit or tag alone must not restart them.
        template: { metadata: { labels, annotations: { [VERSION_ANNOTATION]: v.version, [IMAGE_ANNOTATION]: v.image, ...(v.digest ? { [DIGEST_ANNOTATION]: v.digest } : {}), ...(spec.replicaSpec ? { [REPLICA_SPEC_ANNOTATION]: spec.replicaSpec } : {}) } }, spec: podSpec(spec, v) },
      },
    },
    `Deployment ${names.deployment[track]}`,
  );
}

function service(spec: KubeServiceSpec, name: string, track?: KubeTrack): V1Service {
  return checked<V1Service>(
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: spec.namespace, labels: objectLabels(spec, (track === 'canary' && spec.canary ? spec.canary : spec.stable).version, track), ...(annotations(spec) ? { annotations: annotations(spec) } : {}) },
      spec: {
        type: 'ClusterIP',
        selector: podSelector(spec.service, track),
        ports: [{ name: 'http', port: spec.port, targetPort: 'http', protocol: 'TCP' }],
      },
    },
    `Service ${name}`,
  );
}

function httpRoute(spec: KubeServiceSpec): HTTPRouteObject {
  const g = spec.gateway!;
  const names = serviceObjectNames(spec.service);
  const w = spec.canary ? spec.canary.weight : 0;
  const backendRefs = [{ name: names.trackService.stable, port: spec.port, weight: 100 - w }];
  if (spec.canary) backendRefs.push({ name: names.trackService.canary, port: spec.port, weight: w });
  const route: HTTPRouteObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: names.route, namespace: spec.namespace, labels: objectLabels(spec, spec.stable.version), ...(annotations(spec) ? { annotations: annotations(spec) } : {}) },
    spec: {
      parentRefs: [{ name: g.name, ...(g.namespace ? { namespace: g.namespace } : {}), ...(g.sectionName ? { sectionName: g.sectionName } : {}) }],
      ...(g.hostnames?.length ? { hostnames: [...g.hostnames] } : {}),
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: g.pathPrefix ?? '/' } }], backendRefs }],
    },
  };
  return checked(route, `HTTPRoute ${names.route}`);
}

/**
 * The objects of one service, in apply order (Services, HTTPRoute, Deployments). Pure and
 * validated; throws GitmlError('KUBERNETES') when the spec cannot make valid objects.
 */
export function renderServiceObjects(spec: KubeServiceSpec): KubeObject[] {
  checkSpec(spec);
  const names = serviceObjectNames(spec.service);
  const out: KubeObject[] = [service(spec, names.service) as KubeObject];
  if (spec.gateway) {
    out.push(service(spec, names.trackService.stable, 'stable') as KubeObject);
    if (spec.canary) out.push(service(spec, names.trackService.canary, 'canary') as KubeObject);
    out.push(httpRoute(spec));
  }
  out.push(deployment(spec, 'stable', spec.stable) as KubeObject);
  if (spec.canary) out.push(deployment(spec, 'canary', spec.canary) as KubeObject);
  return out;
}

/** Multi-document YAML of rendered objects (what `--render` and `--dry-run` print). */
export function objectsYaml(objects: readonly unknown[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('');
}
