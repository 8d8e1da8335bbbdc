/**
 * The Target for a compute target, by type. Container and cluster targets are imported only
 * when used: dockerode and @kubernetes/client-node are heavy, and a missing or broken target
 * module fails only the runs that need it.
 *
 * Convention for every target module: it exports a class (`LocalTarget`, `SparkTarget`,
 * `DockerTarget`, `KubernetesTarget`) whose constructor takes one `TargetOptions` object.
 */
import { GitmlError } from '../errors.js';
import type { ComputeTarget, Loaded } from '../entities/types.js';
import type { Target } from './types.js';

export interface TargetOptions {
  compute: Loaded<ComputeTarget>;
  /** Repository root on the host (relative venv, workdir, TLS file paths). */
  repoDir: string;
  /** SIGTERM → SIGKILL grace period on cancel or timeout (process targets). */
  killGraceMs?: number;
  /** Scratch root override (tests). */
  scratchBase?: string;
}

type TargetClass = new (opts: TargetOptions) => Target;

async function load(type: string, importer: () => Promise<Record<string, unknown>>, exportName: string): Promise<TargetClass> {
  let mod: Record<string, unknown>;
  try {
    mod = await importer();
  } catch (e) {
    throw new GitmlError('TARGET', `the ${type} compute target is not available in this gitml build: ${(e as Error).message}`, { type }, { cause: e });
  }
  const cls = mod[exportName];
  if (typeof cls !== 'function') throw new GitmlError('TARGET', `the ${type} compute target module does not export ${exportName}`, { type });
  return cls as TargetClass;
}

/**
 * @example const target = await createTarget(entities.compute.get('local')!, { repoDir });
 */
export async function createTarget(compute: Loaded<ComputeTarget>, opts: Omit<TargetOptions, 'compute'> = { repoDir: process.cwd() }): Promise<Target> {
  const full: TargetOptions = { ...opts, compute };
  switch (compute.spec.type) {
    case 'local': {
      const { LocalTarget } = await import('./local.js');
      return new LocalTarget(full);
    }
    case 'spark': {
      const { SparkTarget } = await import('./spark.js');
      return new SparkTarget(full);
    }
    case 'docker':
      // A variable specifier keeps the build independent of whether the module exists yet.
      return new (await load('docker', () => import(dockerModule), 'DockerTarget'))(full);
    case 'kubernetes':
      return new (await load('kubernetes', () => import(kubernetesModule), 'KubernetesTarget'))(full);
    default:
      throw new GitmlError('TARGET', `unknown compute target type ${JSON.stringify((compute.spec as { type?: unknown }).type)} in ${compute.file}`, { file: compute.file });
  }
}

const dockerModule: string = './docker.js';
const kubernetesModule: string = './kubernetes.js';
