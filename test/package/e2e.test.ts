/**
 * The "Done when" of issue 5 against the real Docker engine, in a repository made by
 * `gitml init --template sklearn`: run (on the docker target, so the pickle is made by the
 * scikit-learn of the image that will serve it), register, promote to production, build the
 * image, serve it with --docker and score it through /score, /invocations and
 * /v2/models/iris/infer; the same image id twice; a new version reusing every dependency
 * layer; a push to the local registry; the local (no Docker) server; faults.
 *
 * The set-up and the first test are the README's walk-through ("From model to service"):
 * the same commands with their human output, and the same curl bodies (README_CALLS) with
 * the answers the README shows. Change both together.
 *
 * One repository and one image for the whole file, to keep it fast.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BIN, GIT_ENV, ROOT, gitml, removeDir, tmpDir } from '../support/repo.js';
import { serveJson, type Served as ServedBase } from '../support/serve.js';
import { describeDocker, dockerClient, TEST_REGISTRY, TINY_IMAGE } from '../support/docker.js';
import { isGitmlError } from '../../core/errors.js';

const VENV_BIN = path.join(ROOT, '.venv/bin');
/** The venv (scikit-learn) first on PATH: `python3` of the template's environment is that one. */
const ENV = { PATH: `${VENV_BIN}${path.delimiter}${process.env.PATH}` };

type ServeInfo = { url: string; mode: string; container?: string; imageId?: string; examples: Array<{ protocol: string; path: string; body: unknown; curl: string }> };
type Served = ServedBase<ServeInfo>;

function json(r: { code: number; stdout: string; stderr: string }): Record<string, any> {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

const serve = (dir: string, args: string[], env: Record<string, string> = ENV) => serveJson<ServeInfo>(dir, args, env);

/**
 * The README's curl calls after `gitml serve iris#production --docker`, in its order, with the
 * answers it shows (0 setosa, 1 versicolor, 2 virginica).
 */
const README_CALLS: Array<{ path: string; body?: unknown; answer?: unknown }> = [
  { path: '/v2/health/ready', answer: { ready: true } },
  {
    path: '/score',
    body: { data: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }, { sepal_length: 6.1, sepal_width: 2.9, petal_length: 4.7, petal_width: 1.4 }] },
    answer: { result: [0, 1] },
  },
  {
    path: '/invocations',
    body: { dataframe_split: { columns: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], data: [[5.1, 3.5, 1.4, 0.2], [7.3, 2.9, 6.3, 1.8]] } },
    answer: { predictions: [0, 2] },
  },
  { path: '/invocations', body: { instances: [{ sepal_length: 7.3, sepal_width: 2.9, petal_length: 6.3, petal_width: 1.8 }] }, answer: { predictions: [2] } },
  {
    path: '/v2/models/iris/infer',
    body: { inputs: [{ name: 'input-0', shape: [2, 4], datatype: 'FP64', data: [[5.1, 3.5, 1.4, 0.2], [6.1, 2.9, 4.7, 1.4]] }] },
    answer: { model_name: 'iris', model_version: 'v0.0.1', outputs: [{ name: 'prediction', shape: [2], datatype: 'INT64', data: [0, 1] }] },
  },
  { path: '/metrics' },
  { path: '/openapi.json' },
];

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** Predictions from each protocol's answer. */
function predictions(protocol: string, body: any): unknown[] {
  if (protocol === 'v2') return body.outputs[0].data;
  if (protocol === 'mlflow') return body.predictions;
  return body.result;
}

describeDocker('model to service on the real Docker engine', () => {
  let dir: string;
  let v1Id: string;
  const running: Served[] = [];

  // The README's commands, with their human output (not --json).
  const ok = (args: string[], timeout?: number, cwd = dir) => {
    const r = gitml(cwd, args, { env: ENV, timeout });
    expect(r.code, `gitml ${args.join(' ')}\n${r.stderr}`).toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    return r;
  };

  beforeAll(() => {
    const parent = tmpDir('pkg-e2e-gitml-');
    dir = path.join(parent, 'iris-demo');
    ok(['init', dir, '--template', 'sklearn'], undefined, parent);
    // RUN=$(gitml run train --compute docker --detach); gitml runs show "$RUN" --follow
    const runId = ok(['run', 'train', '--compute', 'docker', '--detach']).stdout.trim();
    expect(runId).toMatch(/^[0-9a-z]{26}$/);
    const follow = ok(['runs', 'show', runId, '--follow'], 300_000);
    expect(follow.stdout).toMatch(/status\s+completed/);
    expect(ok(['model', 'register', 'iris', '--run', runId]).stdout).toContain('registered iris@v0.0.1');
    expect(ok(['model', 'promote', 'iris', 'v0.0.1', 'production']).stdout).toContain('(tag iris#production#1)');
  });

  afterAll(async () => {
    for (const s of running) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    const docker = await dockerClient();
    const left = await docker.listContainers({ all: true, filters: { label: ['dev.gitml.serve=local'] } });
    for (const c of left) if (c.Labels['dev.gitml.model'] === 'iris' && running.some((s) => s.info.container === c.Id)) await docker.getContainer(c.Id).remove({ force: true });
    if (dir) removeDir(path.dirname(dir));
  });

  test("the README's walk-through: manifest, image build (and --push), serve --docker, the curl calls, kill", async () => {
    const manifest = ok(['manifest', 'iris@v0.0.1']);
    expect(JSON.parse(manifest.stdout)).toMatchObject({ kind: 'ModelManifest', model: { name: 'iris', version: 'v0.0.1', flavor: 'sklearn' } });
    expect(manifest.stderr).toMatch(/^digest sha256:[0-9a-f]{64}$/m);
    expect(ok(['image', 'build', 'iris#production'], 300_000).stdout).toMatch(/^(built|up to date) gitml-model\/iris:v0\.0\.1 /);
    const pushed = ok(['image', 'build', 'iris#production', '--push', TEST_REGISTRY], 300_000).stdout;
    expect(pushed).toContain(`pushed ${TEST_REGISTRY}/gitml-model/iris:v0.0.1@sha256:`);
    expect(pushed).toContain(`docker run --rm -p 8080:8080 ${TEST_REGISTRY}/gitml-model/iris:v0.0.1`);

    // gitml serve iris#production --docker --port P > log 2>&1 &  ...until the banner
    const port = await freePort();
    const proc = spawn(process.execPath, [BIN, 'serve', 'iris#production', '--docker', '--port', String(port)], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    let name: string | undefined;
    try {
      const deadline = Date.now() + 120_000;
      while (!/Ctrl-C to stop/.test(out) && proc.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(out, err).toMatch(new RegExp(`^serving iris v0\\.0\\.1 at http://127\\.0\\.0\\.1:${port} \\(container (gitml-serve-\\S+) of gitml-model/iris:v0\\.0\\.1\\)$`, 'm'));
      name = /\(container (\S+) of /.exec(out)![1];
      expect(out).toContain(`docker rm -f ${name}`);
      // The printed examples are commands that work: run each one's body against its path.
      const printed = out.split('\n').filter((l) => l.trim().startsWith("curl -s -X POST"));
      expect(printed).toHaveLength(3);
      for (const line of printed) {
        const m = /curl -s -X POST (\S+) -H 'Content-Type: application\/json' -d '(.*)'$/.exec(line.trim())!;
        const r = await post(m[1], JSON.parse(m[2]));
        expect(r.status, line).toBe(200);
      }

      const url = `http://127.0.0.1:${port}`;
      for (const call of README_CALLS) {
        const res = await fetch(`${url}${call.path}`, call.body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(call.body) });
        const text = await res.text();
        expect(res.status, `${call.path}: ${text}`).toBe(200);
        if (call.answer !== undefined) expect(JSON.parse(text), call.path).toEqual(call.answer);
        if (call.path === '/metrics') expect(text).toMatch(/^gitml_requests_total\{route="\/score",method="POST",code="200"\} [1-9]\d*$/m);
        if (call.path === '/openapi.json') expect(JSON.parse(text)).toMatchObject({ openapi: '3.0.3', info: { title: 'iris scoring API', version: 'v0.0.1' } });
      }

      // kill $SERVE; wait $SERVE: stops and removes the container
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      await expect((await dockerClient()).getContainer(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      // After a failed assertion: stop gitml as a user would, and never leave the container.
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      if (name) await (await dockerClient()).getContainer(name).remove({ force: true }).catch(() => undefined);
    }
  });

  test('gitml image build: labels, non-root, health check; the same manifest gives the same image id', async () => {
    const a = json(gitml(dir, ['image', 'build', 'iris#production', '--json'], { env: ENV, timeout: 300_000 }));
    expect(a.image).toBe('gitml-model/iris:v0.0.1');
    expect(a.digestTag).toBe(`gitml-model/iris:${a.manifestDigest.slice(7, 19)}`);
    v1Id = a.id;
    const manifest = json(gitml(dir, ['manifest', 'iris@v0.0.1', '--json'], { env: ENV }));
    expect(a.manifestDigest).toBe(manifest.digest);

    const info = await (await dockerClient()).getImage(a.image).inspect();
    expect(info.Id).toBe(a.id);
    const labels = info.Config.Labels;
    expect(labels['org.opencontainers.image.version']).toBe('v0.0.1');
    expect(labels['org.opencontainers.image.revision']).toBe(manifest.manifest.source.commit);
    expect(labels['org.opencontainers.image.created']).toBe(manifest.manifest.source.time);
    expect(labels['dev.gitml.model']).toBe('iris');
    expect(labels['dev.gitml.version']).toBe('v0.0.1');
    expect(labels['dev.gitml.manifest-digest']).toBe(a.manifestDigest);
    expect(info.Config.User).toBe('1000:1000');
    expect(Object.keys(info.Config.ExposedPorts ?? {})).toEqual(['8080/tcp']);
    expect(info.Config.Healthcheck?.Test?.join(' ')).toContain('/v2/health/ready');

    // Through the engine again (its build cache), and the fast path: the same id both times.
    const forced = json(gitml(dir, ['image', 'build', 'iris@v0.0.1', '--force', '--json'], { env: ENV }));
    expect(forced.reused).toBe(false);
    expect(forced.id).toBe(a.id);
    const again = json(gitml(dir, ['image', 'build', 'iris@v0.0.1', '--json'], { env: ENV }));
    expect(again.reused).toBe(true);
    expect(again.id).toBe(a.id);
  });

  test('gitml serve --docker: the three protocols answer with the same predictions; Ctrl-C removes the container', async () => {
    // A container left by a gitml serve that was SIGKILLed (its pid is gone): removed on start.
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.once('exit', r));
    const docker0 = await dockerClient();
    const orphan = await docker0.createContainer({
      Image: TINY_IMAGE,
      Cmd: ['true'],
      Labels: { 'dev.gitml.serve': 'local', 'dev.gitml.serve-host': os.hostname(), 'dev.gitml.serve-pid': String(deadPid), 'dev.gitml.model': 'iris' },
    });
    const port = await freePort();
    const sampleLog = path.join(dir, '..', `${path.basename(dir)}-samples.jsonl`);
    const s = await serve(dir, ['iris#production', '--docker', '--port', String(port), '--sample-log', sampleLog, '--sample-rate', '1']);
    running.push(s);
    expect(s.info.url).toBe(`http://127.0.0.1:${port}`);
    expect(s.info.imageId).toBe(v1Id);
    const docker = await dockerClient();
    const c = await docker.getContainer(s.info.container!).inspect();
    expect(c.Config.User).toBe('1000:1000');
    expect(c.Config.Labels['dev.gitml.model']).toBe('iris');
    expect(c.Config.Labels['dev.gitml.serve-pid']).toBe(String(s.proc.pid));
    await expect(orphan.inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(c.HostConfig.PortBindings?.['8080/tcp']?.[0]).toEqual({ HostIp: '127.0.0.1', HostPort: String(port) });

    expect(s.info.examples.map((e) => e.protocol)).toEqual(['azure', 'mlflow', 'v2']);
    const answers: unknown[][] = [];
    for (const e of s.info.examples) {
      expect(e.curl).toContain(`${s.info.url}${e.path}`);
      const r = await post(`${s.info.url}${e.path}`, e.body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      answers.push(predictions(e.protocol, r.body));
    }
    expect(answers[0]).toHaveLength(2);
    for (const p of answers[0]) expect([0, 1, 2]).toContain(p);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect((await post(`${s.info.url}/score`, { data: [{ sepal_length: 'wide' }] })).status).toBe(400);

    // The image's HEALTHCHECK command answers from inside the container (Python, no curl there).
    const hc = (await docker.getImage(s.info.imageId!).inspect()).Config.Healthcheck!.Test!.slice(1);
    const exec = await docker.getContainer(s.info.container!).exec({ Cmd: hc, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    await new Promise((r) => stream.on('end', r).resume());
    expect((await exec.inspect()).ExitCode).toBe(0);

    // Sampled requests reach the host file (written by the container's non-root user).
    const lines = (await import('node:fs')).readFileSync(sampleLog, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(lines[0])).toBeTypeOf('object');

    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
    await expect(docker.getContainer(s.info.container!).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  test('a new version on the same environment reuses every dependency layer; push to the local registry', async () => {
    const run = json(gitml(dir, ['run', 'train', '--compute', 'docker', '-p', 'C=0.5', '--json'], { env: ENV, timeout: 300_000 }));
    json(gitml(dir, ['model', 'register', 'iris', '--run', run.id, '--json'], { env: ENV }));
    // v0.0.1 again first: a no-op unless the server template changed since (it is part of the
    // manifest), so both images are on the same runtime.
    const a = json(gitml(dir, ['image', 'build', 'iris@v0.0.1', '--json'], { env: ENV }));
    const b = json(gitml(dir, ['image', 'build', 'iris@v0.0.2', '--json'], { env: ENV }));
    const [ma, mb] = ['iris@v0.0.1', 'iris@v0.0.2'].map((r) => json(gitml(dir, ['manifest', r, '--json'], { env: ENV })).manifest);
    expect(mb.server, 'the server template changed between the two builds; rerun').toEqual(ma.server);
    expect(mb.environment).toEqual(ma.environment);
    expect(a.manifestDigest).not.toBe(b.manifestDigest);
    expect(b.image).toBe('gitml-model/iris:v0.0.2');
    expect(b.environmentImage.built).toBe(false);
    console.log(`rebuild for a new model version (same environment): ${b.durationMs} ms`);

    const docker = await dockerClient();
    const l1 = (await docker.getImage('gitml-model/iris:v0.0.1').inspect()).RootFS.Layers!;
    const l2 = (await docker.getImage('gitml-model/iris:v0.0.2').inspect()).RootFS.Layers!;
    const env = (await docker.getImage(b.environmentImage.tag).inspect()).RootFS.Layers!;
    expect(l2.length).toBe(l1.length);
    expect(l2.slice(0, -1)).toEqual(l1.slice(0, -1));
    expect(l2.at(-1)).not.toBe(l1.at(-1));
    expect(l1.slice(0, env.length)).toEqual(env);
    expect(l1.length).toBe(env.length + 3); // the server runtime, the model folder (WORKDIR), then the bundle

    const p = json(gitml(dir, ['image', 'build', 'iris@v0.0.2', '--push', TEST_REGISTRY, '--json'], { env: ENV, timeout: 300_000 }));
    expect(p.id).toBe(b.id);
    expect(p.pushed.image).toBe(`${TEST_REGISTRY}/gitml-model/iris:v0.0.2`);
    expect(p.pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const tags = (await (await fetch(`http://${TEST_REGISTRY}/v2/gitml-model/iris/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toContain('v0.0.2');
    const res = await fetch(`http://${TEST_REGISTRY}/v2/gitml-model/iris/manifests/v0.0.2`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(res.headers.get('docker-content-digest')).toBe(p.pushed.digest);
  });

  test('gitml serve without Docker runs the server with the environment Python', async () => {
    const s = await serve(dir, ['iris#production', '--port', '0']);
    running.push(s);
    expect(s.info.mode).toBe('process');
    const e = s.info.examples[0];
    const r = await post(`${s.info.url}${e.path}`, e.body);
    expect(r.status).toBe(200);
    expect(r.body.result).toHaveLength(2);
    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
  });

  test('faults: engine down, port in use, a Python without scikit-learn', async () => {
    const down = gitml(dir, ['image', 'build', 'iris#production'], { env: { ...ENV, DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(down.code).toBe(3);
    expect(down.stderr).not.toMatch(/\n\s+at /);
    const { buildModelImage } = await import('../../core/package/image.js');
    const { dockerClient: gitmlDocker } = await import('../../core/docker/client.js');
    const err = await buildModelImage({ dir, ref: 'iris#production', docker: gitmlDocker({ type: 'docker', host: 'unix:///nonexistent/docker.sock' } as never, dir) }).catch((e) => e);
    expect(isGitmlError(err, 'DOCKER_UNAVAILABLE')).toBe(true);

    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const { serveModel } = await import('../../core/package/serve.js');
      const e2 = await serveModel({ dir, ref: 'iris#production', port }).catch((e) => e);
      expect(isGitmlError(e2, 'SERVE')).toBe(true);
      const cli = gitml(dir, ['serve', 'iris#production', '--docker', '--port', String(port)], { env: ENV });
      expect(cli.code).toBe(1);
    } finally {
      busy.close();
    }

    // No venv on PATH: the system python3 here has no scikit-learn.
    const noSk = gitml(dir, ['serve', 'iris#production', '--port', '0'], { env: { PATH: (process.env.PATH ?? '').split(path.delimiter).filter((p) => !p.startsWith(path.join(ROOT, '.venv'))).join(path.delimiter) } });
    expect(noSk.code).toBe(1);
    expect(noSk.stderr).toMatch(/scikit-learn/);
    expect(noSk.stderr).not.toMatch(/\n\s+at /);
  });
});
