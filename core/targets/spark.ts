/**
 * The `spark` compute target: `spark-submit` of a PySpark entry point to the declared master
 * (local[N], spark://HOST:PORT, k8s://..., yarn), from the exported commit tree. The
 * experiment's command is `python ENTRY.py ARGS...` (or `ENTRY.py ARGS...`); ENTRY.py
 * becomes the application and ARGS its arguments. The driver runs here (client mode), so
 * the run contract (GITML_OUTPUTS, GITML_METRICS, stdout metric lines) is unchanged; the
 * GITML_* variables also reach executors through spark.executorEnv.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { safeJoin } from '../paths.js';
import { runScratch } from '../run/scratch.js';
import type { Environment, SparkCompute } from '../entities/types.js';
import type { TargetOptions } from './index.js';
import { pythonCommand } from './local.js';
import { runProcess } from './process.js';
import type { Target, TargetJob, TargetLayout, TargetResult } from './types.js';

const PYTHONS = /^python(3(\.\d+)?)?$/;

/** Which spark-submit to run: `sparkHome`'s, else the environment venv's (pyspark ships one), else the one beside its Python, else PATH. */
export function findSparkSubmit(opts: { compute: SparkCompute; environment?: Environment; repoDir: string }): { path: string; sparkHome?: string } {
  if (opts.compute.sparkHome) {
    const home = path.resolve(opts.repoDir, opts.compute.sparkHome);
    return { path: path.join(home, 'bin', 'spark-submit'), sparkHome: home };
  }
  const env = opts.environment;
  if (env?.venv) {
    const p = path.join(path.resolve(opts.repoDir, env.venv), 'bin', 'spark-submit');
    if (existsSync(p)) return { path: p };
  }
  if (env?.python?.includes('/')) {
    const p = path.join(path.dirname(path.resolve(opts.repoDir, env.python)), 'spark-submit');
    if (existsSync(p)) return { path: p };
  }
  return { path: 'spark-submit' };
}

/** The spark-submit argument list for a job's argv; a string when the argv is not a PySpark entry point. */
export function sparkSubmitArgs(opts: { compute: SparkCompute; argv: string[]; appName: string; executorEnv?: Record<string, string> }): string[] | string {
  const { argv, compute } = opts;
  let entry: string;
  let rest: string[];
  if (PYTHONS.test(path.basename(argv[0])) && argv.length > 1 && !argv[1].startsWith('-')) {
    entry = argv[1];
    rest = argv.slice(2);
  } else if (argv[0].endsWith('.py')) {
    entry = argv[0];
    rest = argv.slice(1);
  } else {
    return `the spark target runs a PySpark entry point: the command must be \`python ENTRY.py ARGS...\` or \`ENTRY.py ARGS...\`, got ${JSON.stringify(argv.join(' '))}`;
  }
  const args = ['--master', compute.master, '--name', opts.appName];
  if (compute.deployMode) args.push('--deploy-mode', compute.deployMode);
  if (compute.driverMemory) args.push('--driver-memory', compute.driverMemory);
  if (compute.executorMemory) args.push('--executor-memory', compute.executorMemory);
  for (const [k, v] of Object.entries(compute.conf ?? {})) args.push('--conf', `${k}=${String(v)}`);
  for (const [k, v] of Object.entries(opts.executorEnv ?? {})) args.push('--conf', `spark.executorEnv.${k}=${v}`);
  return [...args, entry, ...rest];
}

export class SparkTarget implements Target {
  readonly type = 'spark' as const;
  constructor(private readonly opts: TargetOptions) {}

  layout(runId: string): TargetLayout {
    const s = runScratch({ runId, compute: this.opts.compute, repoDir: this.opts.repoDir, baseDir: this.opts.scratchBase });
    return { root: s.code, outputs: s.outputs, metrics: s.metrics };
  }

  async run(job: TargetJob): Promise<TargetResult> {
    const compute = job.compute.spec as SparkCompute;
    const layout = this.layout(job.runId);
    await mkdir(layout.outputs, { recursive: true });
    const host = `${compute.master} from ${hostname()}`;
    const base = { outputsDir: layout.outputs, metricsFile: layout.metrics, host };
    const executorEnv = Object.fromEntries(Object.entries(job.env).filter(([k]) => k.startsWith('GITML_')));
    const args = sparkSubmitArgs({ compute, argv: job.argv, appName: `gitml-${job.experiment}-${job.runId}`, executorEnv });
    if (typeof args === 'string') return { ...base, status: 'failed', exitCode: null, error: args };
    const submit = findSparkSubmit({ compute, environment: job.environment?.spec, repoDir: job.repoDir });
    // The driver's and executors' Python: the environment's (venv or interpreter), so a
    // pyspark installed in a venv runs with that venv's packages.
    const py = pythonCommand({ argv: ['python3'], environment: job.environment, repoDir: job.repoDir });
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', ...py.env, ...job.env, ...job.secretEnv };
    if (!env.PYSPARK_PYTHON) env.PYSPARK_PYTHON = py.argv[0];
    if (!env.PYSPARK_DRIVER_PYTHON) env.PYSPARK_DRIVER_PYTHON = py.argv[0];
    if (submit.sparkHome) env.SPARK_HOME = submit.sparkHome;
    else delete env.SPARK_HOME; // let the chosen spark-submit find its own installation
    job.onProgress?.(`spark-submit to ${compute.master}`);
    const out = await runProcess({
      argv: [submit.path, ...args],
      cwd: safeJoin(job.codeDir, job.cwd || '.'),
      env,
      signal: job.signal,
      onLog: job.onLog,
      graceMs: this.opts.killGraceMs,
      what: 'spark-submit',
    });
    return { ...out, ...base };
  }
}

