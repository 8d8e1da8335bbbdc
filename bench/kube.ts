/**
 * Kubernetes target costs that do not depend on a cluster: `npx tsx bench/kube.ts [--runs 5]`.
 *
 * 1. Outputs through the pod log. A 4 MiB outputs folder (half compressible text, half random
 *    bytes) and a 100,000-point metrics file, run through the real templates/kube/entry.sh,
 *    then LogDemux (in 64 KiB chunks, as a log stream arrives) and extractOutputs, against the
 *    baseline: `tar -c` of the same folder extracted with tar-stream (no gzip, no base64, no
 *    log). Reports medians, the ratio, and the log bytes per output byte.
 * 2. Orchestration overhead per run. KubernetesTarget.run() of `true` against the recording
 *    API server in this process (client-node calls, Job and pod wait, watch, log, cleanup)
 *    against the baseline: the same entry script and command spawned directly. A real
 *    cluster adds scheduling and image pulls, which this cannot measure.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ComputeTarget, Loaded } from '../core/entities/types.js';
import { kubeEntryScript } from '../core/kube/job.js';
import { extractOutputs, extractTar, LogDemux } from '../core/kube/outputs.js';
import { KubernetesTarget } from '../core/targets/kubernetes.js';
import type { TargetJob } from '../core/targets/types.js';
import { FakeKubeApiServer } from '../test/support/kube-apiserver.js';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1] || 0) || 5;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

const work = mkdtempSync(path.join(tmpdir(), 'gitml-bench-kube-'));
try {
  // ---------------------------------------------------------------- 1. outputs
  const src = path.join(work, 'src');
  mkdirSync(path.join(src, 'outputs/sub'), { recursive: true });
  writeFileSync(path.join(src, 'outputs/model.txt'), 'coefficient 0.123456789\n'.repeat(Math.ceil((2 * 1024 * 1024) / 24)));
  writeFileSync(path.join(src, 'outputs/sub/weights.bin'), randomBytes(2 * 1024 * 1024));
  const metrics = Array.from({ length: 100_000 }, (_, i) => JSON.stringify({ name: 'loss', value: 1 / (i + 1), step: i, timestamp: 1700000000000 + i })).join('\n') + '\n';
  writeFileSync(path.join(src, 'metrics.jsonl'), metrics);
  const outBytes = 4 * 1024 * 1024 + metrics.length;

  const entry = spawnSync('/bin/sh', ['-c', kubeEntryScript(), 'gitml-entry', 'bench', String(64 * 1024 * 1024), path.join(work, 'scratch'), '--', 'true'], {
    env: { PATH: process.env.PATH, GITML_OUTPUTS: path.join(src, 'outputs'), GITML_METRICS: path.join(src, 'metrics.jsonl') },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const log = entry.stdout;
  const tarOnly = spawnSync('tar', ['-cf', '-', '-C', path.join(src, 'outputs'), '.'], { maxBuffer: 256 * 1024 * 1024 }).stdout;

  const decode: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const d1 = path.join(work, `dec-${i}`);
    let t = performance.now();
    const demux = new LogDemux('bench', () => {});
    for (let o = 0; o < log.length; o += 65536) demux.push(log.slice(o, o + 65536));
    demux.end();
    await extractOutputs({ demux, outputsDir: path.join(d1, 'outputs'), metricsPath: path.join(d1, 'metrics.jsonl') });
    decode.push(performance.now() - t);
    const d2 = path.join(work, `base-${i}`);
    t = performance.now();
    await extractTar(tarOnly, d2);
    writeFileSync(path.join(d2, 'metrics.jsonl'), metrics);
    baseline.push(performance.now() - t);
    rmSync(d1, { recursive: true, force: true });
    rmSync(d2, { recursive: true, force: true });
  }
  console.log(`outputs through the pod log (${(outBytes / 1048576).toFixed(1)} MiB outputs + metrics, ${RUNS} runs)`);
  console.log(`  log block: ${(log.length / 1048576).toFixed(2)} MiB, ${(log.length / outBytes).toFixed(2)} log bytes per output byte (gzip + base64)`);
  console.log(`  baseline tar extract: ${fmt(median(baseline))}   demux + decode + extract: ${fmt(median(decode))}   ratio ${(median(decode) / median(baseline)).toFixed(2)}x`);
  console.log(`  decode throughput: ${((log.length / 1048576) / (median(decode) / 1000)).toFixed(0)} MiB/s of log`);

  // ---------------------------------------------------------------- 2. run overhead
  const server = await new FakeKubeApiServer({ startDelayMs: 0 }).start();
  try {
    const kubeconfig = server.writeKubeconfig(work);
    const code = path.join(work, 'code');
    mkdirSync(code, { recursive: true });
    server.images.set('bench:1', { files: { '/gitml/code': code } });
    const compute: Loaded<ComputeTarget> = { name: 'k8s', file: 'gitml/compute/k8s.yaml', spec: { kind: 'ComputeTarget', type: 'kubernetes', kubeconfig, keep: 'never' } };
    const target = new KubernetesTarget({ compute, repoDir: work, scratchBase: path.join(work, 'scratch-runs'), pollMs: 20, prepareImage: async () => ({ image: 'bench:1' }) });
    const job = (i: number): TargetJob => ({
      runId: `bench-${i}`,
      experiment: 'bench',
      codeDir: code,
      cwd: '',
      argv: ['true'],
      env: { GITML_RUN_ID: `bench-${i}`, GITML_OUTPUTS: '/gitml/run/outputs', GITML_METRICS: '/gitml/run/metrics.jsonl' },
      secretEnv: {},
      environment: { name: 'e', file: '', spec: { kind: 'Environment' } },
      environmentDigest: '',
      compute,
      repoDir: work,
      signal: new AbortController().signal,
      onLog: () => {},
    });
    await target.run(job(-1)); // warm up: client-node import, TLS session
    const viaTarget: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const r = await target.run(job(i));
      if (r.status !== 'completed') throw new Error(`bench run ${i}: ${r.status} ${r.error ?? ''}`);
      viaTarget.push(performance.now() - t);
      t = performance.now();
      spawnSync('/bin/sh', ['-c', kubeEntryScript(), 'gitml-entry', 'x', '1000', path.join(work, 'd'), '--', 'true'], {
        env: { PATH: process.env.PATH, GITML_OUTPUTS: path.join(work, 'd/outputs'), GITML_METRICS: path.join(work, 'd/m.jsonl') },
      });
      direct.push(performance.now() - t);
    }
    console.log(`run overhead against the recording API server (${RUNS} runs of \`true\`)`);
    console.log(`  baseline (entry + command spawned directly): ${fmt(median(direct))}   KubernetesTarget.run: ${fmt(median(viaTarget))}   overhead ${fmt(median(viaTarget) - median(direct))}   ratio ${(median(viaTarget) / median(direct)).toFixed(1)}x`);
    console.log(`  API requests per run: ${Math.round(server.requests.length / (RUNS + 1))}`);
  } finally {
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
