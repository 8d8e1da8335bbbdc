/**
 * `gitml env build` / `gitml env dockerfile`: an environment's image, built ahead of any run
 * (a CI warm-up step, or to see a build fail without a run), from the environment as
 * committed — the same files and digest a run of that commit uses, so the run then finds the
 * image and does not rebuild it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DockerCompute, Environment, Loaded } from '../entities/types.js';
import { GitmlError } from '../errors.js';
import { safeJoin, safeRelPosix } from '../paths.js';
import { environmentDigest, folderFiles } from './digest.js';

const execFileP = promisify(execFile);

export interface EnvironmentAtOptions {
  /** Any folder inside the repository. */
  dir: string;
  /** Environment name (gitml/environments/<name>.yaml). */
  name: string;
  /** Commit, branch or tag whose files are used (default HEAD). */
  rev?: string;
}

interface Resolved {
  root: string;
  commit: string;
  environment: Loaded<Environment>;
  compute?: Loaded<DockerCompute>;
  /** The exported commit tree (removed by the caller through `cleanup`). */
  codeDir: string;
  digest: string;
  cleanup: () => Promise<void>;
}

/** Load the entities at `rev`, export that commit's tree to a temp folder, compute the digest. */
async function resolveAt(opts: EnvironmentAtOptions & { compute?: string }): Promise<Resolved> {
  const { requireEntities } = await import('../entities/load.js');
  const rev = opts.rev ?? 'HEAD';
  const ents = await requireEntities({ dir: opts.dir, rev });
  const root = ents.dir;
  const environment = ents.environments.get(opts.name);
  if (!environment) {
    const known = [...ents.environments.keys()].sort();
    throw new GitmlError('UNKNOWN_ENTITY', `there is no environment ${JSON.stringify(opts.name)} at ${rev} (known: ${known.join(', ') || 'none'}; files in gitml/environments/)`, {
      kind: 'Environment',
      name: opts.name,
    });
  }
  let compute: Loaded<DockerCompute> | undefined;
  const computeName = opts.compute ?? ents.workspace.spec.defaults?.compute;
  if (computeName) {
    const c = ents.compute.get(computeName);
    if (!c && opts.compute) throw new GitmlError('UNKNOWN_ENTITY', `there is no compute target ${JSON.stringify(computeName)} at ${rev}`, { kind: 'ComputeTarget', name: computeName });
    if (c && c.spec.type === 'docker') compute = c as Loaded<DockerCompute>;
    else if (c && opts.compute) throw new GitmlError('USAGE', `compute target ${computeName} is a ${c.spec.type} target: environment images are built on a docker target's engine`, { name: computeName });
  }
  let commit: string;
  try {
    commit = (await execFileP('git', ['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`], { cwd: root })).stdout.trim();
  } catch {
    throw new GitmlError('UNKNOWN_REVISION', `unknown revision ${JSON.stringify(rev)}: no such commit, branch or tag`, { rev });
  }
  const { exportTree } = await import('../run/export.js');
  const base = await mkdtemp(path.join(tmpdir(), 'gitml-env-'));
  const cleanup = () => rm(base, { recursive: true, force: true });
  try {
    const codeDir = path.join(base, 'code');
    await exportTree({ dir: root, commit, dest: codeDir });
    const digest = await environmentDigest(environment, folderFiles(codeDir));
    return { root, commit, environment, compute, codeDir, digest, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export interface BuildEnvironmentResult {
  environment: string;
  digest: string;
  tag: string;
  id: string;
  built: boolean;
  /** The engine address. */
  host: string;
  commit: string;
}

/**
 * Build (or find) the image of environment `name` as of `rev` on the engine of compute target
 * `compute` (default: the workspace's default compute when it is a docker target, else
 * $DOCKER_HOST or the local socket). Throws 'DOCKER_UNAVAILABLE' or 'IMAGE_BUILD' (log in data.log).
 *
 * @example const r = await buildEnvironment({ dir: '.', name: 'sklearn' }); // r.tag, r.built
 */
export async function buildEnvironment(opts: EnvironmentAtOptions & { compute?: string; onProgress?: (line: string) => void; signal?: AbortSignal }): Promise<BuildEnvironmentResult> {
  const r = await resolveAt(opts);
  try {
    const { dockerClient, pingDocker } = await import('../docker/client.js');
    const { buildEnvironmentImage } = await import('../docker/environment-image.js');
    const docker = dockerClient(r.compute?.spec, r.root);
    await pingDocker(docker);
    const img = await buildEnvironmentImage({ docker, environment: r.environment, digest: r.digest, codeDir: r.codeDir, onProgress: opts.onProgress, signal: opts.signal });
    return { environment: r.environment.name, digest: r.digest, tag: img.tag, id: img.id, built: img.built, host: docker.gitmlAddress, commit: r.commit };
  } finally {
    await r.cleanup();
  }
}

/**
 * The Dockerfile gitml builds for environment `name` as of `rev`: the generated one for
 * image/apt/pip environments; for a `dockerfile` environment, the user's file followed by the
 * layer gitml adds on top of it.
 */
export async function environmentDockerfile(opts: EnvironmentAtOptions): Promise<{ environment: string; digest: string; tag: string; dockerfile: string }> {
  const r = await resolveAt(opts);
  try {
    const { environmentImageTag, renderEnvironmentDockerfile, runUserDockerfile } = await import('../docker/environment-image.js');
    const tag = environmentImageTag(r.environment.name, r.digest);
    const read = (rel: string) => readFile(safeJoin(r.codeDir, safeRelPosix(rel)));
    let dockerfile: string;
    if (r.environment.spec.dockerfile) {
      const own = (await read(r.environment.spec.dockerfile)).toString('utf8');
      dockerfile = `# ${r.environment.spec.dockerfile} (built as ${tag}-base)\n${own}${own.endsWith('\n') ? '' : '\n'}\n# then, built as ${tag}:\n${runUserDockerfile(`${tag}-base`, r.environment.name, r.digest)}`;
    } else {
      dockerfile = (await renderEnvironmentDockerfile(r.environment, r.digest, read)).dockerfile;
    }
    return { environment: r.environment.name, digest: r.digest, tag, dockerfile };
  } finally {
    await r.cleanup();
  }
}
