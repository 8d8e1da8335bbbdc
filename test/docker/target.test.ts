/**
 * The docker target against the real engine: a scikit-learn training run in
 * gitml/python:bookworm as uid 1000, the environment image built once and reused, outputs and
 * metrics collected through the archive API, and the faults (symlink outputs, failed builds,
 * non-zero exits, missing commands, cancel, timeout, unreachable engine).
 */
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { dockerClient, pingDocker, type GitmlDocker } from '../../core/docker/client.js';
import { buildEnvironmentImage } from '../../core/docker/environment-image.js';
import { GitmlError } from '../../core/errors.js';
import { DockerTarget } from '../../core/targets/docker.js';
import type { EnvironmentImage } from '../../core/docker/environment-image.js';
import { BASE_IMAGE, TINY_IMAGE, describeDocker } from '../support/docker.js';
import { removeDir } from '../support/repo.js';
import { compute, env, makeJob } from './helpers.js';

const TRAIN_PY = `
import json, os, pickle, sys, time
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

C = float(sys.argv[1])
X, y = load_iris(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
model = LogisticRegression(C=C, max_iter=500).fit(Xtr, ytr)
acc = float(model.score(Xte, yte))
out = os.environ["GITML_OUTPUTS"]
with open(os.path.join(out, "model.pkl"), "wb") as f:
    pickle.dump(model, f)
os.makedirs(os.path.join(out, "reports"), exist_ok=True)
with open(os.path.join(out, "reports", "summary.json"), "w") as f:
    json.dump({"accuracy": acc}, f)
with open(os.environ["GITML_METRICS"], "a") as f:
    for step in range(3):
        f.write(json.dumps({"name": "accuracy", "value": acc, "step": step, "timestamp": int(time.time() * 1000)}) + "\\n")
print("uid=%d gid=%d" % (os.getuid(), os.getgid()))
print("cwd=" + os.getcwd())
print("secret-length=%d" % len(os.environ.get("API_TOKEN", "")))
print("training done", file=sys.stderr)
`;

let docker: GitmlDocker;
const scratches: string[] = [];
const tagsToRemove: string[] = [];
// A fresh environment for this test run (a nonce variable changes the digest), so the
// "built once, then reused" assertions see a real first build. Its layers stay cached.
const nonce = `${Date.now()}-${process.pid}`;
const tinyEnv = env('tiny', { image: TINY_IMAGE, variables: { GITML_TEST_NONCE: nonce } });
const sklearnEnv = env('sklearn', { image: BASE_IMAGE });

async function containersOf(runId: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`dev.gitml.run-id=${runId}`] } });
  return list.length;
}

describeDocker('docker target (real engine)', () => {
  beforeAll(async () => {
    docker = dockerClient();
    await pingDocker(docker);
  });

  afterAll(async () => {
    for (const s of scratches) removeDir(s);
    for (const t of tagsToRemove) await docker.getImage(t).remove({ noprune: false }).catch(() => undefined);
  });

  test('trains a scikit-learn model in gitml/python:bookworm as uid 1000, collects outputs and metrics', async () => {
    const images: EnvironmentImage[] = [];
    const target = new DockerTarget({ onImage: (i) => images.push(i) });
    const { job, logs, scratch } = await makeJob({
      files: { 'src/train.py': TRAIN_PY, 'README.md': 'x' },
      cwd: 'src',
      argv: ['python3', 'train.py', '0.5'],
      environment: sklearnEnv,
      secretEnv: { API_TOKEN: 's3cr3t-value' },
    });
    scratches.push(scratch);
    const r = await target.run(job);
    expect(r.status, logs.stderr).toBe('completed');
    expect(r.exitCode).toBe(0);
    const uid = /uid=(\d+) gid=(\d+)/.exec(logs.stdout);
    expect(uid).not.toBeNull();
    expect(Number(uid![1])).toBe(1000);
    expect(Number(uid![2])).toBe(1000);
    expect(logs.stdout).toContain('cwd=/gitml/code/src');
    expect(logs.stdout).toContain(`secret-length=${'s3cr3t-value'.length}`);
    expect(logs.stderr).toContain('training done');
    expect(r.image).toMatch(/^gitml-env\/sklearn:[0-9a-f]{16}$/);
    expect(r.image).toBe(`gitml-env/sklearn:${job.environmentDigest.slice(7, 23)}`);
    expect(r.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.host).toBe('unix:///var/run/docker.sock');
    // Outputs came back through the archive API, folder structure intact.
    expect(readFileSync(path.join(r.outputsDir, 'model.pkl')).subarray(0, 1)[0]).toBe(0x80); // pickle protocol marker
    const summary = JSON.parse(readFileSync(path.join(r.outputsDir, 'reports/summary.json'), 'utf8'));
    expect(summary.accuracy).toBeGreaterThan(0.8);
    const metrics = readFileSync(r.metricsFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(3);
    expect(metrics[2]).toMatchObject({ name: 'accuracy', step: 2, value: summary.accuracy });
    expect(await containersOf(job.runId)).toBe(0);
    // The environment image carries its labels and runs as the non-root user by default.
    const info = await docker.getImage(r.image!).inspect();
    expect(info.Config.Labels['dev.gitml.environment']).toBe('sklearn');
    expect(info.Config.Labels['dev.gitml.digest']).toBe(job.environmentDigest);
    expect(info.Config.User).toBe('1000:1000');
    expect(images[0]!.id).toBe(r.imageDigest);
  });

  test('an environment image is built once and reused while its spec is unchanged', async () => {
    const { job, scratch } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['true'], environment: tinyEnv });
    scratches.push(scratch);
    const first = await buildEnvironmentImage({ docker, environment: tinyEnv, digest: job.environmentDigest, codeDir: job.codeDir });
    tagsToRemove.push(first.tag);
    expect(first.built).toBe(true);
    expect(first.log).toContain('Successfully');
    const images: EnvironmentImage[] = [];
    const r = await new DockerTarget({ onImage: (i) => images.push(i) }).run(job);
    expect(r.status).toBe('completed');
    expect(images[0]).toMatchObject({ tag: first.tag, id: first.id, built: false });
    const again = await buildEnvironmentImage({ docker, environment: tinyEnv, digest: job.environmentDigest, codeDir: job.codeDir });
    expect(again).toMatchObject({ tag: first.tag, id: first.id, built: false, log: '' });
    // A changed spec is a new image.
    const changed = env('tiny', { image: TINY_IMAGE, variables: { GITML_TEST_NONCE: `${nonce}-2` } });
    const { job: job2, scratch: s2 } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['true'], environment: changed });
    scratches.push(s2);
    expect(job2.environmentDigest).not.toBe(job.environmentDigest);
    const other = await buildEnvironmentImage({ docker, environment: changed, digest: job2.environmentDigest, codeDir: job2.codeDir });
    tagsToRemove.push(other.tag);
    expect(other.tag).not.toBe(first.tag);
    expect(other.built).toBe(true);
  });

  test("an environment from the user's own Dockerfile gets the run user on top; its ENTRYPOINT does not wrap the command", async () => {
    const dfEnv = env('own-dockerfile', { dockerfile: 'docker/Dockerfile' });
    const { job, logs, scratch } = await makeJob({
      files: {
        'docker/Dockerfile': `FROM ${TINY_IMAGE}\nCOPY marker.txt /opt/marker.txt\nCOPY . /opt/ctx\nENTRYPOINT ["sh", "-c", "echo entrypoint-ran"]\nUSER nobody\n`,
        'docker/marker.txt': `marker-${nonce}\n`,
        'docker/.dockerignore': '# big data stays out of the build context\ndata\n*.secret\n!keep.secret\n',
        'docker/data/big.csv': 'x\n',
        'docker/a.secret': 'no\n',
        'docker/keep.secret': 'yes\n',
        'run.sh': 'cat /opt/marker.txt\necho "uid=$(id -u)"\necho "ctx=$(cd /opt/ctx && ls -A | tr "\\n" " ")"\n',
      },
      argv: ['sh', 'run.sh'],
      environment: dfEnv,
    });
    scratches.push(scratch);
    const images: EnvironmentImage[] = [];
    const r = await new DockerTarget({ onImage: (i) => images.push(i) }).run(job);
    tagsToRemove.push(r.image!, `${r.image!}-base`);
    expect(r.status, logs.stderr).toBe('completed');
    expect(images[0]!.built).toBe(true);
    expect(logs.stdout).toContain(`marker-${nonce}`);
    expect(logs.stdout).toContain('uid=1000');
    expect(logs.stdout).not.toContain('entrypoint-ran');
    // .dockerignore applied to the context: data/ and a.secret left out, the exception kept.
    expect(logs.stdout).toMatch(/ctx=\.dockerignore Dockerfile keep\.secret marker\.txt \n/);
    // The Dockerfile's context is part of the digest: the same files, the same image.
    const again = await buildEnvironmentImage({ docker, environment: dfEnv, digest: job.environmentDigest, codeDir: job.codeDir });
    expect(again).toMatchObject({ built: false, id: r.imageDigest });
  });

  test('an output symlink that points outside the outputs folder is refused; files and inner links come back', async () => {
    const { job, logs, scratch } = await makeJob({
      files: { 'run.sh': 'set -e\ncd "$GITML_OUTPUTS"\necho kept > ok.txt\nln -s /etc/passwd leak\nln -s ../../../../etc escape\nln -s ok.txt inner\nmkdir sub\necho deep > sub/deep.txt\n' },
      argv: ['sh', 'run.sh'],
      environment: tinyEnv,
    });
    scratches.push(scratch);
    const r = await new DockerTarget().run(job);
    expect(r.status, logs.stderr).toBe('completed');
    const names = readdirSync(r.outputsDir).sort();
    expect(names).toEqual(['inner', 'ok.txt', 'sub']);
    expect(readFileSync(path.join(r.outputsDir, 'ok.txt'), 'utf8')).toBe('kept\n');
    expect(lstatSync(path.join(r.outputsDir, 'inner')).isSymbolicLink()).toBe(true);
    expect(readFileSync(path.join(r.outputsDir, 'sub/deep.txt'), 'utf8')).toBe('deep\n');
    expect(existsSync(path.join(r.outputsDir, 'leak'))).toBe(false);
    expect(logs.stderr).toMatch(/leak not collected/);
    expect(logs.stderr).toMatch(/escape not collected/);
    expect(r.metricsFile).toBeUndefined();
  });

  test('a metrics file that is a symlink to a host path is not collected', async () => {
    const { job, scratch } = await makeJob({ files: { 'run.sh': 'ln -s /etc/passwd "$GITML_METRICS"\n' }, argv: ['sh', 'run.sh'], environment: tinyEnv });
    scratches.push(scratch);
    const r = await new DockerTarget().run(job);
    expect(r.status).toBe('completed');
    expect(r.metricsFile).toBeUndefined();
  });

  test('a non-zero exit is a failed result with its logs, and the container is removed', async () => {
    const { job, logs, scratch } = await makeJob({
      files: { 'fail.sh': 'echo "about to fail"\necho "bad things" >&2\nexit 3\n' },
      argv: ['sh', 'fail.sh'],
      environment: tinyEnv,
    });
    scratches.push(scratch);
    const r = await new DockerTarget().run(job);
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(3);
    expect(r.error).toBeTruthy();
    expect(logs.stdout).toContain('about to fail');
    expect(logs.stderr).toContain('bad things');
    expect(await containersOf(job.runId)).toBe(0);
  });

  test('a command that does not exist is a failed result (exit 127), not a throw', async () => {
    const { job, logs, scratch } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['no-such-command-gitml', '--x'], environment: tinyEnv });
    scratches.push(scratch);
    const r = await new DockerTarget().run(job);
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(127);
    // Said as the local target says it; the runtime's own words stay in the log.
    expect(r.error).toMatch(/^command not found in the container: "no-such-command-gitml"/);
    expect(logs.stderr).toMatch(/the container did not start: .*no-such-command-gitml/);
    expect(await containersOf(job.runId)).toBe(0);
  });

  test('cancel through the AbortSignal kills the container: canceled, container removed', async () => {
    const ac = new AbortController();
    const { job, logs, scratch } = await makeJob({
      files: { 'loop.sh': 'echo started\nwhile true; do sleep 1; done\n' },
      argv: ['sh', 'loop.sh'],
      environment: tinyEnv,
      signal: ac.signal,
    });
    scratches.push(scratch);
    const running = new DockerTarget().run(job);
    // Cancel once the process is really running (its first line arrived).
    for (let i = 0; i < 200 && !logs.stdout.includes('started'); i++) await new Promise((res) => setTimeout(res, 50));
    expect(logs.stdout).toContain('started');
    ac.abort('cancel');
    const r = await running;
    expect(r.status).toBe('canceled');
    expect(await containersOf(job.runId)).toBe(0);
  });

  test('a timeout abort is timed_out', async () => {
    const ac = new AbortController();
    const { job, scratch } = await makeJob({ files: { 'loop.sh': 'sleep 60\n' }, argv: ['sh', 'loop.sh'], environment: tinyEnv, signal: ac.signal });
    scratches.push(scratch);
    setTimeout(() => ac.abort('timeout'), 1500);
    const r = await new DockerTarget().run(job);
    expect(r.status).toBe('timed_out');
    expect(await containersOf(job.runId)).toBe(0);
  });

  test('a build that fails (an apt package that does not exist) throws IMAGE_BUILD with the build log', async () => {
    const bad = env('bad-apt', { image: BASE_IMAGE, apt: ['gitml-no-such-package-xyz'] });
    const { job, scratch } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['true'], environment: bad });
    scratches.push(scratch);
    const err = await new DockerTarget().run(job).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GitmlError);
    expect((err as GitmlError).code).toBe('IMAGE_BUILD');
    const log = String((err as GitmlError).data.log);
    expect(log).toContain('gitml-no-such-package-xyz');
    expect(log).toMatch(/Step \d+\/\d+ : RUN/);
    expect(await docker.listImages({ filters: { reference: ['gitml-env/bad-apt'] } })).toHaveLength(0);
  });

  test('a base image that is not on the engine (and no registry) throws IMAGE_BUILD', async () => {
    const missing = env('missing-base', { image: 'gitml/not-here:never' });
    const { job, scratch } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['true'], environment: missing });
    scratches.push(scratch);
    await expect(new DockerTarget().run(job)).rejects.toMatchObject({ code: 'IMAGE_BUILD' });
  });

  test('a root user in the compute target is refused before anything runs', async () => {
    const { job, scratch } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['id'], environment: tinyEnv, compute: compute({ user: '0:0' }) });
    scratches.push(scratch);
    await expect(new DockerTarget().run(job)).rejects.toMatchObject({ code: 'TARGET' });
  });

  test('an engine that does not answer (tcp:// where nothing listens) is DOCKER_UNAVAILABLE', async () => {
    const { createServer } = await import('node:net');
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const c = compute({ host: `tcp://127.0.0.1:${port}` });
    await expect(pingDocker(dockerClient(c.spec))).rejects.toMatchObject({ code: 'DOCKER_UNAVAILABLE' });
    const { job, scratch } = await makeJob({ files: { 'a.txt': 'a' }, argv: ['true'], environment: tinyEnv, compute: c });
    scratches.push(scratch);
    const err = await new DockerTarget().run(job).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitmlError);
    expect((err as GitmlError).code).toBe('DOCKER_UNAVAILABLE');
    expect((err as GitmlError).data.host).toBe(`tcp://127.0.0.1:${port}`);
    // A unix socket that does not exist, too.
    await expect(pingDocker(dockerClient(compute({ host: 'unix:///tmp/gitml-no-such.sock' }).spec))).rejects.toMatchObject({ code: 'DOCKER_UNAVAILABLE' });
  });
});
