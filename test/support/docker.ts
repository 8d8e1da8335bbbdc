/**
 * Test support for the real Docker engine that `.ci/setup.sh` brings up.
 *
 * - `describeDocker(name, fn)`: a `describe` whose tests need the engine. When the engine does
 *   not answer, it FAILS under CI (`process.env.CI`) and is skipped, loudly, elsewhere.
 * - `requireDocker(ctx)`: the same decision inside one test or hook.
 * - `startSecondEngine()`: a second, separate dockerd on tcp://127.0.0.1:PORT for "remote
 *   Docker" tests; `copyImage()` moves an image between engines (save | load, no registry).
 * - `BASE_IMAGE` (Debian + python3 + scikit-learn, ~1 GB, ~0.7 s to start a container),
 *   `TINY_IMAGE` (static busybox, 2 MB, ~0.3 s), `TEST_REGISTRY` (a real registry on loopback).
 *
 * Example:
 *   describeDocker('docker target', () => {
 *     test('runs a script', async () => {
 *       const docker = await dockerClient();
 *       ...
 *     });
 *   });
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { describe, test } from 'vitest';

/** Debian bookworm minbase with python3, python3-sklearn, numpy, pandas. */
export const BASE_IMAGE = process.env.GITML_TEST_BASE_IMAGE || 'gitml/python:bookworm';
/** Static busybox (sh, wget, nc, httpd, ...) with users root, app (1000) and nobody. */
export const TINY_IMAGE = process.env.GITML_TEST_TINY_IMAGE || 'gitml/tiny:latest';
/** host:port of a plain-HTTP registry on loopback that the local engine can push to. */
export const TEST_REGISTRY = process.env.GITML_TEST_REGISTRY || '127.0.0.1:5000';
/** The engine the tests use: $DOCKER_HOST, else the local socket. */
export const LOCAL_DOCKER_HOST = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';

/** A dockerode client for `host` ('unix:///path' or 'tcp://127.0.0.1:PORT'). */
export async function dockerClient(host: string = LOCAL_DOCKER_HOST): Promise<Dockerode> {
  const { default: Docker } = await import('dockerode');
  return new Docker(dockerOptions(host));
}

function dockerOptions(host: string): Dockerode.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const u = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: u.hostname, port: Number(u.port), protocol: 'http' };
}

/** True when the engine at `host` (or the given client) answers a ping within `timeoutMs`. */
export async function dockerAvailable(host: string | Dockerode = LOCAL_DOCKER_HOST, timeoutMs = 3000): Promise<boolean> {
  const docker = typeof host === 'string' ? await dockerClient(host) : host;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      docker.ping().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const MISSING =
  'The Docker engine does not answer. Run `bash .ci/setup.sh` (as root) to install and start it, ' +
  'or set DOCKER_HOST.';

function warnLoudly(what: string): void {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! SKIPPED: ${what}\n!! ${MISSING}\n!! (Under CI these tests fail instead.)\n${bar}\n`);
}

/**
 * Inside a test or hook: resolves when the engine answers. Otherwise throws under CI, and
 * elsewhere skips the test through `ctx.skip()` (or returns false when no ctx is given).
 */
export async function requireDocker(ctx?: { skip: (note?: string) => void }): Promise<boolean> {
  if (await dockerAvailable()) return true;
  if (process.env.CI) throw new Error(`${MISSING} Tests that need Docker fail under CI.`);
  warnLoudly('a test that needs Docker');
  ctx?.skip(MISSING);
  return false;
}

let syncAnswer: boolean | undefined;

/**
 * Whether the engine answers, decided synchronously (describe blocks are collected
 * synchronously): a child node process pings /_ping. Cached per test file.
 */
export function dockerAvailableSync(host: string = LOCAL_DOCKER_HOST): boolean {
  if (host === LOCAL_DOCKER_HOST && syncAnswer !== undefined) return syncAnswer;
  const target = host.startsWith('unix://') ? { socketPath: host.slice(7) } : (() => {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    return { host: u.hostname, port: Number(u.port) };
  })();
  const script =
    'const [t] = process.argv.slice(1); const o = JSON.parse(t);' +
    "require('http').get({ ...o, path: '/_ping', timeout: 3000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1))" +
    ".on('error', () => process.exit(1)).on('timeout', () => process.exit(1));";
  const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(target)], { timeout: 5000 });
  const ok = r.status === 0;
  if (host === LOCAL_DOCKER_HOST) syncAnswer = ok;
  return ok;
}

/**
 * A `describe` for tests that need the Docker engine. Engine missing: under CI one failing test
 * says so (the suite's own tests are not collected); elsewhere the suite is skipped with a loud
 * warning.
 */
export function describeDocker(name: string, fn: () => void): void {
  if (dockerAvailableSync()) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      test('the Docker engine answers (required under CI)', () => {
        throw new Error(`${MISSING} Tests that need Docker fail under CI.`);
      });
    });
    return;
  }
  warnLoudly(`describe('${name}')`);
  describe.skip(name, fn);
}

// ---------------------------------------------------------------------------------------------
// A second engine, for "remote Docker" tests.

export interface SecondEngine {
  /** 'tcp://127.0.0.1:PORT', for DOCKER_HOST, dockerode or a compute target's `host`. */
  host: string;
  /** The engine's folder (data root, exec root, pid file, dockerd.log). */
  dir: string;
  /** Stops the engine, waits for it to exit and removes its folder and bridge. Idempotent. */
  stop(): Promise<void>;
}

export interface SecondEngineOptions {
  /** How long to wait for the engine to answer. */
  timeoutMs?: number;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const liveEngines = new Set<ChildProcess>();
let exitHookInstalled = false;

function ip(args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore' }).status === 0;
}

/**
 * Starts another dockerd, separate from the machine's engine: its own --data-root, --exec-root,
 * --pidfile, containerd, bridge, and an API on tcp://127.0.0.1:PORT (loopback only, no TLS:
 * test use only). Needs root and dockerd (installed by .ci/setup.sh). Takes about a second.
 * The engine starts empty: use `copyImage(LOCAL_DOCKER_HOST, engine.host, TINY_IMAGE)`.
 */
export async function startSecondEngine(opts: SecondEngineOptions = {}): Promise<SecondEngine> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const port = await freePort();
  // Short paths: containerd's unix socket lives under the exec root (108-byte limit).
  const dir = mkdtempSync('/tmp/gdk-');
  const args = [
    `--data-root=${dir}/data`,
    `--exec-root=${dir}/x`,
    `--pidfile=${dir}/dockerd.pid`,
    `-H`,
    `tcp://127.0.0.1:${port}`,
    '--iptables=false',
    '--ip-masq=false',
    '--ip-forward=false',
  ];
  // Its own bridge and subnet, so containers have a network and ports publish on 127.0.0.1
  // (through docker-proxy, as --iptables=false). Never --bridge=none: a dockerd started with it
  // deletes the host's docker0 interface, which breaks the machine's engine.
  // Name and subnet come from the port, so engines started side by side (parallel test files)
  // do not collide; 10.213.0.0/16 is only ever a bridge on this machine.
  const bridge = `gitmlbr${port}`;
  const inUse = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  let octet = port % 250;
  while (inUse.includes(`10.213.${octet}.`)) octet = (octet + 1) % 250;
  const cidr = `10.213.${octet}.1/24`;
  ip(['link', 'del', bridge]);
  if (!(ip(['link', 'add', bridge, 'type', 'bridge']) && ip(['addr', 'add', cidr, 'dev', bridge]) && ip(['link', 'set', bridge, 'up']))) {
    ip(['link', 'del', bridge]);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not create bridge ${bridge} for the second engine (needs root and iproute2)`);
  }
  args.push(`--bridge=${bridge}`);
  const logFile = path.join(dir, 'dockerd.log');
  const log = createWriteStream(logFile);
  await new Promise((resolve) => log.once('open', resolve));
  // setpriv --pdeathsig: the engine gets SIGTERM (and shuts down cleanly) when the test process
  // dies without running its exit hooks, e.g. a worker killed on a timeout.
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'dockerd', ...args], { stdio: ['ignore', log, log] });
  liveEngines.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A crashed test file must not leave engines behind.
    process.once('exit', () => {
      for (const c of liveEngines) c.kill('SIGKILL');
    });
  }
  let exited = false;
  const exitedP = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      liveEngines.delete(child);
      resolve();
    });
    child.once('error', () => {
      exited = true;
      liveEngines.delete(child);
      resolve();
    });
  });

  let stopped = false;
  const host = `tcp://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitedP;
      clearTimeout(t);
    }
    log.end();
    ip(['link', 'del', bridge]);
    // Mounts left by a killed engine would make the folder impossible to remove.
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m): m is string => !!m && m.startsWith(dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await dockerAvailable(host, 1000)) return { host, dir, stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
  await stop();
  throw new Error(`second dockerd did not answer on ${host} within ${timeoutMs} ms:\n${tail}`);
}

/**
 * Copies `image` from one engine to another through the API (`docker save | docker load`),
 * so a remote engine can have an image without a registry. Resolves when the load finished;
 * rejects when the target reports an error.
 */
export async function copyImage(fromHost: string, toHost: string, image: string): Promise<void> {
  const from = await dockerClient(fromHost);
  const to = await dockerClient(toHost);
  const tar = await from.getImage(image).get();
  const res = await to.loadImage(tar, { quiet: true });
  const text = await new Promise<string>((resolve, reject) => {
    let out = '';
    res.on('data', (c: Buffer) => (out += c.toString('utf8')));
    res.on('end', () => resolve(out));
    res.on('error', reject);
  });
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let msg: { error?: string; errorDetail?: { message?: string } };
    try {
      msg = JSON.parse(line);
    } catch {
      continue;
    }
    if (msg.error) throw new Error(`loading ${image} into ${toHost} failed: ${msg.error}`);
  }
}
