/**
 * The `kubernetes` compute target: one batch/v1 Job per run, from a kubeconfig context.
 *
 * 0. One cheap request (kube.preflight) so that an API server that cannot be used fails
 *    the run at once, before any image is built.
 * 1. An image with the environment and the run's code (an injected `prepareImage`; by default
 *    built with the Docker engine and pushed to the compute's `registry`).
 * 2. A Secret with the run's secret variables (referenced by name from the Job, never inline),
 *    then the Job (core/kube/job.ts), then the Secret is made owned by the Job so the cluster
 *    removes it with the Job even if gitml dies.
 * 3. Wait for the pod, follow its log (shown live, minus the outputs block), watch the Job
 *    until Complete or Failed (DeadlineExceeded → timed_out).
 * 4. Outputs and metrics come back through the log (see core/kube/outputs.ts).
 * 5. The Secret is deleted; the Job is kept or deleted per the compute's `keep`.
 * Ctrl-C or the experiment timeout (job.signal) deletes the Job, which stops the pod.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ComputeTarget, KubernetesCompute, Loaded } from '../entities/types.js';
import { GitmlError, isGitmlError } from '../errors.js';
import type { KubeApi } from '../kube/client.js';
import { buildRunJob, buildRunSecret, CONTAINER_NAME, DEFAULT_MAX_OUTPUT_BYTES, KUBE_LAYOUT, outputNonce, runSelector } from '../kube/job.js';
import { followLog } from '../kube/log-follow.js';
import { extractOutputs, LogDemux } from '../kube/outputs.js';
import { runScratch } from '../run/scratch.js';
import type { Target, TargetJob, TargetLayout, TargetResult, TargetStatus } from './types.js';
import { sleep } from '../sleep.js';

export interface PreparedImage {
  image: string;
  digest?: string;
}

export interface KubernetesTargetOptions {
  compute: Loaded<ComputeTarget>;
  repoDir: string;
  /** Host folder under which outputs are extracted (tests). */
  scratchBase?: string;
  /** Image for a job; default: build with the Docker engine and push to the compute's registry. */
  prepareImage?: (job: TargetJob) => Promise<PreparedImage>;
  /** API client factory; default: kubeClient() from the compute's kubeconfig. */
  kube?: (compute: KubernetesCompute, repoDir: string) => Promise<KubeApi>;
  /** How often to look at the pod while waiting for it to start (ms). */
  pollMs?: number;
  /** How long an image pull or container config error may last before the run fails (ms). */
  startupGraceMs?: number;
  /** How long the pod may stay unschedulable before the run fails (ms); default the compute's `pendingDeadline` (300 s). */
  pendingDeadlineMs?: number;
  maxOutputBytes?: number;
  killGraceMs?: number;
}

/** Waiting reasons that do not fix themselves quickly (after startupGraceMs, the run fails). */
const STUCK = new Set(['ErrImagePull', 'ImagePullBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);
const HOPELESS = new Set(['InvalidImageName', 'ErrImageNeverPull']);

type JobOutcome = { kind: 'complete' } | { kind: 'failed'; reason?: string; message?: string } | { kind: 'deleted' };

function outcomeOf(job: V1Job): JobOutcome | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return { kind: 'complete' };
    if (c.type === 'Failed') return { kind: 'failed', reason: c.reason, message: c.message };
  }
  return undefined;
}


function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

/** Follows a Job by watch until it ends, re-watching (from the last resourceVersion) when the server closes the watch. */
async function followJob(kube: KubeApi, name: string, stop: AbortSignal, rewatchMs = 60_000): Promise<JobOutcome | undefined> {
  let rv: string | undefined;
  let failures = 0;
  while (!stop.aborted) {
    let outcome: JobOutcome | undefined;
    try {
      const current = await kube.readJob(name);
      outcome = outcomeOf(current);
      if (outcome) return outcome;
      rv = current.metadata?.resourceVersion ?? rv;
      let w: { stop(): void; done: Promise<GitmlError | null> } | undefined;
      w = await kube.watchJob(
        name,
        (type, job) => {
          if (job?.metadata?.resourceVersion) rv = job.metadata.resourceVersion;
          if (type === 'DELETED') outcome = { kind: 'deleted' };
          else if (type === 'ADDED' || type === 'MODIFIED') outcome = outcomeOf(job);
          if (outcome) w?.stop();
        },
        { resourceVersion: rv },
      );
      if (outcome) w.stop();
      const onStop = (): void => w?.stop();
      stop.addEventListener('abort', onStop, { once: true });
      // A watch whose connection died silently sends nothing: start over from a fresh read now and then.
      const refresh = setTimeout(onStop, rewatchMs);
      const err = await w.done;
      clearTimeout(refresh);
      stop.removeEventListener('abort', onStop);
      if (outcome) return outcome;
      if (err) throw err;
      failures = 0;
    } catch (e) {
      if (isGitmlError(e, 'KUBERNETES') && e.data.status === 404) return { kind: 'deleted' };
      // A dropped watch is retried a few times; a refusal (403...) is not.
      if (!isGitmlError(e) || !e.retryable || ++failures > 5) throw e;
      await sleep(500 * failures, stop);
    }
  }
  return undefined;
}

function containerState(pod: V1Pod) {
  return pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state;
}

export class KubernetesTarget implements Target {
  readonly type = 'kubernetes' as const;
  constructor(private readonly opts: KubernetesTargetOptions) {}

  layout(_runId: string): TargetLayout {
    return { ...KUBE_LAYOUT };
  }

  private spec(): KubernetesCompute {
    const spec = this.opts.compute.spec;
    if (spec.type !== 'kubernetes') throw new GitmlError('TARGET', `compute target ${this.opts.compute.name} is not of type kubernetes`, { compute: this.opts.compute.name });
    return spec;
  }

  async run(job: TargetJob): Promise<TargetResult> {
    const spec = this.spec();
    const scratch = runScratch({ runId: job.runId, baseDir: this.opts.scratchBase });
    const base: Omit<TargetResult, 'status' | 'exitCode'> = { outputsDir: scratch.outputs, host: '' };

    const kube = await (this.opts.kube ?? (async (c, r) => (await import('../kube/client.js')).kubeClient(c, r)))(spec, this.opts.repoDir);
    const compute: KubernetesCompute = { ...spec, namespace: kube.namespace };
    base.host = `${kube.context}/${kube.namespace}`;

    // Ask the API server before building and pushing an image: an unreachable cluster, rejected
    // credentials or a missing Role fail in a second (KUBERNETES_UNAVAILABLE), not after the build.
    job.onProgress?.(`connecting to the Kubernetes API server at ${kube.server} (context ${kube.context})`);
    await kube.preflight();
    if (job.signal.aborted) return { ...base, status: job.signal.reason === 'timeout' ? 'timed_out' : 'canceled', exitCode: null };

    job.onProgress?.('preparing the image');
    let prepared: PreparedImage;
    try {
      prepared = await (this.opts.prepareImage ?? ((j) => defaultPrepareImage(j, compute)))(job);
    } catch (e) {
      if (isGitmlError(e, 'CANCELED') || job.signal.aborted) return { ...base, status: job.signal.reason === 'timeout' ? 'timed_out' : 'canceled', exitCode: null, error: 'stopped while preparing the image' };
      if (isGitmlError(e, 'IMAGE_BUILD')) return { ...base, status: 'failed', exitCode: null, error: e.message };
      throw e;
    }
    base.image = prepared.image;
    if (prepared.digest) base.imageDigest = prepared.digest;
    if (job.signal.aborted) return { ...base, status: job.signal.reason === 'timeout' ? 'timed_out' : 'canceled', exitCode: null };

    const maxOutputBytes = this.opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const jobObj = buildRunJob({ job, image: prepared.image, ...(prepared.digest ? { digest: prepared.digest } : {}), compute, maxOutputBytes, ...(job.timeoutMs !== undefined ? { timeoutSeconds: job.timeoutMs / 1000 } : {}) });
    const secretObj = buildRunSecret({ job, compute });
    const name = jobObj.metadata!.name!;
    const secretName = secretObj?.metadata?.name;

    job.onProgress?.(`creating Job ${name} in ${kube.context}/${kube.namespace}`);
    if (secretObj) await kube.createSecret(secretObj);
    let created: V1Job;
    try {
      created = await kube.createJob(jobObj);
    } catch (e) {
      if (secretName) await kube.deleteSecret(secretName).catch(() => undefined);
      throw e;
    }
    if (secretName && created.metadata?.uid) {
      // Best effort: gitml deletes the Secret itself at the end; ownership covers gitml dying.
      await kube
        .setSecretOwner(secretName, { apiVersion: 'batch/v1', kind: 'Job', name, uid: created.metadata.uid, blockOwnerDeletion: false, controller: false })
        .catch(() => undefined);
    }

    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    job.signal.addEventListener('abort', onAbort, { once: true });
    let podName: string | undefined;
    let status: TargetStatus = 'failed';
    let exitCode: number | null = null;
    let error: string | undefined;
    const demux = new LogDemux(outputNonce(job.runId), (text) => job.onLog(text, 'stdout'));
    let received = 0;
    const jobDone = followJob(kube, name, stop.signal);
    jobDone.catch(() => undefined);
    let outcome: JobOutcome | undefined;
    let jobError: unknown;
    void jobDone.then(
      (o) => (outcome = o),
      (e) => (jobError = e),
    );
    let stuck = false;

    try {
      // Wait for the pod to start (or the Job to end before it does: deadline, deletion).
      job.onProgress?.('waiting for the pod');
      const stuckSince = new Map<string, number>();
      let started = false;
      while (!started && !job.signal.aborted && !outcome) {
        if (jobError) throw jobError;
        const pods = await kube.listPods(runSelector(job.runId));
        const pod = pods.sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))[0];
        if (pod) {
          podName = pod.metadata?.name;
          const phase = pod.status?.phase;
          const st = containerState(pod);
          if (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed' || st?.running || st?.terminated) {
            started = true;
            break;
          }
          const waiting = st?.waiting;
          if (waiting?.reason && (STUCK.has(waiting.reason) || HOPELESS.has(waiting.reason))) {
            const since = stuckSince.get(waiting.reason) ?? Date.now();
            stuckSince.set(waiting.reason, since);
            if (HOPELESS.has(waiting.reason) || Date.now() - since >= (this.opts.startupGraceMs ?? 60_000)) {
              const pull = waiting.reason.includes('Image');
              stuck = true;
              error = `the pod could not start: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}${pull ? `; can the cluster pull ${prepared.image}${spec.registry ? ` from ${spec.registry}` : ''}?` : ''}`;
              break;
            }
            job.onProgress?.(`pod ${podName}: ${waiting.reason}`);
          } else {
            const unsched = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
            if (unsched?.reason === 'Unschedulable') {
              // No node fits (taints without tolerations, a node selector nobody matches, not enough
              // resources): past the pending deadline the run fails with the scheduler's words.
              const since = stuckSince.get('Unschedulable') ?? Date.now();
              stuckSince.set('Unschedulable', since);
              const deadlineMs = this.opts.pendingDeadlineMs ?? (spec.pendingDeadline ?? 300) * 1000;
              if (Date.now() - since >= deadlineMs) {
                stuck = true;
                error = `the pod could not be scheduled within the pending deadline (${Math.round(deadlineMs / 1000)} s): ${unsched.message ?? 'Unschedulable'}; check the compute's nodeSelector, tolerations and resources`;
                break;
              }
            } else stuckSince.delete('Unschedulable');
            job.onProgress?.(`pod ${podName}: ${unsched?.reason ?? waiting?.reason ?? phase ?? 'Pending'}${unsched?.message ? ` (${unsched.message})` : ''}`);
          }
        }
        await sleep(this.opts.pollMs ?? 1000, stop.signal);
      }

      if (started && podName && !job.signal.aborted) {
        job.onProgress?.(`running in pod ${podName}`);
        // Stop following a little after the Job ended, should the stream not close by itself.
        const follow = new AbortController();
        stop.signal.addEventListener('abort', () => follow.abort(), { once: true });
        void jobDone.then(
          () => setTimeout(() => follow.abort(), 5000).unref(),
          () => follow.abort(),
        );
        for (let attempt = 0; ; attempt++) {
          try {
            // A cut stream (proxy, kubelet restart, network) is resumed where it stopped, like any transient failure.
            await followLog(kube, podName, CONTAINER_NAME, {
              signal: follow.signal,
              onText: (text) => {
                received += text.length;
                demux.push(text);
              },
              onRetry: (n, why) => job.onProgress?.(`following the log of pod ${podName} again (${n}): ${why}`),
            });
            break;
          } catch (e) {
            // Right after start the kubelet may not serve the log yet (400 "waiting to start").
            if (received > 0 || attempt >= 10 || follow.signal.aborted || !(isGitmlError(e, 'KUBERNETES') && e.data.status === 400)) throw e;
            await sleep(this.opts.pollMs ?? 1000, follow.signal);
          }
        }
      }

      if (!error && !job.signal.aborted) outcome = await Promise.race([jobDone, aborted(job.signal).then(() => undefined)]);

      if (job.signal.aborted) {
        status = job.signal.reason === 'timeout' ? 'timed_out' : 'canceled';
        error = job.signal.reason === 'timeout' ? 'the run timed out and its Job was deleted' : 'canceled; the Job was deleted';
      } else if (!error && outcome) {
        if (podName) {
          // The follow stream can close early (a proxy, a kubelet restart): take what it missed from the full log.
          const full = await kube.readPodLog(podName, CONTAINER_NAME).catch(() => undefined);
          if (full !== undefined && full.length > received) demux.push(full.slice(received));
          const pod = await kube.readPod(podName).catch(() => undefined);
          const term = pod ? containerState(pod)?.terminated : undefined;
          if (term) exitCode = term.exitCode;
        }
        demux.end();
        if (exitCode === null && demux.exitCode !== undefined) exitCode = demux.exitCode;
        if (outcome.kind === 'complete') {
          status = 'completed';
          exitCode ??= 0;
        } else if (outcome.kind === 'failed' && outcome.reason === 'DeadlineExceeded') {
          status = 'timed_out';
          error = `the Job passed its deadline (activeDeadlineSeconds ${jobObj.spec?.activeDeadlineSeconds})`;
        } else if (outcome.kind === 'failed') {
          status = 'failed';
          error = exitCode !== null ? `the command exited with code ${exitCode}` : `the Job failed: ${outcome.reason ?? ''}${outcome.message ? ` ${outcome.message}` : ''}`.trim();
        } else {
          status = 'failed';
          error = `Job ${name} was deleted by someone else while the run was going on`;
        }
      }
    } catch (e) {
      status = 'failed';
      error = e instanceof Error ? e.message : String(e);
      if (!isGitmlError(e)) error = `kubernetes target: ${error}`;
      // A refused or unreachable API server is an environment problem: clean up, then throw.
      if (isGitmlError(e, 'KUBERNETES') || isGitmlError(e, 'KUBERNETES_UNAVAILABLE')) {
        stop.abort();
        await this.cleanup(kube, name, secretName, true);
        job.signal.removeEventListener('abort', onAbort);
        throw e;
      }
    } finally {
      stop.abort();
      job.signal.removeEventListener('abort', onAbort);
    }

    demux.end();
    let metricsFile: string | undefined;
    try {
      const ex = await extractOutputs({ demux, outputsDir: scratch.outputs, metricsPath: scratch.metrics });
      metricsFile = ex.metricsFile;
      for (const w of ex.warnings) job.onLog(`${w}\n`, 'stderr');
    } catch (e) {
      if (!isGitmlError(e)) throw e;
      if (status === 'completed') status = 'failed';
      error = error ? `${error}; ${e.message}` : e.message;
    }

    const keep = spec.keep ?? 'on-failure';
    // Stopping a Job means deleting it (canceled, timed out by gitml, or a pod that cannot start); otherwise `keep` decides.
    const stopped = job.signal.aborted || stuck;
    const deleteJob = stopped || keep === 'never' || (keep === 'on-failure' && status === 'completed');
    await this.cleanup(kube, name, secretName, deleteJob);

    return {
      ...base,
      status,
      exitCode,
      ...(error ? { error } : {}),
      ...(metricsFile ? { metricsFile } : {}),
      host: `${kube.context}/${kube.namespace}/${podName ?? name}`,
    };
  }

  private async cleanup(kube: KubeApi, name: string, secretName: string | undefined, deleteJob: boolean): Promise<void> {
    // The Secret is needed only while the pod starts: never leave values behind, whatever `keep` says.
    if (secretName) await kube.deleteSecret(secretName).catch(() => undefined);
    if (deleteJob) await kube.deleteJob(name).catch(() => undefined);
  }
}

/**
 * The default image for a Kubernetes run: the environment image plus the run's code at
 * /gitml/code, built on the local Docker engine and pushed to the compute's `registry`.
 */
export async function defaultPrepareImage(job: TargetJob, compute: KubernetesCompute): Promise<PreparedImage> {
  if (!compute.registry) {
    throw new GitmlError(
      'KUBERNETES',
      `compute target ${job.compute.name} has no \`registry\`: gitml pushes the run image there for the cluster to pull (e.g. registry: registry.example.com/team)`,
      { compute: job.compute.name },
    );
  }
  const { prepareRunImage } = await import('../kube/image.js');
  return prepareRunImage({ job, registry: compute.registry });
}
