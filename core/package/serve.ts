/**
 * `gitml serve`: one model version behind the scoring server, either as a local process (the
 * environment's Python running templates/server/gitml_server.py on the bundle materialised
 * under .git/gitml/cache/bundles/<digest>/) or as the model image on the Docker engine
 * (non-root, published on 127.0.0.1). Returns once the server answers /v2/health/ready.
 *
 * @example
 *   const s = await serveModel({ dir: '/repo', ref: 'iris#production', port: 8080, docker: true });
 *   console.log(s.url, s.examples.map((e) => e.curl).join('\n'));
 *   await s.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { GitmlError } from '../errors.js';
import { TextTail } from '../text-tail.js';
import { findRepoRoot } from '../git.js';
import { loadEntities } from '../entities/load.js';
import type { Environment, Loaded } from '../entities/types.js';
import { pythonCommand } from '../targets/local.js';
import { materializeBundle, sampleRecords } from './bundle.js';
import { buildManifest, serverRuntime, shortDigest, type BuiltManifest, type ModelManifest } from './manifest.js';
import type { ModelImage } from './image.js';
import type { GitmlDocker } from '../docker/client.js';

export interface ServeOptions {
  dir: string;
  ref: string;
  /** Port on the host; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Run the model image on the Docker engine instead of a local process. */
  docker?: boolean;
  /** Append sampled scoring requests to this JSON-lines file. */
  sampleLog?: string;
  /** Fraction of requests sampled (0..1). */
  sampleRate?: number;
  /** Abort while starting: the process or container is stopped and 'CANCELED' thrown. */
  signal?: AbortSignal;
  /** How long to wait for /v2/health/ready (ms). Default 120 s. */
  readyTimeoutMs?: number;
  onProgress?: (line: string) => void;
  /** The server's own log lines (stderr of the process or the container). */
  onLog?: (chunk: string) => void;
}

export interface Example {
  protocol: 'azure' | 'mlflow' | 'v2';
  path: string;
  body: unknown;
  /** A ready-to-paste curl command. */
  curl: string;
}

export interface RunningService {
  url: string;
  mode: 'process' | 'docker';
  manifest: ModelManifest;
  manifestDigest: string;
  /** The bundle folder (process mode). */
  bundle?: string;
  /** The container id, name and image (docker mode). */
  container?: string;
  containerName?: string;
  image?: ModelImage;
  pid?: number;
  examples: Example[];
  /** Stops the server (and removes the container). */
  stop(): Promise<void>;
  /** Resolves when the server ends on its own (exit code, or null when stopped by a signal). */
  exited: Promise<number | null>;
  /** The server's log so far (tail). */
  log(): string;
}

const MAX_LOG = 64 * 1024;

/** Shell-quote one argument for a printed example (single quotes). */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const V2_TYPE: Record<string, string> = { double: 'FP64', long: 'INT64', string: 'BYTES', boolean: 'BOOL' };

/** Example requests for the three protocols, from the sample data (at most two rows). */
export function exampleRequests(url: string, m: ModelManifest, records: Array<Record<string, unknown>>): Example[] {
  const rows = records.slice(0, 2);
  const cols = m.schema.inputs;
  const bodies: Array<[Example['protocol'], string, unknown]> = [
    ['azure', '/score', { data: rows }],
    ['mlflow', '/invocations', { dataframe_split: { columns: cols.map((c) => c.name), data: rows.map((r) => cols.map((c) => r[c.name] ?? null)) } }],
    [
      'v2',
      `/v2/models/${encodeURIComponent(m.model.name)}/infer`,
      { inputs: cols.map((c) => ({ name: c.name, shape: [rows.length], datatype: V2_TYPE[c.type] ?? 'BYTES', data: rows.map((r) => r[c.name] ?? null) })) },
    ],
  ];
  return bodies.map(([protocol, p, body]) => ({
    protocol,
    path: p,
    body,
    curl: `curl -s -X POST ${url}${p} -H 'Content-Type: application/json' -d ${sq(JSON.stringify(body))}`,
  }));
}

/** Fail early and clearly when the port is taken (rather than a server that exits). */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new GitmlError('SERVE', `port ${port} on ${host} is already in use: stop what is listening there or pick another port with --port`, { host, port }));
      else if (e.code === 'EACCES') reject(new GitmlError('SERVE', `not allowed to listen on port ${port} of ${host}: pick a port above 1023 with --port`, { host, port }));
      else if (e.code === 'EADDRNOTAVAIL') reject(new GitmlError('SERVE', `${host} is not an address of this machine (--host)`, { host, port }));
      else reject(new GitmlError('SERVE', `cannot listen on ${host}:${port}: ${e.message}`, { host, port }));
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

function urlHost(host: string): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
}

/** The status of GET /v2/health/ready: 200 ready, 503 loading or failed, 0 no answer. */
async function readyStatus(url: string): Promise<number> {
  try {
    const res = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Polls a starting server: true once ready; throws 'SERVE' with the server's one-line reason
 * when the model failed to load (asked at most once a second, while it answers 503).
 */
function readinessProbe(url: () => string | undefined, what: string, where: string, log: () => string): () => Promise<boolean> {
  let nextCheck = 0;
  return async () => {
    const u = url();
    if (!u) return false;
    const status = await readyStatus(u);
    if (status === 200) return true;
    if (status !== 503 || Date.now() < nextCheck) return false;
    nextCheck = Date.now() + 1000;
    const failed = await loadFailure(u);
    if (failed === undefined) return false;
    throw new GitmlError('SERVE', `${what} failed to load${where}: ${failed}`, { log: log(), reason: failed });
  };
}

/**
 * Why the model failed to load, when the server says it did (GET / has `state: failed` and,
 * from runtime 1.0.0 on, a one-line `error` such as "init() in score.py raised RuntimeError:
 * ..."); undefined while it is loading or unreachable.
 */
async function loadFailure(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { state?: string; error?: string };
    if (body.state !== 'failed') return undefined;
    return body.error || 'see the server log';
  } catch {
    return undefined;
  }
}

/**
 * A model that failed to load because the environment's Python lacks a library the built-in
 * loader needs (scikit-learn, numpy, scipy, joblib): the same 'SERVE' error with what to do.
 * The server finds this out while loading the model, so nothing imports scikit-learn before
 * the server does (a probe that imported it first cost a second of start-up every time).
 */
function missingModule(e: unknown, m: ModelManifest, python: string): GitmlError | undefined {
  if (!(e instanceof GitmlError) || e.code !== 'SERVE') return undefined;
  const mod = /No module named '([A-Za-z0-9_]+)/.exec(String((e.data as { reason?: string } | undefined)?.reason ?? ''))?.[1];
  if (!mod || m.scoring.kind !== 'builtin') return undefined;
  const lib = mod === 'sklearn' ? 'scikit-learn' : mod;
  return new GitmlError(
    'SERVE',
    `the Python of environment ${m.environment.name} (${python}) cannot import ${lib}, which the ${m.model.flavor} model needs: set \`python:\` or \`venv:\` in gitml/environments/${m.environment.name}.yaml to an interpreter that has it (pip install ${lib}), or serve the image with --docker`,
    { ...(e.data as object), python, environment: m.environment.name, module: mod },
  );
}

/** The last line of a log worth quoting in a one-line error. */
function lastLine(log: string): string {
  const lines = log.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? 'no output').replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The environment entity with its local interpreter (python/venv) from the working tree. */
async function localEnvironment(dir: string, m: ModelManifest): Promise<Loaded<Environment>> {
  const ents = (await loadEntities({ dir }).catch(() => undefined))?.value;
  const env = ents?.environments.get(m.environment.name);
  if (env) return env;
  const atSource = (await loadEntities({ dir, rev: m.source.commit }).catch(() => undefined))?.value?.environments.get(m.environment.name);
  return atSource ?? { name: m.environment.name, file: '', spec: m.environment.spec };
}

/** Containers of `gitml serve --docker`, and the host and process that started each. */
export const LABEL_SERVE = 'dev.gitml.serve';
export const LABEL_SERVE_HOST = 'dev.gitml.serve-host';
export const LABEL_SERVE_PID = 'dev.gitml.serve-pid';

/**
 * Remove the containers a `gitml serve --docker` of this host left behind when it was killed
 * (SIGKILL leaves no chance to clean up): labelled with this host name and a pid that is gone.
 */
export async function removeOrphans(docker: GitmlDocker, onProgress?: (line: string) => void): Promise<string[]> {
  const { pidAlive } = await import('../pid.js');
  const host = os.hostname();
  let list: Array<{ Id: string; Names?: string[]; Labels?: Record<string, string> }>;
  try {
    list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_SERVE}=local`, `${LABEL_SERVE_HOST}=${host}`] } });
  } catch {
    return []; // a best effort: serving does not depend on it
  }
  const removed: string[] = [];
  for (const c of list) {
    const pid = Number(c.Labels?.[LABEL_SERVE_PID]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue;
    const name = (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
    onProgress?.(`removing container ${name}, left by a gitml serve that was killed (pid ${pid})`);
    await docker.getContainer(c.Id).remove({ force: true }).then(() => removed.push(name), () => undefined);
  }
  return removed;
}

/**
 * Make `file` writable by the serving container's user (uid:gid) without opening it to others
 * more than needed, and never change a file that was already there: a new file is created
 * 0644 and given to that user (gitml running as root), or is already the user's (gitml running
 * as that uid); only a non-root user of another uid gets a new file writable by all, since the
 * container cannot write it otherwise. An existing file the container cannot write is a 'SERVE'
 * error (it used to be made world-writable, whatever file --sample-log named).
 */
export function prepareSampleLog(file: string, uid: number, gid: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  if (existsSync(file)) {
    const st = statSync(file);
    const writable = !st.isFile() ? false : st.uid === uid ? (st.mode & 0o200) !== 0 : st.gid === gid ? (st.mode & 0o020) !== 0 : (st.mode & 0o002) !== 0;
    if (!writable) {
      throw new GitmlError('SERVE', `the sample log ${file} exists and the container's user (uid ${uid}) cannot write to it: give a new file, or let uid ${uid} write it (chown ${uid} ${file})`, { file });
    }
    return;
  }
  closeSync(openSync(file, 'a', 0o644));
  const me = process.getuid?.();
  if (me === uid) return;
  if (me === 0) chownSync(file, uid, gid);
  else chmodSync(file, 0o666);
}

/** Start serving `ref`; resolves once the model is ready. */
export async function serveModel(opts: ServeOptions): Promise<RunningService> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GitmlError('USAGE', `--port must be a number from 0 to 65535, not ${port}`);
  if (opts.sampleRate !== undefined && !(opts.sampleRate >= 0 && opts.sampleRate <= 1)) throw new GitmlError('USAGE', '--sample-rate must be between 0 and 1');
  const dir = await findRepoRoot(opts.dir);
  const built = await buildManifest({ dir, ref: opts.ref });
  // The rows of the printed examples; read now, so nothing fails once a server runs.
  const records = await sampleRecords({ dir, manifest: built.manifest });
  await checkPortFree(host, port);
  if (opts.signal?.aborted) throw new GitmlError('CANCELED', 'canceled before the server was started');
  return opts.docker ? serveDocker(opts, dir, built, records, host, port) : serveProcess(opts, dir, built, records, host, port);
}

type Records = Array<Record<string, unknown>>;

async function serveProcess(opts: ServeOptions, dir: string, built: BuiltManifest, records: Records, host: string, port: number): Promise<RunningService> {
  const m = built.manifest;
  opts.onProgress?.(`materialising the bundle of ${m.model.name} ${m.model.version} (manifest ${shortDigest(built.digest)})`);
  const bundle = await materializeBundle({ dir, manifest: m, digest: built.digest });
  const env = await localEnvironment(dir, m);
  const args = ['--model-dir', bundle, '--host', host, '--port', String(port)];
  if (opts.sampleLog) args.push('--sample-log', path.resolve(opts.sampleLog), '--sample-rate', String(opts.sampleRate ?? 1));
  const cmd = pythonCommand({ argv: ['python3', serverRuntime().file, ...args], environment: env, repoDir: dir });
  const childEnv = { ...process.env, ...cmd.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
  const python = cmd.argv[0];

  opts.onProgress?.(`starting the scoring server with ${python}`);
  const child: ChildProcess = spawn(python, cmd.argv.slice(1), { cwd: bundle, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = new TextTail(MAX_LOG);
  let listening: string | undefined;
  const onData = (d: Buffer) => {
    const s = d.toString('utf8');
    log.add(s);
    opts.onLog?.(s);
    const mm = /listening on (http:\/\/\S+?) /.exec(log.text);
    if (mm && !listening) listening = mm[1];
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      log.add(`cannot start ${python}: ${e.message}\n`);
      exitCode = 127;
      resolve(127);
    });
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    });
  });
  const stop = async () => {
    if (exitCode !== undefined) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  let url = port === 0 ? undefined : `http://${urlHost(host)}:${port}`;
  const probe = readinessProbe(() => url, `model ${m.model.name} ${m.model.version}`, '', () => log.text);
  const explain = (e: unknown) => missingModule(e, m, python) ?? e;
  for (;;) {
    if (opts.signal?.aborted) {
      await stop();
      throw new GitmlError('CANCELED', 'canceled before the server was ready');
    }
    if (exitCode !== undefined) {
      if (exitCode === 127 && /ENOENT/.test(log.text)) {
        throw new GitmlError('SERVE', `the Python of environment ${m.environment.name} (${python}) is not found: set \`python:\` or \`venv:\` in gitml/environments/${m.environment.name}.yaml, or serve the image with --docker`, { python, environment: m.environment.name });
      }
      throw new GitmlError('SERVE', `the scoring server exited (code ${exitCode}) before it was ready: ${lastLine(log.text)}`, { log: log.text, code: exitCode });
    }
    if (!url && listening) url = listening.replace('http://0.0.0.0', 'http://127.0.0.1');
    const isReady = await probe().catch(async (e: unknown) => {
      await stop();
      throw explain(e);
    });
    if (isReady) break;
    if (Date.now() > deadline) {
      await stop();
      throw new GitmlError('SERVE', `the model did not become ready within ${Math.round((opts.readyTimeoutMs ?? 120_000) / 1000)} s: ${lastLine(log.text)}`, { log: log.text });
    }
    await sleep(100);
  }
  return {
    url: url!,
    mode: 'process',
    manifest: m,
    manifestDigest: built.digest,
    bundle,
    pid: child.pid,
    examples: exampleRequests(url!, m, records),
    stop,
    exited,
    log: () => log.text,
  };
}

async function serveDocker(opts: ServeOptions, dir: string, built: BuiltManifest, records: Records, host: string, port: number): Promise<RunningService> {
  const m = built.manifest;
  const { dockerClient, pingDocker, dockerCall, dockerError } = await import('../docker/client.js');
  const { buildModelImage, IMAGE_PORT, LABEL_MANIFEST_DIGEST, LABEL_MODEL, LABEL_VERSION } = await import('./image.js');
  const { RUN_GID, RUN_UID } = await import('../docker/layout.js');
  const docker = dockerClient(undefined, dir);
  await pingDocker(docker);
  const image = await buildModelImage({ dir, ref: opts.ref, manifest: built, docker, onProgress: opts.onProgress });
  if (opts.signal?.aborted) throw new GitmlError('CANCELED', 'canceled before the server was started');
  opts.onProgress?.(`starting ${image.image} (${image.id.slice(7, 19)})`);

  const env = [`GITML_PORT=${IMAGE_PORT}`, 'GITML_HOST=0.0.0.0'];
  const binds: string[] = [];
  if (opts.sampleLog) {
    // The container user (uid 1000) appends to this one file, mounted alone.
    const file = path.resolve(opts.sampleLog);
    prepareSampleLog(file, RUN_UID, RUN_GID);
    binds.push(`${file}:/gitml/samples.jsonl`);
    env.push('GITML_SAMPLE_LOG=/gitml/samples.jsonl', `GITML_SAMPLE_RATE=${opts.sampleRate ?? 1}`);
  }
  await removeOrphans(docker, opts.onProgress);
  const name = `gitml-serve-${image.image.split('/')[1].replace(/[^a-zA-Z0-9_.-]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const container = await dockerCall(docker, `creating container ${name}`, () =>
    docker.createContainer({
      name,
      Image: image.id,
      User: `${RUN_UID}:${RUN_GID}`,
      Env: env,
      Labels: {
        [LABEL_MODEL]: m.model.name,
        [LABEL_VERSION]: m.model.version,
        [LABEL_MANIFEST_DIGEST]: built.digest,
        [LABEL_SERVE]: 'local',
        // Who started it: a later `gitml serve` removes it if this process died without doing so.
        [LABEL_SERVE_HOST]: os.hostname(),
        [LABEL_SERVE_PID]: String(process.pid),
      },
      ExposedPorts: { [`${IMAGE_PORT}/tcp`]: {} },
      HostConfig: {
        PortBindings: { [`${IMAGE_PORT}/tcp`]: [{ HostIp: host, HostPort: port === 0 ? '' : String(port) }] },
        Binds: binds.length ? binds : undefined,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Init: true,
      },
    }),
  );
  const remove = async () => {
    await container.remove({ force: true }).catch(() => undefined);
  };
  try {
    await container.start();
  } catch (e) {
    await remove();
    const msg = String((e as { json?: { message?: string } }).json?.message ?? (e as Error).message);
    if (/port is already allocated|address already in use/i.test(msg)) throw new GitmlError('SERVE', `port ${port} on ${host} is already in use: pick another port with --port`, { host, port });
    throw dockerError(e, docker.gitmlAddress, `starting container ${name}`);
  }

  const log = new TextTail(MAX_LOG);
  const logStream = (await container.logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => {
    const s = d.toString('utf8');
    log.add(s);
    opts.onLog?.(s);
  });
  docker.modem.demuxStream(logStream, sink, sink);
  let stopped = false;
  const exited = container.wait().then(
    (r: { StatusCode?: number }) => (stopped ? null : (r.StatusCode ?? null)),
    () => null,
  );
  let exitCode: number | null | undefined;
  void exited.then((c) => {
    exitCode = c;
  });
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await container.stop({ t: 10 }).catch(() => undefined);
    (logStream as unknown as { destroy?: () => void }).destroy?.();
    await remove();
  };

  const info = await container.inspect();
  const bound = info.NetworkSettings?.Ports?.[`${IMAGE_PORT}/tcp`]?.[0]?.HostPort;
  const url = `http://${urlHost(host)}:${bound ?? port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 120_000);
  const probeAnyway = Date.now() + 5000;
  const probe = readinessProbe(() => url, `model ${m.model.name} ${m.model.version}`, ' in the container', () => log.text);
  for (;;) {
    if (opts.signal?.aborted) {
      await stop();
      throw new GitmlError('CANCELED', 'canceled before the server was ready');
    }
    // Probe only once the server inside listens: before that, Docker's port proxy accepts the
    // connection and holds it, so a probe would hang until its timeout.
    // (After 5 s probe anyway, in case the engine's log driver keeps the log to itself.)
    const listening = /listening on http/.test(log.text) || Date.now() > probeAnyway;
    const isReady = listening
      ? await probe().catch(async (e: unknown) => {
          await stop();
          throw e;
        })
      : false;
    if (isReady) break;
    if (exitCode !== undefined) {
      await stop();
      throw new GitmlError('SERVE', `the container exited (code ${exitCode}) before it was ready: ${lastLine(log.text)}`, { log: log.text, code: exitCode });
    }
    if (Date.now() > deadline) {
      await stop();
      throw new GitmlError('SERVE', `the model did not become ready in the container within ${Math.round((opts.readyTimeoutMs ?? 120_000) / 1000)} s: ${lastLine(log.text)}`, { log: log.text });
    }
    await sleep(150);
  }
  return {
    url,
    mode: 'docker',
    manifest: m,
    manifestDigest: built.digest,
    container: container.id,
    containerName: name,
    image,
    examples: exampleRequests(url, m, records),
    stop,
    exited,
    log: () => log.text,
  };
}
