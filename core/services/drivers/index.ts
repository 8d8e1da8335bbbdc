/**
 * The driver of a compute target: Docker here (drivers/docker.ts), Kubernetes in core/kube/driver.ts.
 */
import type { ComputeTarget, Loaded } from '../../entities/types.js';
import { GitmlError } from '../../errors.js';
import type { ServiceDriver } from '../driver.js';

export interface DriverContext {
  /** Repository root (relative TLS / kubeconfig paths resolve from it). */
  dir: string;
  project: string;
  env?: NodeJS.ProcessEnv;
}

/** One driver per compute target and process (its engine connection is reused). */
export async function driverFor(compute: Loaded<ComputeTarget>, ctx: DriverContext): Promise<ServiceDriver> {
  const spec = compute.spec;
  if (spec.type === 'docker') {
    const { dockerClient } = await import('../../docker/client.js');
    const { DockerServiceDriver } = await import('./docker.js');
    return new DockerServiceDriver({ docker: dockerClient(spec, ctx.dir, { env: ctx.env }), project: ctx.project, env: ctx.env });
  }
  if (spec.type === 'kubernetes') {
    const { createKubernetesServiceDriver } = await import('../../kube/driver.js');
    return createKubernetesServiceDriver({ compute, repoDir: ctx.dir });
  }
  throw new GitmlError('TARGET', `services deploy to a docker or kubernetes compute target; ${JSON.stringify(compute.name)} is ${spec.type}`, { compute: compute.name });
}

/** A stable key of the engine/cluster a compute reaches (two computes on one engine share it). */
export function targetKey(compute: Loaded<ComputeTarget>, env: NodeJS.ProcessEnv = process.env): string {
  const s = compute.spec;
  if (s.type === 'docker') return `docker:${s.host ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}`;
  return `${s.type}:${compute.name}`;
}
