/**
 * The image a Kubernetes run pulls: the environment image (core/docker, content-tagged, never
 * rebuilt when unchanged) plus the run's code at /gitml/code owned by the run user, built on
 * the local Docker engine (or $DOCKER_HOST) and pushed to the compute's `registry`.
 *
 * Credentials: dockerode pushes without credentials unless the engine's registry allows it
 * (a local or in-cluster registry); for an authenticated registry set GITML_REGISTRY_AUTH to a
 * JSON object {"username", "password"} (never committed).
 */
import type { TargetJob } from '../targets/types.js';
import { GitmlError } from '../errors.js';
import { dnsSafe } from './job.js';

interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Digest?: string; ID?: string };
}

export async function prepareRunImage(opts: { job: TargetJob; registry: string; env?: NodeJS.ProcessEnv }): Promise<{ image: string; digest?: string }> {
  const { job } = opts;
  const env = opts.env ?? process.env;
  const { dockerClient, pingDocker } = await import('../docker/client.js');
  const { buildEnvironmentImage, CODE_DIR, RUN_GID, RUN_UID } = await import('../docker/environment-image.js');
  const { packFolder } = await import('../docker/tar.js');
  const docker = dockerClient();
  await pingDocker(docker);
  const envImage = await buildEnvironmentImage({
    docker,
    environment: job.environment,
    digest: job.environmentDigest,
    codeDir: job.codeDir,
    onProgress: (line) => job.onProgress?.(line),
    signal: job.signal,
  });
  const repo = `${opts.registry.replace(/\/+$/, '')}/gitml-run/${dnsSafe(job.experiment, 60)}`;
  const tag = `${repo}:${dnsSafe(job.runId, 120)}`;
  const dockerfile = `FROM ${envImage.tag}\nCOPY --chown=${RUN_UID}:${RUN_GID} code ${CODE_DIR}\n`;
  const context = packFolder(job.codeDir, { prefix: 'code', uid: RUN_UID, gid: RUN_GID, extra: { Dockerfile: dockerfile } });

  const follow = (stream: NodeJS.ReadableStream, what: string): Promise<ProgressEvent[]> =>
    new Promise((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null, events: ProgressEvent[]) => {
          const bad = events?.find((e) => e.error || e.errorDetail);
          if (err || bad) reject(new GitmlError('IMAGE_BUILD', `${what} failed: ${err?.message ?? bad?.errorDetail?.message ?? bad?.error}`, { image: tag }));
          else resolve(events);
        },
        (e: ProgressEvent) => {
          const line = (e.stream ?? e.status ?? '').trim();
          if (line) job.onProgress?.(line);
        },
      );
    });

  const start = async (what: string, fn: () => Promise<NodeJS.ReadableStream>): Promise<ProgressEvent[]> => {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await fn();
    } catch (e) {
      throw new GitmlError('IMAGE_BUILD', `${what} failed on the Docker engine at ${docker.gitmlAddress}: ${(e as Error).message}`, { image: tag }, { cause: e });
    }
    return follow(stream, what);
  };
  job.onProgress?.(`building ${tag}`);
  await start(`building the run image ${tag}`, () => docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag }));
  job.onProgress?.(`pushing ${tag}`);
  let authconfig: Record<string, string> | undefined;
  if (env.GITML_REGISTRY_AUTH) {
    try {
      authconfig = { ...JSON.parse(env.GITML_REGISTRY_AUTH), serveraddress: opts.registry.split('/')[0] };
    } catch {
      throw new GitmlError('KUBERNETES', 'GITML_REGISTRY_AUTH is not a JSON object {"username": ..., "password": ...}');
    }
  }
  // The engine wants an X-Registry-Auth header even for a registry without authentication: `{}` is anonymous.
  const events = await start(`pushing ${tag} to ${opts.registry}`, () => docker.getImage(tag).push({ authconfig: authconfig ?? {} }));
  const digest = events.map((e) => e.aux?.Digest).find((d): d is string => typeof d === 'string');
  return { image: tag, ...(digest ? { digest } : {}) };
}
