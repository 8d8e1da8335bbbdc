/**
 * Environment images: an Environment spec (base image + Debian packages + Python packages, or
 * the user's own Dockerfile) built into an image through the engine API, tagged by the spec's
 * content digest so an unchanged environment is never rebuilt.
 *
 * Layer order (why): the run user layer is the same for every environment on a base image, so
 * it comes first and is shared; then apt, requirements and pip, which change rarely; labels
 * last. Model images (core/model-image) build FROM the finished environment image, so a new
 * model version with the same environment reuses every dependency layer.
 */
import path from 'node:path';
import type Dockerode from 'dockerode';
import type { Environment, Loaded } from '../entities/types.js';
import { GitmlError } from '../errors.js';
import { safeJoin, safeRelPosix } from '../paths.js';
import { dockerError, isUnavailable, statusOf, unavailableError, type GitmlDocker } from './client.js';
import { BuildLog, followProgress, type ProgressEvent } from './progress.js';
import { dockerignore, packFiles, packFolder } from './tar.js';

import { CODE_DIR, LABEL_DIGEST, LABEL_ENVIRONMENT, OUTPUTS_DIR, RUN_GID, RUN_UID } from './layout.js';

export { CODE_DIR, LABEL_DIGEST, LABEL_ENVIRONMENT, METRICS_FILE, OUTPUTS_DIR, RUN_GID, RUN_UID } from './layout.js';

/** Keep this much of a build log (the tail) in memory and in errors. */

/** A docker repository path component from an entity name: lowercase, [a-z0-9._-]. */
function repoComponent(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/[._-]+$/, '');
  return s || 'env';
}

function digestHex(digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{16,}$/.test(hex)) throw new GitmlError('INTERNAL', `not a sha256 digest: ${JSON.stringify(digest)}`, { digest });
  return hex;
}

/**
 * `gitml-env/<env-name>:<first 16 hex of the digest>`.
 *
 * @example environmentImageTag('sklearn', 'sha256:3f2a...') // 'gitml-env/sklearn:3f2a...'
 */
export function environmentImageTag(envName: string, digest: string): string {
  return `gitml-env/${repoComponent(envName)}:${digestHex(digest).slice(0, 16)}`;
}

// An image reference as `docker` accepts it; anything else (spaces, newlines) could inject
// Dockerfile instructions.
const IMAGE_REF = /^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$|^[a-zA-Z0-9][a-zA-Z0-9.-]*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;
const APT_NAME = /^[a-z0-9][a-z0-9+.:=~-]*$/;

function checkImageRef(ref: string, file?: string): void {
  if (!IMAGE_REF.test(ref)) {
    throw new GitmlError('INVALID_ENTITIES', `environment${file ? ` ${file}` : ''}: ${JSON.stringify(ref)} is not an image reference such as gitml/python:bookworm`, { file, image: ref });
  }
}

/**
 * The run user layer: uid 1000 with a home (unless the image already has a uid 1000), and
 * /gitml/{code,outputs} owned by it. Writes /etc/passwd directly so it works on images
 * without useradd (busybox, distroless-with-shell). Constant text, so one cached layer per
 * base image.
 */
const USER_LAYER_SCRIPT = [
  'set -e',
  `if ! grep -q '^[^:]*:[^:]*:${RUN_UID}:' /etc/passwd 2>/dev/null; then`,
  `  grep -q '^[^:]*:[^:]*:${RUN_GID}:' /etc/group 2>/dev/null || echo 'gitml:x:${RUN_GID}:' >> /etc/group`,
  `  echo 'gitml:x:${RUN_UID}:${RUN_GID}:gitml:/home/gitml:/bin/sh' >> /etc/passwd`,
  '  mkdir -p /home/gitml',
  `  chown ${RUN_UID}:${RUN_GID} /home/gitml`,
  'fi',
  `mkdir -p ${CODE_DIR} ${OUTPUTS_DIR}`,
  `chown -R ${RUN_UID}:${RUN_GID} /gitml`,
].join('\n');

/** Exec-form RUN of a fixed script with user values as positional arguments: no shell ever parses user input. */
function runScript(script: string, args: string[] = []): string {
  return `RUN ${JSON.stringify(['/bin/sh', '-c', script, 'gitml', ...args])}`;
}

function userLayer(): string[] {
  return ['USER root', runScript(USER_LAYER_SCRIPT)];
}

function finalLayers(envName: string, digest: string): string[] {
  return [
    `WORKDIR ${CODE_DIR}`,
    `LABEL ${JSON.stringify(LABEL_ENVIRONMENT)}=${JSON.stringify(envName)} ${JSON.stringify(LABEL_DIGEST)}=${JSON.stringify(digest)}`,
    `USER ${RUN_UID}:${RUN_GID}`,
  ];
}

export interface EnvironmentDockerfile {
  /** Dockerfile text. */
  dockerfile: string;
  /** Files the Dockerfile COPYs, by name in the build context. */
  files: Record<string, Buffer>;
}

/**
 * The dependency part of a generated environment Dockerfile (FROM, run user, apt,
 * requirements, pip), without the final WORKDIR/LABEL/USER lines: callers that build a
 * single Dockerfile (a model image) can append their own layers after it and keep every
 * dependency layer cache-identical to the environment image's.
 * `readFile` reads a repository file ('/'-separated path) for `requirements`.
 */
export async function environmentDependencyLayers(
  env: Loaded<Environment>,
  readFile: (rel: string) => Promise<Buffer>,
): Promise<{ lines: string[]; files: Record<string, Buffer> }> {
  const spec = env.spec;
  if (!spec.image) {
    throw new GitmlError('INVALID_ENTITIES', `environment ${env.file}: a container target needs \`image\` (a base image on the engine) or \`dockerfile\``, { file: env.file });
  }
  checkImageRef(spec.image, env.file);
  const lines = [`FROM ${spec.image}`, ...userLayer(), 'ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore'];
  const files: Record<string, Buffer> = {};
  const apt = spec.apt ?? [];
  for (const p of apt) {
    if (!APT_NAME.test(p)) throw new GitmlError('INVALID_ENTITIES', `environment ${env.file}: ${JSON.stringify(p)} is not a Debian package name`, { file: env.file, package: p });
  }
  const needPip = Boolean(spec.requirements) || (spec.pip?.length ?? 0) > 0;
  if (apt.length) {
    lines.push(runScript('apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && rm -rf /var/lib/apt/lists/*', apt));
  }
  if (needPip) {
    // Debian-based images often lack pip: install it from the distribution when missing.
    lines.push(
      runScript(
        'python3 -m pip --version >/dev/null 2>&1 || { command -v apt-get >/dev/null && apt-get update -q && apt-get install -y -q --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*; }',
      ),
    );
  }
  if (spec.requirements) {
    const rel = safeRelPosix(spec.requirements);
    files['gitml-requirements.txt'] = await readFile(rel);
    lines.push('COPY gitml-requirements.txt /tmp/gitml-requirements.txt');
    lines.push(runScript('python3 -m pip install -q -r /tmp/gitml-requirements.txt && rm -f /tmp/gitml-requirements.txt'));
  }
  const pip = spec.pip ?? [];
  for (const p of pip) {
    // A leading '-' would be a pip option (--index-url, -e ...), not a requirement.
    if (!p.trim() || p.trim().startsWith('-') || /[\r\n]/.test(p)) {
      throw new GitmlError('INVALID_ENTITIES', `environment ${env.file}: ${JSON.stringify(p)} is not a Python requirement specifier`, { file: env.file, requirement: p });
    }
  }
  if (pip.length) lines.push(runScript('python3 -m pip install -q "$@"', pip.map((p) => p.trim())));
  return { lines, files };
}

/**
 * The full Dockerfile gitml generates for an environment without its own Dockerfile.
 *
 * @example
 *   const { dockerfile, files } = await renderEnvironmentDockerfile(env, digest, (rel) => readFile(path.join(codeDir, rel)));
 */
export async function renderEnvironmentDockerfile(
  env: Loaded<Environment>,
  digest: string,
  readFile: (rel: string) => Promise<Buffer>,
): Promise<EnvironmentDockerfile> {
  const { lines, files } = await environmentDependencyLayers(env, readFile);
  return { dockerfile: [...lines, ...finalLayers(env.name, digest)].join('\n') + '\n', files: { ...files } };
}

/** The layer gitml adds on top of a user's own Dockerfile image. */
export function runUserDockerfile(baseTag: string, envName: string, digest: string): string {
  return [`FROM ${baseTag}`, ...userLayer(), ...finalLayers(envName, digest)].join('\n') + '\n';
}

export interface BuildEnvironmentImageOptions {
  docker: GitmlDocker;
  environment: Loaded<Environment>;
  /** environmentDigest(...) of the spec (core/environments/digest.ts). */
  digest: string;
  /** Folder holding the repository's files as of the run (the exported commit tree): requirements, Dockerfile, context. */
  codeDir: string;
  /** Build progress, one line at a time. */
  onProgress?: (line: string) => void;
  /** Abort the build (throws GitmlError 'CANCELED'). */
  signal?: AbortSignal;
}

export interface EnvironmentImage {
  tag: string;
  /** Image id (sha256:...). */
  id: string;
  /** false when the tag was already on the engine and nothing was built. */
  built: boolean;
  /** The build output (tail), empty when not built. */
  log: string;
}

/** Image id for a reference, or undefined when the engine has no such image. */
export async function imageId(docker: GitmlDocker, ref: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    return info.Id;
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw dockerError(e, docker.gitmlAddress, `inspecting image ${ref}`);
  }
}

/**
 * Run one build through the engine and wait for its end. A failed build does not make
 * dockerode throw: the error is an `error` field in a progress event, so every event is
 * checked.
 */
async function runBuild(
  docker: GitmlDocker,
  context: Buffer | NodeJS.ReadableStream,
  buildOpts: { t: string; dockerfile: string },
  log: BuildLog,
  what: string,
  onProgress?: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const address = docker.gitmlAddress;
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(context as NodeJS.ReadableStream, { ...buildOpts, rm: true, forcerm: true, abortSignal: signal } as Dockerode.ImageBuildOptions);
  } catch (e) {
    if (signal?.aborted) throw new GitmlError('CANCELED', `${what} was canceled`, {});
    if (isUnavailable(e)) throw unavailableError(address, e);
    throw new GitmlError('IMAGE_BUILD', `${what} could not start on the Docker engine at ${address}: ${(e as Error).message}`, { log: log.tail(), host: address }, { cause: e });
  }
  const r = await followProgress(docker, stream, log, onProgress);
  if (signal?.aborted) throw new GitmlError('CANCELED', `${what} was canceled`, {});
  if (r.streamError && isUnavailable(r.streamError)) throw unavailableError(address, r.streamError);
  const failure = r.failure ?? r.streamError?.message;
  if (failure) {
    throw new GitmlError('IMAGE_BUILD', `${what} failed: ${failure}`, { log: log.tail(), tag: buildOpts.t, host: address });
  }
  const id = (await imageId(docker, buildOpts.t)) ?? r.auxId;
  if (!id) throw new GitmlError('IMAGE_BUILD', `${what} ended without producing ${buildOpts.t}`, { log: log.tail(), tag: buildOpts.t, host: address });
  return id;
}

/** Make sure the base image is on the engine; pull it when a registry is reachable. */
async function ensureBaseImage(docker: GitmlDocker, ref: string, log: BuildLog, onProgress?: (line: string) => void): Promise<void> {
  if (await imageId(docker, ref)) return;
  onProgress?.(`pulling base image ${ref}`);
  try {
    const stream = await docker.pull(ref);
    let failure: string | undefined;
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (ev: ProgressEvent) => {
          if (ev.error) failure = ev.error;
        },
      ),
    );
    if (failure) throw new Error(failure);
  } catch (e) {
    if (isUnavailable(e) && !/pull|registry|manifest/i.test(String((e as Error).message))) throw unavailableError(docker.gitmlAddress, e);
    const msg = `base image ${ref} is not on the Docker engine at ${docker.gitmlAddress} and cannot be pulled (${(e as Error).message.trim()}): build or load it there first (docker build / docker load / docker import)`;
    log.add(`ERROR: ${msg}\n`);
    throw new GitmlError('IMAGE_BUILD', msg, { log: log.tail(), image: ref, host: docker.gitmlAddress }, { cause: e });
  }
}

/**
 * Build (or reuse) the image of an environment, tagged `gitml-env/<name>:<digest16>`. When the
 * tag is already on the engine it returns at once with `built: false`. A failed build throws
 * GitmlError 'IMAGE_BUILD' with the build log (tail) in `data.log`; an unreachable engine
 * throws 'DOCKER_UNAVAILABLE'.
 *
 * @example
 *   const img = await buildEnvironmentImage({ docker, environment: env, digest, codeDir });
 *   // a model image: `FROM ${img.tag}` then COPY the model, reusing every dependency layer
 */
export async function buildEnvironmentImage(opts: BuildEnvironmentImageOptions): Promise<EnvironmentImage> {
  const { docker, environment: env, digest, codeDir, onProgress, signal } = opts;
  const tag = environmentImageTag(env.name, digest);
  const existing = await imageId(docker, tag);
  if (existing) return { tag, id: existing, built: false, log: '' };

  const log = new BuildLog();
  const readFile = async (rel: string): Promise<Buffer> => {
    const { readFile: rf } = await import('node:fs/promises');
    try {
      return await rf(safeJoin(codeDir, safeRelPosix(rel)));
    } catch (e) {
      if (e instanceof GitmlError) throw e;
      throw new GitmlError('INVALID_ENTITIES', `environment ${env.file}: ${JSON.stringify(rel)} cannot be read: ${(e as Error).message}`, { file: env.file, path: rel });
    }
  };

  if (env.spec.dockerfile) {
    // The user's Dockerfile, built from its context as is; then the run user layer on top.
    const dockerfileRel = safeRelPosix(env.spec.dockerfile);
    const ctxRel = safeRelPosix(env.spec.context ?? (path.posix.dirname(dockerfileRel) || '.'));
    const ctxDir = safeJoin(codeDir, ctxRel || '.');
    const dockerfileText = await readFile(dockerfileRel);
    const baseTag = `${tag}-base`;
    onProgress?.(`building ${env.spec.dockerfile}`);
    // .dockerignore applies as with `docker build` (the digest still covers the whole context).
    let ignoreOpts: { ignore?: (rel: string) => boolean; descendIgnored?: boolean } = {};
    try {
      const { readFile: rf } = await import('node:fs/promises');
      ignoreOpts = await dockerignore(await rf(path.join(ctxDir, '.dockerignore'), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // A Dockerfile inside the context is named by its path there, as `docker build` does; one
    // outside it goes in under a name of our own.
    const inCtx = ctxRel === '' ? dockerfileRel : dockerfileRel.startsWith(`${ctxRel}/`) ? dockerfileRel.slice(ctxRel.length + 1) : undefined;
    const ctx = packFolder(ctxDir, { extra: inCtx ? {} : { '.gitml.Dockerfile': dockerfileText }, ...ignoreOpts });
    await runBuild(docker, ctx, { t: baseTag, dockerfile: inCtx ?? '.gitml.Dockerfile' }, log, `building ${env.spec.dockerfile}`, onProgress, signal);
    const top = await packFiles({ Dockerfile: runUserDockerfile(baseTag, env.name, digest) });
    onProgress?.('adding the run user layer');
    const id = await runBuild(docker, top, { t: tag, dockerfile: 'Dockerfile' }, log, `building environment image ${tag}`, onProgress, signal);
    return { tag, id, built: true, log: log.tail() };
  }

  const { dockerfile, files } = await renderEnvironmentDockerfile(env, digest, readFile);
  await ensureBaseImage(docker, env.spec.image!, log, onProgress);
  onProgress?.(`building environment image ${tag}`);
  const context = await packFiles({ Dockerfile: dockerfile, ...files });
  const id = await runBuild(docker, context, { t: tag, dockerfile: 'Dockerfile' }, log, `building environment image ${tag}`, onProgress, signal);
  return { tag, id, built: true, log: log.tail() };
}
