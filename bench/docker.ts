/**
 * Docker target overhead: `npx tsx bench/docker.ts [--runs 5]`.
 *
 * The same command (`python3 -c 'print(42)'` in the sklearn environment image, as uid 1000) is
 * run three ways, interleaved, --runs times each, with the environment image already built:
 *   baseline  `docker run --rm -u 1000:1000 IMAGE python3 -c ...` by hand (the docker CLI);
 *   target    DockerTarget.run() in this process (ping, image check, create, putArchive of
 *             the code, start, logs, wait, getArchive of outputs and metrics, remove);
 *   cli       `gitml run` of an experiment with that command (node start-up, loading the
 *             workspace, exporting the commit, the target, recording the run on `runs`),
 *             when the CLI is built (dist/).
 * Prints medians, the overhead over the baseline in ms and the ratio. Target: < 1.5 s.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerClient, pingDocker } from '../core/docker/client.js';
import { buildEnvironmentImage } from '../core/docker/environment-image.js';
import type { DockerCompute, Environment, Loaded } from '../core/entities/types.js';
import { environmentDigest } from '../core/environments/digest.js';
import { DockerTarget } from '../core/targets/docker.js';
import type { TargetJob } from '../core/targets/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BASE = process.env.GITML_TEST_BASE_IMAGE || 'gitml/python:bookworm';
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1] || 0) || 5;
const CMD = ['python3', '-c', 'print(42)'];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function main(): Promise<void> {
  const docker = dockerClient();
  await pingDocker(docker);
  const work = mkdtempSync(path.join(tmpdir(), 'gitml-bench-docker-'));
  const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com', NO_COLOR: '1' };
  try {
    // A repository with the experiment, for the CLI and as the target's code folder.
    const repo = path.join(work, 'repo');
    mkdirSync(path.join(repo, 'gitml/experiments'), { recursive: true });
    mkdirSync(path.join(repo, 'gitml/compute'), { recursive: true });
    mkdirSync(path.join(repo, 'gitml/environments'), { recursive: true });
    mkdirSync(path.join(repo, 'src'), { recursive: true });
    writeFileSync(path.join(repo, 'gitml.yaml'), 'kind: Workspace\nname: bench\ndefaults:\n  compute: docker\n  environment: py\n');
    writeFileSync(path.join(repo, 'gitml/compute/docker.yaml'), 'kind: ComputeTarget\ntype: docker\n');
    writeFileSync(path.join(repo, 'gitml/environments/py.yaml'), `kind: Environment\nimage: ${BASE}\n`);
    writeFileSync(path.join(repo, 'gitml/experiments/hello.yaml'), `kind: Experiment\ncommand: ${JSON.stringify(CMD)}\n`);
    writeFileSync(path.join(repo, 'src/train.py'), 'print(42)\n');
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo, env: gitEnv });
    execFileSync('git', ['add', '-A'], { cwd: repo, env: gitEnv });
    execFileSync('git', ['commit', '-q', '-m', 'bench'], { cwd: repo, env: gitEnv });

    const environment: Loaded<Environment> = { name: 'py', file: 'gitml/environments/py.yaml', spec: { kind: 'Environment', image: BASE } };
    const compute = { name: 'docker', file: 'gitml/compute/docker.yaml', spec: { kind: 'ComputeTarget', type: 'docker' } as DockerCompute };
    const digest = await environmentDigest(environment, repo);
    const image = await buildEnvironmentImage({ docker, environment, digest, codeDir: repo });
    console.log(`environment image ${image.tag} (${image.built ? 'built now' : 'cached'})`);

    const baseline = (): number => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync('docker', ['run', '--rm', '-u', '1000:1000', image.tag, ...CMD], { encoding: 'utf8' });
      if (r.status !== 0 || r.stdout.trim() !== '42') throw new Error(`docker run failed: ${r.stderr}`);
      return ms(t0);
    };
    const target = new DockerTarget({ docker });
    let seq = 0;
    const viaTarget = async (): Promise<number> => {
      const scratch = path.join(work, `t${seq++}`);
      const codeDir = path.join(scratch, 'code');
      mkdirSync(codeDir, { recursive: true });
      writeFileSync(path.join(codeDir, 'train.py'), 'print(42)\n');
      let out = '';
      const job: TargetJob = {
        runId: `bench-${process.pid}-${seq}`,
        experiment: 'hello',
        codeDir,
        cwd: '',
        argv: CMD,
        env: { GITML_OUTPUTS: '/gitml/outputs', GITML_METRICS: '/gitml/metrics.jsonl' },
        secretEnv: {},
        environment,
        environmentDigest: digest,
        compute: compute as TargetJob['compute'],
        repoDir: repo,
        signal: new AbortController().signal,
        onLog: (c) => (out += c),
      };
      const t0 = process.hrtime.bigint();
      const r = await target.run(job);
      const t = ms(t0);
      if (r.status !== 'completed' || out.trim() !== '42') throw new Error(`target run ${r.status}: ${r.error} ${out}`);
      rmSync(scratch, { recursive: true, force: true });
      return t;
    };
    const bin = path.join(ROOT, 'bin/gitml.js');
    const haveCli = existsSync(path.join(ROOT, 'dist/cli/main.js')) && existsSync(path.join(ROOT, 'dist/core/targets/docker.js'));
    const viaCli = (): number => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [bin, 'run', 'hello'], { cwd: repo, env: gitEnv, encoding: 'utf8' });
      const t = ms(t0);
      if (r.status !== 0) throw new Error(`gitml run failed (${r.status}): ${r.stderr.slice(-2000)}`);
      return t;
    };

    // Warm up each path once (page cache, node module cache, the engine's first container).
    baseline();
    await viaTarget();
    if (haveCli) viaCli();

    const b: number[] = [];
    const t: number[] = [];
    const c: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      b.push(baseline());
      t.push(await viaTarget());
      if (haveCli) c.push(viaCli());
    }
    const mb = median(b);
    const mt = median(t);
    console.log(`\n${RUNS} runs each, medians (2-core shared machine; interleaved):`);
    console.log(`  baseline  docker run --rm (CLI by hand)     ${mb.toFixed(0).padStart(6)} ms`);
    console.log(`  target    DockerTarget.run (in process)     ${mt.toFixed(0).padStart(6)} ms   overhead ${(mt - mb).toFixed(0)} ms   ratio ${(mt / mb).toFixed(2)}x   ${mt - mb < 1500 ? 'OK (< 1.5 s)' : 'OVER 1.5 s'}`);
    if (haveCli) {
      const mc = median(c);
      console.log(`  cli       gitml run (whole command)         ${mc.toFixed(0).padStart(6)} ms   overhead ${(mc - mb).toFixed(0)} ms   ratio ${(mc / mb).toFixed(2)}x   ${mc - mb < 1500 ? 'OK (< 1.5 s)' : 'OVER 1.5 s'}`);
    } else {
      console.log('  cli       skipped: build first (npx tsc -p tsconfig.json) to measure `gitml run`');
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
