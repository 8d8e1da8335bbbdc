/**
 * The spark target against real Spark (pyspark from PyPI in the test venv, Java 17): local
 * mode, and a standalone master and worker started here on loopback. Spark start-up is slow
 * on two cores, so each mode runs once and every assertion reads that one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExperiment } from '../../core/run/run-experiment.js';
import { sparkSubmitArgs } from '../../core/targets/spark.js';
import { makeRepo, removeDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { runFile } from './fixtures.js';

const venv = path.dirname(path.dirname(testPython()));
const SUM_PY = `import json, os, sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
n = int(sys.argv[1])
total = spark.range(n).selectExpr("sum(id) as s").collect()[0]["s"]
print(f"::gitml metric name=total value={total}")
print("MASTER=" + spark.sparkContext.master)
print("RUN=" + os.environ["GITML_RUN_ID"])
with open(os.path.join(os.environ["GITML_OUTPUTS"], "result.json"), "w") as f:
    json.dump({"total": total, "label": sys.argv[2]}, f)
spark.stop()
`;

function sparkRepo(master: string): string {
  return makeRepo({
    'gitml.yaml': 'kind: Workspace\nname: sparktest\n',
    'gitml/compute/spark.yaml': [
      'kind: ComputeTarget',
      'type: spark',
      `master: "${master}"`,
      'driverMemory: 512m',
      'conf:',
      '  spark.ui.enabled: false',
      '  spark.sql.shuffle.partitions: 2',
      '  spark.driver.host: 127.0.0.1',
      '  spark.driver.bindAddress: 127.0.0.1',
      '  spark.executor.memory: 512m',
      // JVM start-up dominates these tiny jobs on two shared cores.
      '  spark.driver.extraJavaOptions: "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"',
      '  spark.executor.extraJavaOptions: "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"',
      '',
    ].join('\n'),
    'gitml/environments/pyspark.yaml': `kind: Environment\nvenv: ${venv}\n`,
    'gitml/experiments/sum.yaml':
      'kind: Experiment\ncommand: python jobs/sum.py ${{params.n}} ${{params.label}}\nparams:\n  n: 1000\n  label: x\nenvironment: pyspark\ncompute: spark\ntimeout: 5m\n',
    'jobs/sum.py': SUM_PY,
  });
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

function startDaemon(args: string[], ready: RegExp): { proc: ChildProcess; ready: Promise<void> } {
  // find-spark-home asks the venv's Python where pyspark is: the venv's bin/ goes first on PATH.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(venv, 'bin')}${path.delimiter}${process.env.PATH}`, SPARK_NO_DAEMONIZE: '1' };
  delete env.SPARK_HOME;
  const proc = spawn(path.join(venv, 'bin', 'spark-class'), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  let out = '';
  const p = new Promise<void>((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d;
      if (ready.test(out)) resolve();
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.on('exit', (code) => reject(new Error(`spark-class ${args[0]} exited ${code}: ${out.slice(-2000)}`)));
  });
  return { proc, ready: p };
}

const stop = (p?: ChildProcess) => {
  if (p?.pid) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
};

describe('spark-submit arguments', () => {
  it('turns `python ENTRY.py ARGS` into spark-submit options, entry point and arguments', () => {
    const a = sparkSubmitArgs({
      compute: { kind: 'ComputeTarget', type: 'spark', master: 'spark://h:7077', deployMode: 'client', conf: { 'spark.x': 1 }, driverMemory: '1g' },
      argv: ['python3', 'jobs/a.py', '--n', 'a b'],
      appName: 'app',
      executorEnv: { GITML_RUN_ID: 'r' },
    });
    expect(a).toEqual([
      '--master', 'spark://h:7077', '--name', 'app', '--deploy-mode', 'client', '--driver-memory', '1g',
      '--conf', 'spark.x=1', '--conf', 'spark.executorEnv.GITML_RUN_ID=r', 'jobs/a.py', '--n', 'a b',
    ]);
    expect(typeof sparkSubmitArgs({ compute: { kind: 'ComputeTarget', type: 'spark', master: 'local[1]' }, argv: ['bash', '-c', 'x'], appName: 'a' })).toBe('string');
  });
});

describe('spark target, local mode', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));
  it('runs a PySpark entry point with the run contract', async () => {
    const dir = sparkRepo('local[1]');
    dirs.push(dir);
    let out = '';
    const r = await runExperiment({ dir, experiment: 'sum', params: { n: '100', label: 'two words' }, onLog: (c, s) => s === 'stdout' && (out += c) });
    expect(r.record.status).toBe('completed');
    expect(r.record.compute.type).toBe('spark');
    expect(r.record.metrics).toEqual({ total: 4950 });
    expect(out).toContain('MASTER=local[1]');
    expect(out).toContain(`RUN=${r.runId}`);
    expect(r.record.artifacts.map((a) => a.path)).toEqual(['result.json']);
    expect(JSON.parse(runFile(dir, r.runId, 'artifacts/result.json')!)).toEqual({ total: 4950, label: 'two words' });
  });
});

describe('spark target, standalone master and worker on loopback', () => {
  let master: ReturnType<typeof startDaemon> | undefined;
  let worker: ReturnType<typeof startDaemon> | undefined;
  let url = '';
  const dirs: string[] = [];
  beforeAll(async () => {
    const [port, ui, wui] = [await freePort(), await freePort(), await freePort()];
    url = `spark://127.0.0.1:${port}`;
    master = startDaemon(['org.apache.spark.deploy.master.Master', '--host', '127.0.0.1', '--port', String(port), '--webui-port', String(ui)], /elected leader|Starting Spark master/);
    await master.ready;
    worker = startDaemon(
      ['org.apache.spark.deploy.worker.Worker', url, '--host', '127.0.0.1', '--cores', '1', '--memory', '1g', '--webui-port', String(wui)],
      /Successfully registered with master/,
    );
    await worker.ready;
  });
  afterAll(() => {
    stop(worker?.proc);
    stop(master?.proc);
    dirs.forEach(removeDir);
  });
  it('submits to spark://127.0.0.1:PORT and records the run', async () => {
    const dir = sparkRepo(url);
    dirs.push(dir);
    let out = '';
    const r = await runExperiment({ dir, experiment: 'sum', params: { n: '1000', label: 'standalone' }, onLog: (c, s) => s === 'stdout' && (out += c) });
    expect(r.record.status).toBe('completed');
    expect(out).toContain(`MASTER=${url}`);
    expect(r.record.metrics).toEqual({ total: 499500 });
    expect(r.record.host).toContain(url);
  });
});
