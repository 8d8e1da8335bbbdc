/**
 * Model images: a manifest built into a container image through the engine API.
 *
 * Layer order (why): FROM the environment image (built or reused by buildEnvironmentImage,
 * tagged by the environment digest, so one environment gives one image and every dependency
 * layer is shared); then the server runtime and the fixed serving settings (ENV, EXPOSE,
 * HEALTHCHECK, ENTRYPOINT, USER), identical for every model on that environment; then the
 * model bundle last, then the labels. A new model version with the same environment
 * therefore adds one layer (the bundle) and reuses everything below it.
 *
 * Determinism: the build context is a tar with sorted entries, a fixed mtime and uid/gid 0,
 * so the engine's build cache matches every step of a second build of the same manifest and
 * gives back the same image id; no label carries a build time (`created` is the source
 * commit's time).
 *
 * @example
 *   const r = await buildModelImage({ dir: '/repo', ref: 'iris#production', onProgress: console.log });
 *   // r.image = 'gitml-model/iris:v0.0.1', r.id = 'sha256:…', r.reused = false
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { safeRelPosix } from '../paths.js';
import { RUN_GID, RUN_UID } from '../docker/layout.js';
import type { GitmlDocker } from '../docker/client.js';
import { BuildLog, followProgress } from '../docker/progress.js';
import { buildManifest, serverRuntime, shortDigest, type BuiltManifest, type ModelManifest } from './manifest.js';
import { bundleFiles } from './bundle.js';
import { createReadStream, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Where things live in a model image. */
export const IMAGE_SERVER_DIR = '/gitml/server';
export const IMAGE_MODEL_DIR = '/gitml/model';
export const IMAGE_PORT = 8080;

export const LABEL_MODEL = 'dev.gitml.model';
export const LABEL_VERSION = 'dev.gitml.version';
export const LABEL_MANIFEST_DIGEST = 'dev.gitml.manifest-digest';
export const LABEL_RUN = 'dev.gitml.run-id';

/** One fixed time for every entry of a build context (so the same files give the same tar). */
const CONTEXT_MTIME = new Date(0);

/** A docker repository path component from a model name: lowercase, [a-z0-9._-]. */
export function repoComponent(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/[._-]+$/, '');
  return s || 'model';
}

/** A docker tag from a version (`+` of semver build metadata is not allowed in tags). */
export function tagComponent(version: string): string {
  return version.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128);
}

/** `gitml-model/<name>:<version>` and `gitml-model/<name>:<manifest digest 12>`. */
export function modelImageTags(name: string, version: string, digest: string): { version: string; digest: string; repository: string } {
  const repository = `gitml-model/${repoComponent(name)}`;
  return { repository, version: `${repository}:${tagComponent(version)}`, digest: `${repository}:${shortDigest(digest)}` };
}

const REGISTRY_RE = /^(localhost|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;

/** Check a `--push` registry (host[:port][/namespace]); it becomes part of an image reference. */
export function checkRegistry(registry: string): string {
  const r = registry.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (!REGISTRY_RE.test(r)) throw new GitmlError('USAGE', `${JSON.stringify(registry)} is not a registry address such as 127.0.0.1:5000 or registry.example.com/team`, { registry });
  return r;
}

/** A build-context entry: text or bytes, or a file on disk streamed into the tar (its size known). */
export type ContextBody = Buffer | string | { file: string; size: number };

/**
 * A deterministic tar as a stream: sorted entries, fixed mtime, root-owned, 0644 files and
 * 0755 folders. File entries are read from disk as the engine takes the tar, so a model of
 * several GB goes into the image without being held in memory. A file whose size changed
 * since it was hashed fails the stream (tar-stream checks the entry's size).
 */
export function packContextStream(files: Record<string, ContextBody>): Readable {
  const pack = tar.pack();
  const names = Object.keys(files).map((n) => {
    const s = safeRelPosix(n);
    if (!s) throw new GitmlError('INTERNAL', `empty build context path`);
    return s;
  });
  const dirs = new Set<string>();
  for (const n of names) {
    const parts = n.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const entries = [...[...dirs].map((d) => ({ name: d, dir: true })), ...names.map((n) => ({ name: n, dir: false }))].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const byName = new Map(Object.entries(files).map(([k, v]) => [safeRelPosix(k), v]));
  const write = async () => {
    for (const e of entries) {
      const base = { mtime: CONTEXT_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
      if (e.dir) {
        await new Promise<void>((res, rej) => pack.entry({ ...base, name: `${e.name}/`, type: 'directory', mode: 0o755 }, (err) => (err ? rej(err) : res())));
        continue;
      }
      const body = byName.get(e.name)!;
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        const buf = typeof body === 'string' ? Buffer.from(body) : body;
        await new Promise<void>((res, rej) => pack.entry({ ...base, name: e.name, type: 'file', mode: 0o644, size: buf.length }, buf, (err) => (err ? rej(err) : res())));
        continue;
      }
      await new Promise<void>((res, rej) => {
        const sink = pack.entry({ ...base, name: e.name, type: 'file', mode: 0o644, size: body.size }, (err) => (err ? rej(err) : res()));
        pipeline(createReadStream(body.file, { highWaterMark: 1 << 20 }), sink).catch(rej);
      });
    }
    pack.finalize();
  };
  write().catch((e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))));
  return pack as unknown as Readable;
}

/** The same tar in memory (small contexts, and tests). */
export async function packContext(files: Record<string, ContextBody>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packContextStream(files)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** `ENV` value quoting: a double-quoted string with `\`, `"` and `$` escaped. */
function envValue(v: string): string {
  return `"${v.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

function labelLine(labels: Record<string, string>): string {
  return `LABEL ${Object.keys(labels)
    .sort()
    .map((k) => `${JSON.stringify(k)}=${JSON.stringify(labels[k])}`)
    .join(' ')}`;
}

const HEALTHCHECK_SCRIPT =
  "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('GITML_PORT', '8080'), timeout=2)";

/** The labels of a model image (OCI ones and gitml's). */
export function modelImageLabels(m: ModelManifest, digest: string, source?: string): Record<string, string> {
  return {
    'org.opencontainers.image.created': m.source.time,
    'org.opencontainers.image.revision': m.source.commit,
    'org.opencontainers.image.version': m.model.version,
    'org.opencontainers.image.title': `gitml-model/${repoComponent(m.model.name)}`,
    'org.opencontainers.image.description': `${m.model.name} ${m.model.version} served by gitml (${m.model.flavor})`,
    ...(source ? { 'org.opencontainers.image.source': source } : {}),
    [LABEL_MODEL]: m.model.name,
    [LABEL_VERSION]: m.model.version,
    [LABEL_MANIFEST_DIGEST]: digest,
    [LABEL_RUN]: m.run.id,
    'dev.gitml.environment': m.environment.name,
    'dev.gitml.environment-digest': m.environment.digest,
  };
}

/**
 * The Dockerfile of a model image on top of `envTag`. Everything above the bundle COPY depends
 * only on the environment and the server runtime.
 */
export function renderModelDockerfile(m: ModelManifest, envTag: string, labels: Record<string, string>): string {
  const vars = m.environment.spec.variables ?? {};
  const envVars = Object.keys(vars)
    .sort()
    .filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map((k) => `${k}=${envValue(vars[k])}`);
  return (
    [
      `FROM ${envTag}`,
      `COPY server/ ${IMAGE_SERVER_DIR}/`,
      `ENV ${['PYTHONDONTWRITEBYTECODE=1', 'PYTHONUNBUFFERED=1', `GITML_MODEL_DIR=${IMAGE_MODEL_DIR}`, 'GITML_HOST=0.0.0.0', `GITML_PORT=${IMAGE_PORT}`, ...envVars].join(' ')}`,
      `WORKDIR ${IMAGE_MODEL_DIR}`,
      `EXPOSE ${IMAGE_PORT}`,
      `HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ${JSON.stringify(['python3', '-c', HEALTHCHECK_SCRIPT])}`,
      `ENTRYPOINT ${JSON.stringify(['python3', `${IMAGE_SERVER_DIR}/gitml_server.py`])}`,
      `USER ${RUN_UID}:${RUN_GID}`,
      `COPY bundle/ ${IMAGE_MODEL_DIR}/`,
      labelLine(labels),
    ].join('\n') + '\n'
  );
}

/** Follow an engine progress stream; returns the log, throws with it on an `error` event. */
async function follow(docker: GitmlDocker, stream: NodeJS.ReadableStream, what: string, code: 'IMAGE_BUILD' | 'REMOTE', onProgress?: (line: string) => void): Promise<{ log: string; auxId?: string }> {
  const { isUnavailable, unavailableError } = await import('../docker/client.js');
  const log = new BuildLog();
  const r = await followProgress(docker, stream, log, onProgress);
  if (r.streamError && isUnavailable(r.streamError)) throw unavailableError(docker.gitmlAddress, r.streamError);
  const failure = r.failure ?? r.streamError?.message;
  if (failure) throw new GitmlError(code, `${what} failed: ${failure}`, { log: log.tail(), host: docker.gitmlAddress });
  return { log: log.tail(), auxId: r.auxId };
}

export interface BuildModelImageOptions {
  /** Any folder inside the repository. */
  dir: string;
  /** `name@vX.Y.Z`, `name#stage` or `name`. */
  ref: string;
  /** Also tag `REGISTRY/gitml-model/<name>:<version>` and push it there. */
  push?: string;
  /** Build through the engine even when an image of this manifest is already tagged (its build cache still applies). */
  force?: boolean;
  /** Defaults to the local engine ($DOCKER_HOST or the unix socket). */
  docker?: GitmlDocker;
  /** A manifest already built for `ref` (saves resolving it twice). */
  manifest?: BuiltManifest;
  onProgress?: (line: string) => void;
}

export interface ModelImage {
  /** `gitml-model/<name>:<version>`. */
  image: string;
  /** `gitml-model/<name>:<manifest digest 12>`. */
  digestTag: string;
  /** Image id (sha256:…). */
  id: string;
  manifestDigest: string;
  /** true when an image of this manifest was already on the engine and nothing was built. */
  reused: boolean;
  environmentImage: { tag: string; id: string; built: boolean };
  /** `REGISTRY/gitml-model/<name>:<version>` and its registry digest, when pushed. */
  pushed?: { image: string; digest?: string };
  manifest: ModelManifest;
  /** The build output (tail); empty when reused. */
  log: string;
}

/** The `origin` remote URL without credentials, for org.opencontainers.image.source. */
async function sourceUrl(dir: string): Promise<string | undefined> {
  const r = await runGit(dir, ['remote', 'get-url', 'origin']);
  if (r.code !== 0) return undefined;
  const url = r.stdout.trim();
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/^[^@/]+@/, (m) => (m.includes(':') ? '' : m)) || undefined;
  }
}

/**
 * Build (or reuse) the image of a model version. Errors: 'DOCKER_UNAVAILABLE' (engine down),
 * 'IMAGE_BUILD' (a failed build, the log in `data.log`), 'REMOTE' (a failed push), and the
 * manifest's own ('UNKNOWN_VERSION', 'MANIFEST', ...).
 */
export async function buildModelImage(opts: BuildModelImageOptions): Promise<ModelImage> {
  const onProgress = opts.onProgress;
  const built = opts.manifest ?? (await buildManifest({ dir: opts.dir, ref: opts.ref }));
  const { manifest: m, digest } = built;
  const registry = opts.push !== undefined ? checkRegistry(opts.push) : undefined;
  const { dockerClient, pingDocker, dockerCall } = await import('../docker/client.js');
  const { buildEnvironmentImage, environmentImageTag, imageId } = await import('../docker/environment-image.js');
  const docker = opts.docker ?? dockerClient(undefined, opts.dir);
  await pingDocker(docker);
  const tags = modelImageTags(m.model.name, m.model.version, digest);

  // The environment image, reused when the digest's tag is on the engine.
  const envLoaded = { name: m.environment.name, file: `gitml/environments/${m.environment.name}.yaml`, spec: m.environment.spec };
  const envTag = environmentImageTag(m.environment.name, m.environment.digest);
  let codeDir: string | undefined;
  let envImage: { tag: string; id: string; built: boolean };
  try {
    const needsFiles = Boolean(m.environment.spec.requirements || m.environment.spec.dockerfile);
    if (needsFiles && !(await imageId(docker, envTag))) {
      const { exportTree } = await import('../run/export.js');
      codeDir = await mkdtemp(path.join(os.tmpdir(), 'gitml-image-src-'));
      await exportTree({ dir: opts.dir, commit: m.source.commit, dest: codeDir });
    }
    onProgress?.(`environment image ${envTag}`);
    const e = await buildEnvironmentImage({ docker, environment: envLoaded, digest: m.environment.digest, codeDir: codeDir ?? opts.dir, onProgress });
    envImage = { tag: e.tag, id: e.id, built: e.built };
  } finally {
    if (codeDir) await rm(codeDir, { recursive: true, force: true });
  }

  const tagAs = async (id: string, ref: string) => {
    const i = ref.lastIndexOf(':');
    await dockerCall(docker, `tagging ${ref}`, () => docker.getImage(id).tag({ repo: ref.slice(0, i), tag: ref.slice(i + 1) }));
  };

  let id: string | undefined;
  let reused = false;
  let log = '';
  if (!opts.force) {
    const existing = await dockerCall(docker, `inspecting ${tags.digest}`, async () => {
      try {
        return await docker.getImage(tags.digest).inspect();
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
      }
    });
    if (existing?.Config?.Labels?.[LABEL_MANIFEST_DIGEST] === digest && existing.Config.Labels?.['dev.gitml.environment-digest'] === m.environment.digest) {
      id = existing.Id;
      reused = true;
      onProgress?.(`image ${tags.digest} of manifest ${shortDigest(digest)} is already built`);
    }
  }
  if (!id) {
    const labels = modelImageLabels(m, digest, await sourceUrl(opts.dir));
    const files = await bundleFiles({ dir: opts.dir, manifest: m });
    const context: Record<string, ContextBody> = {
      Dockerfile: renderModelDockerfile(m, envTag, labels),
      'server/gitml_server.py': readFileSync(serverRuntime().file),
    };
    for (const [rel, body] of Object.entries(files)) context[`bundle/${rel}`] = body;
    const tarball = packContextStream(context);
    onProgress?.(`building ${tags.version} (manifest ${shortDigest(digest)})`);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.buildImage(tarball as unknown as NodeJS.ReadableStream, { t: tags.digest, dockerfile: 'Dockerfile', rm: true, forcerm: true } as Dockerode.ImageBuildOptions);
    } catch (e) {
      tarball.destroy(); // the engine took none of it: close the model file
      const { dockerError } = await import('../docker/client.js');
      throw dockerError(e, docker.gitmlAddress, `building ${tags.version}`, 'IMAGE_BUILD');
    }
    const out = await follow(docker, stream, `building image ${tags.version}`, 'IMAGE_BUILD', onProgress);
    log = out.log;
    id = (await imageId(docker, tags.digest)) ?? out.auxId;
    if (!id) throw new GitmlError('IMAGE_BUILD', `building ${tags.version} ended without an image`, { log });
  }
  await tagAs(id, tags.version);

  let pushed: ModelImage['pushed'];
  if (registry) {
    const remote = `${registry}/${tags.version}`;
    await tagAs(id, remote);
    onProgress?.(`pushing ${remote}`);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.getImage(remote).push({ authconfig: {} } as Dockerode.ImagePushOptions);
    } catch (e) {
      const { dockerError } = await import('../docker/client.js');
      const err = dockerError(e, docker.gitmlAddress, `pushing ${remote}`);
      if (err.code === 'DOCKER_UNAVAILABLE') throw err;
      throw new GitmlError('REMOTE', err.message, err.data, { cause: e });
    }
    const out = await follow(docker, stream, `pushing ${remote}`, 'REMOTE', onProgress);
    const d = /digest: (sha256:[0-9a-f]{64})/.exec(out.log)?.[1];
    pushed = { image: remote, digest: d };
  }
  return { image: tags.version, digestTag: tags.digest, id, manifestDigest: digest, reused, environmentImage: envImage, pushed, manifest: m, log };
}
