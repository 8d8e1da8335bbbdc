/**
 * Desired and actual state of a service, as the reconciler sees them. Both are plain data so
 * that `plan(desired, actual)` stays pure and every driver (Docker now, Kubernetes at merge)
 * speaks the same language.
 */

/** One version a service serves, with its share of traffic. */
export interface DesiredVersion {
  /** model version, e.g. v1.2.0 (resolved from the stage tags when the YAML names a stage). */
  version: string;
  /** the git tag that chose this version (e.g. `iris#production#3`), for the audit trail. */
  tag?: string;
  /** image reference the replicas run (built from core/package/image.ts when missing). */
  image: string;
  /** the pushed image's manifest digest (`sha256:…`), when known: Kubernetes pods then run `repo@digest`, never a moving tag. */
  digest?: string;
  /** the model manifest's digest the image was built from. */
  manifestDigest?: string;
  /** replicas of this version. */
  replicas: number;
  /** percent of requests (0..100); the primary gets 100 - canary weight. */
  weight: number;
  /** 'primary' or 'canary'. */
  role: 'primary' | 'canary';
}

/** What git (the Service YAML at a commit, plus the registry's tags) says should run. */
export interface DesiredService {
  name: string;
  model: string;
  /** the ComputeTarget name and type (only docker and kubernetes are valid for services). */
  compute: { name: string; type: 'docker' | 'kubernetes' };
  /** the commit whose YAML and tags were read. */
  revision: string;
  /** host port (docker) or Service port (kubernetes). */
  port: number;
  /** per replica, as the Service YAML says them (cores or `500m`; `512Mi`). */
  resources: { cpu?: number | string; memory?: string };
  /** the Service YAML file it comes from (for messages). */
  file?: string;
  /** share of scoring requests each replica writes to its sample log (`monitoring.sampleRate`; 0 or absent: none). */
  sampleRate?: number;
  /** one primary, and at most one canary. */
  versions: DesiredVersion[];
}

/** One running replica, found by gitml's labels. */
export interface ActualReplica {
  /** engine id (container id / pod name). */
  id: string;
  version: string;
  image: string;
  role: 'primary' | 'canary';
  /** the image digest the replica runs, when the driver knows it. */
  digest?: string;
  /** running and answering /v2/health/ready. */
  ready: boolean;
  /** the replica settings it was started with (`replicaSpec`), when the driver records them. */
  spec?: string;
}

/** What the target runs now for one service (null from `actual()` when nothing runs). */
export interface ActualService {
  name: string;
  replicas: ActualReplica[];
  /** the traffic split the front (proxy / Service) applies now: version -> weight. */
  weights: Record<string, number>;
  /** the port the front publishes, when it exists. */
  port?: number;
  /** the revision recorded on the objects by the last apply. */
  revision?: string;
}

/** The steps a plan is made of, in the order they must run. */
export type Step =
  | { kind: 'ensure-front'; service: string; port: number }
  | { kind: 'start-replicas'; service: string; version: string; image: string; role: 'primary' | 'canary'; count: number }
  | { kind: 'wait-ready'; service: string; version: string; count: number }
  | { kind: 'switch-traffic'; service: string; weights: Record<string, number> }
  | { kind: 'remove-replicas'; service: string; ids: string[]; reason: string }
  | { kind: 'delete-service'; service: string };

export type StepKind = Step['kind'];
