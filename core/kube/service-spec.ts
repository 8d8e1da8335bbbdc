/**
 * What one model service should look like on a Kubernetes cluster: the input of the pure
 * renderers in service-objects.ts and of the client calls in services.ts. A reconciler builds it
 * from the Service YAML, the registry (stage -> version) and the image push results, then:
 *
 * @example
 *   const spec: KubeServiceSpec = {
 *     service: 'churn', namespace: 'ml', model: 'churn-model',
 *     stable: { version: 'v1.2.0', image: 'registry.example/gitml/churn-model:v1.2.0', digest: 'sha256:…', replicas: 2 },
 *     canary: { version: 'v1.3.0', image: 'registry.example/gitml/churn-model:v1.3.0', digest: 'sha256:…', replicas: 1, weight: 10 },
 *     port: 8080,
 *     resources: { cpu: '500m', memory: '1Gi' },
 *     placement: { nodeSelector: { pool: 'cpu' } },
 *     gateway: { name: 'public', namespace: 'gateways' },   // only when the compute names one
 *     revision: { commit: 'abc123…', tag: 'churn-model#prod#3' },
 *   };
 *   const objects = renderServiceObjects(spec);          // pure, validated, for --render / --dry-run
 *   const kube = new KubeServices(client);               // services.ts
 *   await kube.apply(objects);                           // server-side apply, fieldManager gitml
 *   await kube.waitRollout(spec, { onProgress });        // until available, or Stalled with the reason
 *   const actual = await kube.actual(spec.namespace, spec.service);   // what runs, found by labels
 *   await kube.prune(spec.namespace, spec.service, objects);           // what gitml deployed and no longer renders
 */
import type { V1Affinity, V1Toleration } from '@kubernetes/client-node';

/** The two tracks of a service: `stable` serves the stage's version, `canary` the candidate. */
export type KubeTrack = 'stable' | 'canary';

/** One version of the model as deployed. */
export interface KubeServiceVersion {
  /** The model version (registry tag version, e.g. `v1.2.0`): becomes `app.kubernetes.io/version`. */
  version: string;
  /** Image reference as pushed (`registry/repo:tag`). */
  image: string;
  /** The pushed image's manifest digest (`sha256:<64 hex>`): the pod then runs `repo@digest`, never a moving tag. */
  digest?: string;
  /** Pod count of this track (0 allowed for a canary being drained). */
  replicas: number;
}

/** The canary track: a second Deployment behind the same Service. */
export interface KubeCanaryVersion extends KubeServiceVersion {
  /**
   * Percent (0..100) of requests meant for the canary. Without a gateway the split is by
   * replica ratio (canary.replicas / all replicas), so pick replicas to match; with a gateway the
   * HTTPRoute carries this weight exactly.
   */
  weight: number;
}

/** Where the pods may run (the kubernetes compute's placement fields). */
export interface KubePlacement {
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  affinity?: V1Affinity;
  imagePullSecrets?: string[];
  priorityClassName?: string;
  serviceAccount?: string;
}

/** A Gateway API Gateway the service's HTTPRoute attaches to (the compute's `gateway`). */
export interface KubeGatewayRef {
  name: string;
  /** Defaults to the service's namespace. */
  namespace?: string;
  /** A listener of the Gateway. */
  sectionName?: string;
  hostnames?: string[];
  /** Path prefix routed to the service; default `/`. */
  pathPrefix?: string;
}

export interface KubeServiceSpec {
  /** The Service entity's name: a DNS-1123 label of at most 56 characters (the canary Deployment adds `-canary`). */
  service: string;
  namespace: string;
  /** The model's name (the `app.kubernetes.io/name` label). */
  model: string;
  stable: KubeServiceVersion;
  canary?: KubeCanaryVersion;
  /** Port the Service exposes (and the HTTPRoute targets). The container always listens on 8080 (the model image's GITML_PORT). */
  port: number;
  /** CPU (cores or a quantity such as `500m`), memory (`1Gi`), GPUs: requests equal limits. */
  resources?: { cpu?: number | string; memory?: string; gpu?: number; ephemeralStorage?: string };
  /** Extra labels on every object and pod (the user's; gitml's own win on conflict). */
  labels?: Record<string, string>;
  placement?: KubePlacement;
  gateway?: KubeGatewayRef;
  /** Seconds without progress before a rollout is Stalled (the Deployment's progressDeadlineSeconds). Default 600. */
  progressDeadlineSeconds?: number;
  /** Seconds a pod may stay unschedulable before the rollout is stopped with the scheduler's reason. Default 300. */
  pendingDeadlineSeconds?: number;
  /** What this deploy comes from, recorded as annotations on the objects. */
  revision?: { commit?: string; tag?: string };
  /**
   * Share of scoring requests each pod samples (`monitoring.sampleRate`): written to the
   * container's standard output, read back through the pods' logs by `gitml monitor`.
   */
  sampleRate?: number;
  /** The replica settings (services/plan.ts replicaSpec), on the pod template: changed settings replace the pods. */
  replicaSpec?: string;
}

/** Port the scoring server listens on inside the model image (core/package/image.ts IMAGE_PORT). */
export const SERVER_PORT = 8080;
export const DEFAULT_PROGRESS_DEADLINE = 600;
export const DEFAULT_PENDING_DEADLINE = 300;
