/**
 * Pure builders for the Kubernetes objects of one run: the batch/v1 Job and, when the run has
 * secret variables, a Secret the Job references (values never appear in the Job itself).
 * Every object is checked against the Kubernetes OpenAPI schemas before it is returned.
 *
 * How outputs come back: the container's command is templates/kube/entry.sh passed inline to
 * `sh -c`, followed by the user's argv as separate arguments (no shell string is ever built
 * from user input). The entry runs the program, then prints the outputs folder (tar, gzipped)
 * and the metrics file base64-encoded between marker lines on stdout; gitml reads them from the
 * pod log through the API (see outputs.ts), so no artifact store, volume or sidecar is needed.
 * The block is capped (DEFAULT_MAX_OUTPUT_BYTES); beyond it the run fails with a message asking
 * for an artifact store.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1Affinity, V1Job, V1Secret, V1EnvVar, V1ResourceRequirements } from '@kubernetes/client-node';
import type { KubernetesCompute } from '../entities/types.js';
import type { TargetJob, TargetLayout } from '../targets/types.js';
import { GitmlError } from '../errors.js';
import { safeRelPosix, templatesDir } from '../paths.js';
import { kubeObjectProblems } from './validate.js';
import { MANAGED_BY, appLabels, imageByDigest, labelValue, restrictedContainerSecurity, restrictedPodSecurity, scratchVolumes } from './labels.js';

export { MANAGED_BY } from './labels.js';
export const RUN_ID_LABEL = 'dev.gitml/run-id';
export const EXPERIMENT_LABEL = 'dev.gitml/experiment';
export const CONTAINER_NAME = 'run';

/** Paths inside the run pod. /gitml/run is an emptyDir, so it is writable by uid 1000 whatever the image's ownership. */
export const KUBE_LAYOUT: TargetLayout = {
  root: '/gitml/code',
  outputs: '/gitml/run/outputs',
  metrics: '/gitml/run/metrics.jsonl',
};
const SCRATCH = '/gitml/run';

/** Largest outputs (or metrics) archive returned through the pod log, in bytes before base64. */
export const DEFAULT_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/** A kept failed Job stays a week; a run's Job with keep: never is removed by gitml, and this is the safety net if gitml dies. */
const TTL_ON_FAILURE = 7 * 24 * 3600;
const TTL_NEVER = 3600;

let entryScript: string | undefined;
/** The inline entry script (templates/kube/entry.sh). */
export function kubeEntryScript(): string {
  return (entryScript ??= readFileSync(path.join(templatesDir(), 'kube', 'entry.sh'), 'utf8'));
}

/** A DNS-1123 label-safe form of `s` (lowercase, [a-z0-9-], at most `max` characters, with a hash when shortened). */
export function dnsSafe(s: string, max = 63): string {
  const lower = s.toLowerCase();
  let v = lower.replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (v === lower && v.length <= max && v !== '') return v;
  // Characters were replaced or the name was cut: a hash keeps distinct ids distinct.
  const h = createHash('sha256').update(s).digest('hex').slice(0, 8);
  v = v.slice(0, max - 9).replace(/-+$/, '');
  return v ? `${v}-${h}` : h;
}

export function runJobName(runId: string): string {
  return dnsSafe(`gitml-run-${runId}`, 63);
}

export function runSecretName(runId: string): string {
  return `${runJobName(runId)}-env`;
}

/** Marker nonce of a run's output block: derived from the run id so the builder stays pure. */
export function outputNonce(runId: string): string {
  return createHash('sha256').update(`gitml-kube-outputs\0${runId}`).digest('hex').slice(0, 16);
}

/**
 * The labels of a run's objects: the recommended app.kubernetes.io set (name: the experiment,
 * instance: the run, version: the environment's content digest, component: run, part-of: gitml,
 * managed-by: gitml) plus gitml's own.
 */
export function runLabels(job: Pick<TargetJob, 'runId' | 'experiment'> & Partial<Pick<TargetJob, 'environmentDigest'>>): Record<string, string> {
  const env = job.environmentDigest?.replace(/^sha256:/, '').slice(0, 12);
  return {
    ...appLabels({ name: job.experiment, instance: job.runId, ...(env ? { version: env } : {}), component: 'run', partOf: 'gitml' }),
    ...MANAGED_BY,
    [RUN_ID_LABEL]: labelValue(job.runId),
    [EXPERIMENT_LABEL]: labelValue(job.experiment),
  };
}

/** Label selector matching the pods of one run. */
export function runSelector(runId: string): string {
  return `${RUN_ID_LABEL}=${labelValue(runId)}`;
}

/** Scratch space the run's outputs folder may use (it comes back through the log, capped far lower). */
export const RUN_SCRATCH_SIZE = '2Gi';

function resources(compute: KubernetesCompute): V1ResourceRequirements {
  const r = compute.resources ?? {};
  const q: Record<string, string> = {};
  if (r.cpu !== undefined) q.cpu = String(r.cpu);
  if (r.memory !== undefined) q.memory = r.memory;
  if (r.gpu) q['nvidia.com/gpu'] = String(r.gpu);
  // Requests equal to limits: the run gets what it asked for and nothing more (Guaranteed QoS).
  // Ephemeral storage is requested for the emptyDirs (/tmp, HOME, the run folder) so the
  // scheduler places the pod on a node where they fit.
  return { requests: { ...q, 'ephemeral-storage': '3328Mi' }, ...(Object.keys(q).length ? { limits: { ...q } } : {}) };
}

function ttlFor(keep: KubernetesCompute['keep']): number | undefined {
  switch (keep ?? 'on-failure') {
    case 'always':
      return undefined;
    case 'never':
      return TTL_NEVER;
    default:
      return TTL_ON_FAILURE;
  }
}

function checked<T>(obj: T, what: string): T {
  const causes = kubeObjectProblems(obj);
  if (causes.length > 0) {
    throw new GitmlError('KUBERNETES', `the ${what} gitml generated is not a valid Kubernetes object: ${causes.map((c) => `${c.field || '(object)'}: ${c.message}`).join('; ')}`, { causes });
  }
  return obj;
}

export interface BuildRunJobOptions {
  job: Pick<TargetJob, 'runId' | 'experiment' | 'cwd' | 'argv' | 'env' | 'secretEnv'> & Partial<Pick<TargetJob, 'environmentDigest'>>;
  image: string;
  /** The pushed image's digest: the pod then runs `repo@digest`, exactly what was pushed. */
  digest?: string;
  compute: KubernetesCompute;
  /** The experiment's timeout in seconds: the Job's deadline is the smaller of it and the compute's `deadline`. */
  timeoutSeconds?: number;
  maxOutputBytes?: number;
}

/**
 * The batch/v1 Job that runs one experiment run. Pure (apart from reading the packaged entry
 * script once) and validated.
 *
 * @example
 *   const job = buildRunJob({ job, image: 'registry.example/gitml/env:abc', compute });
 *   await kube.createJob(job);
 */
export function buildRunJob(opts: BuildRunJobOptions): V1Job {
  const { job, image, compute } = opts;
  const name = runJobName(job.runId);
  const labels = runLabels(job);
  const cwd = safeRelPosix(job.cwd || '.');
  const scratch = scratchVolumes();
  // HOME and TMPDIR point into the writable emptyDirs of the read-only pod; the run's own variables win.
  const env: V1EnvVar[] = [...scratch.env.filter((e) => !(e.name in job.env)), ...Object.entries(job.env).map(([k, v]) => ({ name: k, value: v }))];
  const secretName = runSecretName(job.runId);
  for (const k of Object.keys(job.secretEnv).sort()) {
    env.push({ name: k, valueFrom: { secretKeyRef: { name: secretName, key: k } } });
  }
  // The experiment's timeout is the run's own limit and the compute's deadline a cap for any run
  // there: the Job gets the tighter one, so the cluster stops the pod even if gitml is gone.
  const limits = [compute.deadline, opts.timeoutSeconds !== undefined ? Math.max(1, Math.ceil(opts.timeoutSeconds)) : undefined].filter((n): n is number => n !== undefined);
  const deadline = limits.length ? Math.min(...limits) : undefined;
  const ttl = ttlFor(compute.keep);
  const res = resources(compute);
  const obj: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: compute.namespace ?? 'default',
      labels,
      annotations: { 'dev.gitml/run-id': job.runId, 'dev.gitml/experiment': job.experiment },
    },
    spec: {
      backoffLimit: compute.backoffLimit ?? 0,
      ...(deadline !== undefined ? { activeDeadlineSeconds: deadline } : {}),
      ...(ttl !== undefined ? { ttlSecondsAfterFinished: ttl } : {}),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(compute.serviceAccount ? { serviceAccountName: compute.serviceAccount } : {}),
          // A run needs no API credentials unless the user chose a service account for it.
          automountServiceAccountToken: compute.serviceAccount ? true : false,
          enableServiceLinks: false,
          ...(compute.nodeSelector ? { nodeSelector: { ...compute.nodeSelector } } : {}),
          ...(compute.tolerations?.length ? { tolerations: compute.tolerations.map((t) => ({ ...t })) } : {}),
          ...(compute.affinity ? { affinity: compute.affinity as V1Affinity } : {}),
          ...(compute.imagePullSecrets?.length ? { imagePullSecrets: compute.imagePullSecrets.map((name) => ({ name })) } : {}),
          ...(compute.priorityClassName ? { priorityClassName: compute.priorityClassName } : {}),
          securityContext: restrictedPodSecurity(),
          volumes: [{ name: 'gitml-run', emptyDir: { sizeLimit: RUN_SCRATCH_SIZE } }, ...scratch.volumes],
          containers: [
            {
              name: CONTAINER_NAME,
              image: imageByDigest(image, opts.digest),
              imagePullPolicy: 'IfNotPresent',
              command: ['/bin/sh', '-c', kubeEntryScript(), 'gitml-entry', outputNonce(job.runId), String(opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES), SCRATCH, '--'],
              args: [...job.argv],
              workingDir: cwd ? path.posix.join(KUBE_LAYOUT.root, cwd) : KUBE_LAYOUT.root,
              env,
              resources: res,
              volumeMounts: [{ name: 'gitml-run', mountPath: SCRATCH }, ...scratch.mounts],
              // A read-only root: the run writes only to its outputs folder, /tmp and HOME (size-limited emptyDirs).
              securityContext: restrictedContainerSecurity(),
            },
          ],
        },
      },
    },
  };
  return checked(obj, 'Job');
}

/**
 * The Secret holding a run's secret variables, or undefined when it has none. `owner` (the
 * created Job) makes the cluster delete it with the Job should gitml not get to.
 */
export function buildRunSecret(opts: { job: Pick<TargetJob, 'runId' | 'experiment' | 'secretEnv'>; compute: KubernetesCompute }): V1Secret | undefined {
  const keys = Object.keys(opts.job.secretEnv);
  if (keys.length === 0) return undefined;
  const data: Record<string, string> = {};
  for (const k of keys.sort()) data[k] = Buffer.from(opts.job.secretEnv[k], 'utf8').toString('base64');
  const obj: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: runSecretName(opts.job.runId), namespace: opts.compute.namespace ?? 'default', labels: runLabels(opts.job) },
    type: 'Opaque',
    immutable: true,
    data,
  };
  return checked(obj, 'Secret');
}
