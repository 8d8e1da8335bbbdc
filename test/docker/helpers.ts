/** Jobs for the docker target tests, built from literals. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DockerCompute, Environment, Loaded } from '../../core/entities/types.js';
import { environmentDigest } from '../../core/environments/digest.js';
import type { TargetJob } from '../../core/targets/types.js';
import { tmpDir, writeFiles } from '../support/repo.js';

export interface CollectedLogs {
  stdout: string;
  stderr: string;
  progress: string[];
}

export function env(name: string, spec: Omit<Environment, 'kind'>): Loaded<Environment> {
  return { name, file: `gitml/environments/${name}.yaml`, spec: { kind: 'Environment', ...spec } };
}

export function compute(spec: Omit<DockerCompute, 'kind' | 'type'> = {}, name = 'docker'): Loaded<DockerCompute> {
  return { name, file: `gitml/compute/${name}.yaml`, spec: { kind: 'ComputeTarget', type: 'docker', ...spec } as DockerCompute };
}

let seq = 0;

/**
 * A job whose code folder (`<scratch>/code`) holds `files`; logs are collected in `logs`.
 * The environment digest is computed for real from the code folder.
 */
export async function makeJob(opts: {
  files: Record<string, string>;
  argv: string[];
  environment: Loaded<Environment>;
  compute?: Loaded<DockerCompute>;
  cwd?: string;
  signal?: AbortSignal;
  secretEnv?: Record<string, string>;
}): Promise<{ job: TargetJob; logs: CollectedLogs; scratch: string }> {
  const scratch = tmpDir('gitml-docker-test-');
  const codeDir = path.join(scratch, 'code');
  mkdirSync(codeDir);
  writeFiles(codeDir, opts.files);
  const logs: CollectedLogs = { stdout: '', stderr: '', progress: [] };
  const runId = `t${Date.now().toString(36)}-${process.pid}-${seq++}`;
  const job: TargetJob = {
    runId,
    experiment: 'test',
    codeDir,
    cwd: opts.cwd ?? '',
    argv: opts.argv,
    env: { GITML_RUN_ID: runId, GITML_OUTPUTS: '/gitml/outputs', GITML_METRICS: '/gitml/metrics.jsonl', ...(opts.environment.spec.variables ?? {}) },
    secretEnv: opts.secretEnv ?? {},
    environment: opts.environment,
    environmentDigest: await environmentDigest(opts.environment, codeDir),
    compute: (opts.compute ?? compute()) as TargetJob['compute'],
    repoDir: codeDir,
    signal: opts.signal ?? new AbortController().signal,
    onLog: (chunk, stream) => {
      logs[stream] += chunk;
    },
    onProgress: (m) => logs.progress.push(m),
  };
  return { job, logs, scratch };
}
