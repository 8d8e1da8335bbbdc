/**
 * `gitml run` on the docker target from the CLI: the sklearn template's experiment in
 * gitml/python:bookworm, recorded with its environment image; an engine that does not answer
 * (exit 3, recorded failed); a failed environment build (exit 1, build log in the run's logs).
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TINY_IMAGE, describeDocker } from '../support/docker.js';
import { BIN, GIT_ENV, git, gitml, removeDir, tmpDir } from '../support/repo.js';

/** Containers of a run, running or not (the target labels each with the run id). */
function runContainers(runId: string): string[] {
  const r = spawnSync('docker', ['ps', '-a', '-q', '--filter', `label=dev.gitml.run-id=${runId}`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

let repo = '';

async function closedPort(): Promise<number> {
  return await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function commitFile(rel: string, text: string): void {
  writeFileSync(path.join(repo, rel), text);
  git(repo, 'add', rel);
  git(repo, 'commit', '-q', '-m', `change ${rel}`);
}

describeDocker('gitml run on the docker target (CLI)', () => {
  beforeAll(() => {
    repo = tmpDir('gitml-docker-cli-');
    const r = gitml(repo, ['init', '.', '--template', 'sklearn']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => {
    if (repo) removeDir(repo);
  });

  test("the sklearn template's experiment runs in a container and is recorded with its image", () => {
    const r = gitml(repo, ['run', 'train', '--compute', 'docker', '--param', 'C=0.5', '--json'], { timeout: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.status).toBe('completed');
    expect(rec.compute).toMatchObject({ name: 'docker', type: 'docker' });
    expect(rec.host).toBe('unix:///var/run/docker.sock');
    expect(rec.environment.image).toMatch(/^gitml-env\/sklearn:[0-9a-f]{16}$/);
    expect(rec.environment.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rec.metrics.accuracy).toBeGreaterThan(0.8);
    expect(rec.artifacts.map((a: { path: string }) => a.path).sort()).toEqual(['model.pkl', 'reference.jsonl', 'sample.json']);
    // A second run of the unchanged environment uses the same image.
    const again = gitml(repo, ['run', 'train', '--compute', 'docker', '--json'], { timeout: 300_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).environment.imageDigest).toBe(rec.environment.imageDigest);
  });

  test('gitml env build makes the image a run of that commit then uses without building', () => {
    const nonce = `${Date.now()}-${process.pid}`;
    commitFile('gitml/environments/tiny.yaml', `kind: Environment\nimage: ${TINY_IMAGE}\nvariables:\n  NONCE: "${nonce}"\n`);
    commitFile('gitml/experiments/hello.yaml', 'kind: Experiment\ncommand: [sh, -c, "echo uid=$(id -u)"]\nenvironment: tiny\ncompute: docker\n');
    const df = gitml(repo, ['env', 'dockerfile', 'tiny']);
    expect(df.code, df.stderr).toBe(0);
    expect(df.stdout).toContain(`FROM ${TINY_IMAGE}`);
    const b = gitml(repo, ['env', 'build', 'tiny', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const built = JSON.parse(b.stdout);
    expect(built).toMatchObject({ environment: 'tiny', built: true });
    expect(built.tag).toMatch(/^gitml-env\/tiny:[0-9a-f]{16}$/);
    const again = JSON.parse(gitml(repo, ['env', 'build', 'tiny', '--json']).stdout);
    expect(again).toMatchObject({ built: false, id: built.id });
    const r = gitml(repo, ['run', 'hello', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.environment).toMatchObject({ digest: built.digest, image: built.tag, imageDigest: built.id });
    expect(gitml(repo, ['runs', 'logs', rec.id]).stdout).toContain('uid=1000');
    spawnSync('docker', ['rmi', built.tag], { stdio: 'ignore' });
  });

  test('an engine that does not answer: exit 3 (environment), the run recorded as failed', async () => {
    commitFile('gitml/compute/nowhere.yaml', `kind: ComputeTarget\ntype: docker\nhost: tcp://127.0.0.1:${await closedPort()}\n`);
    const r = gitml(repo, ['run', 'train', '--compute', 'nowhere']);
    expect(r.code).toBe(3);
    // One line says it (not also a log line before it), and no stack trace.
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([expect.stringMatching(/^error: the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ does not answer/)]);
    expect(r.stderr.split(errors[0]!.slice('error: '.length)).length).toBe(2);
    const list = gitml(repo, ['runs', '--json', '--status', 'failed']);
    expect(list.code, list.stderr).toBe(0);
    const runs = JSON.parse(list.stdout).runs as Array<{ compute: { name: string } }>;
    expect(runs.some((x) => x.compute.name === 'nowhere')).toBe(true);
    expect(gitml(repo, ['env', 'build', 'sklearn', '--compute', 'nowhere']).code).toBe(3);
  });

  test('a failed environment build: exit 1, the build log in the run logs', () => {
    // A user Dockerfile whose RUN fails: as real a build failure as a bad apt package, in a second.
    commitFile('broken.Dockerfile', `FROM ${TINY_IMAGE}\nRUN echo gitml-build-step-that-fails && exit 7\n`);
    commitFile('gitml/environments/broken.yaml', 'kind: Environment\ndockerfile: broken.Dockerfile\ncontext: gitml\n');
    commitFile('gitml/experiments/broken.yaml', 'kind: Experiment\ncommand: [python3, -c, "print(1)"]\nenvironment: broken\ncompute: docker\n');
    const r = gitml(repo, ['run', 'broken', '--json'], { timeout: 300_000 });
    expect(r.code).toBe(1);
    const list = JSON.parse(gitml(repo, ['runs', '--json', '--experiment', 'broken']).stdout).runs as Array<{ id: string; status: string }>;
    expect(list[0]!.status).toBe('failed');
    const logs = gitml(repo, ['runs', 'logs', list[0]!.id]);
    expect(logs.stdout + logs.stderr).toContain('gitml-build-step-that-fails');
  });

  test("the experiment's timeout: timed_out, exit 1, the container removed", () => {
    commitFile('gitml/environments/tinyrun.yaml', `kind: Environment\nimage: ${TINY_IMAGE}\n`);
    commitFile('gitml/experiments/sleepy.yaml', 'kind: Experiment\ncommand: [sh, -c, "echo started; sleep 60; echo never"]\nenvironment: tinyrun\ncompute: docker\ntimeout: 15s\n');
    const r = gitml(repo, ['run', 'sleepy', '--json'], { timeout: 300_000 });
    expect(r.code, r.stderr).toBe(1);
    const rec = JSON.parse(r.stdout);
    expect(rec.status).toBe('timed_out');
    expect(rec.durationMs).toBeLessThan(60_000);
    const logs = gitml(repo, ['runs', 'logs', rec.id]).stdout;
    expect(logs).toContain('started');
    expect(logs).not.toContain('never');
    expect(runContainers(rec.id)).toEqual([]);
  });

  test('Ctrl-C (SIGINT to the CLI) during a docker run: canceled, exit 130, the container removed', async () => {
    commitFile('gitml/experiments/waits.yaml', 'kind: Experiment\ncommand: [sh, -c, "echo started; sleep 60; echo never"]\nenvironment: tinyrun\ncompute: docker\n');
    const child = spawn(process.execPath, [BIN, 'run', 'waits', '--json'], { cwd: repo, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        err += d;
        if (err.includes('started')) resolve();
      });
      void exited.then(() => reject(new Error(`exited early: ${err}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(err).not.toMatch(/\n\s+at /);
    const rec = JSON.parse(out);
    expect(rec.status).toBe('canceled');
    expect(gitml(repo, ['runs', 'logs', rec.id]).stdout).not.toContain('never');
    expect(runContainers(rec.id)).toEqual([]);
  }, 120_000);
});
