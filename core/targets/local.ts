/**
 * The `local` compute target: the run is a child process on this machine, in the exported
 * commit tree, optionally with an Environment's Python (`python`) or virtualenv (`venv`,
 * whose bin/ goes first on PATH).
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { safeJoin } from '../paths.js';
import { runScratch } from '../run/scratch.js';
import type { ComputeTarget, Environment, Loaded } from '../entities/types.js';
import { runProcess } from './process.js';
import type { Target, TargetJob, TargetLayout, TargetResult } from './types.js';

export interface LocalTargetOptions {
  compute: Loaded<ComputeTarget>;
  /** Repository root on the host (for a relative `workdir`). */
  repoDir?: string;
  /** Override of the scratch root (tests). */
  scratchBase?: string;
  /** SIGTERM → SIGKILL grace period on cancel or timeout. */
  killGraceMs?: number;
}

const PYTHONS = new Set(['python', 'python3']);

/** The argv and PATH for a host process in `environment`: venv's python, or the declared interpreter, for a `python` argv[0]. */
export function pythonCommand(opts: { argv: string[]; environment?: Loaded<Environment>; repoDir: string; basePath?: string }): { argv: string[]; env: Record<string, string> } {
  const spec = opts.environment?.spec;
  const argv = [...opts.argv];
  const env: Record<string, string> = {};
  let PATH = opts.basePath ?? process.env.PATH ?? '';
  if (spec?.venv) {
    const venv = path.resolve(opts.repoDir, spec.venv);
    PATH = `${path.join(venv, 'bin')}${path.delimiter}${PATH}`;
    env.VIRTUAL_ENV = venv;
    if (PYTHONS.has(argv[0])) argv[0] = path.join(venv, 'bin', 'python');
  } else if (spec?.python && PYTHONS.has(argv[0])) {
    argv[0] = spec.python.includes('/') ? path.resolve(opts.repoDir, spec.python) : spec.python;
  }
  env.PATH = PATH;
  return { argv, env };
}

export class LocalTarget implements Target {
  readonly type = 'local' as const;
  constructor(private readonly opts: LocalTargetOptions) {}

  layout(runId: string): TargetLayout {
    const s = runScratch({ runId, compute: this.opts.compute, repoDir: this.opts.repoDir, baseDir: this.opts.scratchBase });
    return { root: s.code, outputs: s.outputs, metrics: s.metrics };
  }

  async run(job: TargetJob): Promise<TargetResult> {
    const layout = this.layout(job.runId);
    await mkdir(layout.outputs, { recursive: true });
    const cmd = pythonCommand({ argv: job.argv, environment: job.environment, repoDir: job.repoDir });
    const out = await runProcess({
      argv: cmd.argv,
      cwd: safeJoin(job.codeDir, job.cwd || '.'),
      // Unbuffered Python so logs and metric lines arrive live, not at exit.
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...cmd.env, ...job.env, ...job.secretEnv },
      signal: job.signal,
      onLog: job.onLog,
      graceMs: this.opts.killGraceMs,
    });
    return { ...out, outputsDir: layout.outputs, metricsFile: layout.metrics, host: hostname() };
  }
}
