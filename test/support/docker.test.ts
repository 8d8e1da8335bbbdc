import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  BASE_IMAGE,
  LOCAL_DOCKER_HOST,
  TEST_REGISTRY,
  TINY_IMAGE,
  copyImage,
  describeDocker,
  dockerAvailable,
  dockerAvailableSync,
  dockerClient,
  startSecondEngine,
  type SecondEngine,
} from './docker.js';
import { ROOT, removeDir, tmpDir } from './repo.js';

/** Runs a container to completion and returns its exit code and output (no TTY: demuxed). */
async function run(host: string, image: string, cmd: string[], user = '1000'): Promise<{ code: number; out: string }> {
  const docker = await dockerClient(host);
  const c = await docker.createContainer({ Image: image, Cmd: cmd, User: user });
  try {
    const stream = await c.attach({ stream: true, stdout: true, stderr: true });
    let out = '';
    const sink = { write: (b: Buffer) => ((out += b.toString('utf8')), true) } as unknown as NodeJS.WritableStream;
    docker.modem.demuxStream(stream, sink, sink);
    await c.start();
    const { StatusCode } = await c.wait();
    await new Promise((r) => setImmediate(r));
    return { code: StatusCode, out };
  } finally {
    await c.remove({ force: true });
  }
}

describeDocker('the machine engine', () => {
  test('answers a ping', async () => {
    expect(await dockerAvailable()).toBe(true);
    expect(dockerAvailableSync()).toBe(true);
  });

  test('the tiny image runs a command as a non-root user', async () => {
    const r = await run(LOCAL_DOCKER_HOST, TINY_IMAGE, ['sh', '-c', 'id -u; echo hello']);
    expect(r).toEqual({ code: 0, out: '1000\nhello\n' });
  });

  test('the base image has scikit-learn, numpy and pandas', async () => {
    const r = await run(LOCAL_DOCKER_HOST, BASE_IMAGE, ['python3', '-c', 'import sklearn, numpy, pandas; print(sklearn.__version__)'], '65534');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+/);
  });

  test('the test registry accepts a push and lists the tag', async () => {
    const docker = await dockerClient();
    const repo = `${TEST_REGISTRY}/gitml-test/tiny`;
    const tag = `t${process.pid}-${Date.now()}`;
    await docker.getImage(TINY_IMAGE).tag({ repo, tag });
    try {
      const stream = await docker.getImage(`${repo}:${tag}`).push({ authconfig: {} });
      const events: Array<{ error?: string }> = await new Promise((resolve, reject) =>
        docker.modem.followProgress(stream, (err: Error | null, res: Array<{ error?: string }>) => (err ? reject(err) : resolve(res))),
      );
      expect(events.filter((e) => e.error)).toEqual([]);
      const res = await fetch(`http://${TEST_REGISTRY}/v2/gitml-test/tiny/tags/list`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { tags: string[] }).tags).toContain(tag);
    } finally {
      await docker.getImage(`${repo}:${tag}`).remove();
    }
  });
});

describeDocker('a second engine', () => {
  let engine: SecondEngine;
  beforeAll(async () => {
    engine = await startSecondEngine();
  });
  afterAll(async () => {
    await engine?.stop();
  });

  test('is a separate engine that answers on loopback TCP', async () => {
    expect(engine.host).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(await dockerAvailable(engine.host)).toBe(true);
    const remote = await dockerClient(engine.host);
    expect(await remote.listImages()).toEqual([]);
  });

  test('runs a container from an image copied over with copyImage, and publishes a port', async () => {
    await copyImage(LOCAL_DOCKER_HOST, engine.host, TINY_IMAGE);
    expect(await run(engine.host, TINY_IMAGE, ['sh', '-c', 'echo remote'])).toEqual({ code: 0, out: 'remote\n' });

    const remote = await dockerClient(engine.host);
    const c = await remote.createContainer({
      Image: TINY_IMAGE,
      User: '1000',
      Cmd: ['sh', '-c', 'mkdir -p /tmp/www && echo served > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    try {
      await c.start();
      const port = (await c.inspect()).NetworkSettings.Ports['8080/tcp']?.[0]?.HostPort;
      expect(port).toMatch(/^\d+$/);
      let body = '';
      for (let i = 0; i < 50 && body === ''; i++) {
        body = await fetch(`http://127.0.0.1:${port}/`).then((r) => (r.ok ? r.text() : ''), () => '');
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toBe('served\n');
    } finally {
      await c.remove({ force: true });
    }
  });

  test('once stopped, it is detected as unavailable', async () => {
    const other = await startSecondEngine();
    expect(await dockerAvailable(other.host)).toBe(true);
    await other.stop();
    expect(await dockerAvailable(other.host, 1000)).toBe(false);
    expect(dockerAvailableSync(other.host)).toBe(false);
    // Starting and stopping engines left the machine's engine and its docker0 bridge working.
    expect(await run(LOCAL_DOCKER_HOST, TINY_IMAGE, ['echo', 'still here'])).toEqual({ code: 0, out: 'still here\n' });
  });
});

// describeDocker's contract when the engine is missing, seen from a child vitest run whose
// DOCKER_HOST points at a port nobody listens on.
function runMissingEngineFixture(ci: boolean): { status: number | null; passed: number; failed: number; skipped: number } {
  const dir = tmpDir('gitml-docker-missing-');
  try {
    const config = path.join(dir, 'vitest.config.mjs');
    writeFileSync(config, `export default { test: { include: ['test/support/fixtures/docker-missing.fixture.ts'] } };\n`);
    const out = path.join(dir, 'result.json');
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: 'tcp://127.0.0.1:9' };
    delete env.CI;
    delete env.VITEST;
    delete env.VITEST_WORKER_ID;
    delete env.VITEST_POOL_ID;
    if (ci) env.CI = 'true';
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', ROOT, '--config', config, '--reporter=json', `--outputFile=${out}`],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 },
    );
    const j = JSON.parse(readFileSync(out, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number };
    return { status: r.status, passed: j.numPassedTests, failed: j.numFailedTests, skipped: j.numPendingTests };
  } finally {
    removeDir(dir);
  }
}

test('describeDocker and requireDocker fail under CI and skip elsewhere when the engine is missing', () => {
  expect(runMissingEngineFixture(true)).toEqual({ status: 1, passed: 0, failed: 2, skipped: 0 });
  expect(runMissingEngineFixture(false)).toEqual({ status: 0, passed: 0, failed: 0, skipped: 2 });
});
