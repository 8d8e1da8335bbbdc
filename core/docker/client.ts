/**
 * A Docker engine client for a compute target: the local unix socket (default, or
 * $DOCKER_HOST), a remote engine over tcp:// (optionally TLS) or ssh:// (dockerode's ssh
 * support through docker-modem and the pure-JS ssh2; the remote side runs
 * `docker system dial-stdio`, as the docker CLI does).
 *
 * This module imports dockerode (about 200 ms): import it with `await import()` from
 * anything on the CLI's startup path.
 *
 * Every engine call should go through `dockerCall()` (or catch with `dockerError()`), so an
 * engine that is down or goes away turns into GitmlError 'DOCKER_UNAVAILABLE' with a plain
 * message instead of a raw socket stack.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { Client, ConnectConfig } from 'ssh2';
import os from 'node:os';
import path from 'node:path';
import './defer-modules.js'; // before dockerode: see there
import Dockerode from 'dockerode';
import type { DockerCompute } from '../entities/types.js';
import { GitmlError } from '../errors.js';

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** Where a docker compute target's engine is, as written by the user or taken from $DOCKER_HOST. */
export function engineAddress(compute?: Pick<DockerCompute, 'host'>, env: NodeJS.ProcessEnv = process.env): string {
  const host = compute?.host?.trim() || env.DOCKER_HOST?.trim() || DEFAULT_DOCKER_HOST;
  // The docker CLI accepts `HOST:PORT` without a scheme and means tcp.
  if (!host.includes('://')) return host.startsWith('/') ? `unix://${host}` : `tcp://${host}`;
  return host;
}

export interface DockerClientOptions {
  /** Defaults to process.env: $DOCKER_HOST, $DOCKER_TLS_VERIFY, $DOCKER_CERT_PATH, $SSH_AUTH_SOCK, $HOME. */
  env?: NodeJS.ProcessEnv;
}

/** A Dockerode that remembers which engine it talks to (for messages and run records). */
export type GitmlDocker = Dockerode & { gitmlAddress: string };

/** A TLS file: `~/...` in the home folder (as for `kubeconfig`), absolute, or relative to the repository root. */
function readTlsFile(file: string, repoDir: string | undefined, what: string, home: string): Buffer {
  const full = file.startsWith('~/') ? path.join(home, file.slice(2)) : path.isAbsolute(file) ? file : path.resolve(repoDir ?? process.cwd(), file);
  try {
    return readFileSync(full);
  } catch (e) {
    throw new GitmlError('TARGET', `cannot read the TLS ${what} file ${full}: ${(e as Error).message}`, { file: full }, { cause: e });
  }
}

/**
 * Build the dockerode options for an engine address. Every connection field is set (to
 * undefined when unused) because docker-modem merges its own $DOCKER_HOST defaults under
 * ours: a stray `host` from the environment would otherwise win over our socketPath.
 */
export function dockerOptions(
  compute: DockerCompute | undefined,
  repoDir?: string,
  opts: DockerClientOptions = {},
): Dockerode.DockerOptions & { agent?: https.Agent } {
  const env = opts.env ?? process.env;
  const address = engineAddress(compute, env);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new GitmlError('TARGET', `the Docker engine address ${JSON.stringify(address)} is not a URL: use unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST`, { host: address });
  }
  const none = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined, username: undefined } as const;
  switch (url.protocol) {
    case 'unix:': {
      const socketPath = decodeURIComponent(url.pathname) || '/var/run/docker.sock';
      return { ...none, socketPath };
    }
    case 'tcp:':
    case 'http:':
    case 'https:': {
      if (!url.hostname) throw new GitmlError('TARGET', `the Docker engine address ${address} names no host`, { host: address });
      // TLS from the compute spec, else (only for an address taken from $DOCKER_HOST) from the docker CLI's variables.
      let tls = compute?.tls;
      if (!tls && !compute?.host && env.DOCKER_HOST && (env.DOCKER_TLS_VERIFY === '1' || env.DOCKER_CERT_PATH)) {
        const dir = env.DOCKER_CERT_PATH || path.join(env.HOME || os.homedir(), '.docker');
        tls = { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), verify: env.DOCKER_TLS_VERIFY === '1' };
      }
      const useTls = url.protocol === 'https:' || Boolean(tls && (tls.ca || tls.cert || tls.key || tls.verify));
      const port = url.port || (useTls ? '2376' : '2375');
      if (!useTls) return { ...none, host: url.hostname, port, protocol: 'http' };
      const home = env.HOME || os.homedir();
      const ca = tls?.ca ? readTlsFile(tls.ca, repoDir, 'CA certificate', home) : undefined;
      const cert = tls?.cert ? readTlsFile(tls.cert, repoDir, 'client certificate', home) : undefined;
      const key = tls?.key ? readTlsFile(tls.key, repoDir, 'client key', home) : undefined;
      // docker-modem does not pass rejectUnauthorized through, so `verify: false` needs our own agent.
      const verify = tls?.verify ?? true;
      const agent = new https.Agent({ ca, cert, key, rejectUnauthorized: verify });
      return { ...none, host: url.hostname, port, protocol: 'https', ca, cert, key, agent };
    }
    case 'ssh:': {
      if (!url.hostname) throw new GitmlError('TARGET', `the Docker engine address ${address} names no host`, { host: address });
      const username = decodeURIComponent(url.username) || env.USER || os.userInfo().username;
      const sshOptions: Record<string, unknown> = { readyTimeout: 10_000 };
      if (env.SSH_AUTH_SOCK) sshOptions.agent = env.SSH_AUTH_SOCK;
      // Without an agent, use the first default identity file, as ssh does.
      if (!env.SSH_AUTH_SOCK) {
        const home = env.HOME || os.homedir();
        for (const f of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
          try {
            sshOptions.privateKey = readFileSync(path.join(home, '.ssh', f));
            break;
          } catch {
            /* try the next one */
          }
        }
      }
      if (url.password) sshOptions.password = decodeURIComponent(url.password);
      // ssh2 accepts any host key unless told otherwise: check ~/.ssh/known_hosts as ssh does
      // in batch mode (an unknown or changed key is refused, never silently trusted).
      sshOptions.hostVerifier = knownHostsVerifier({ host: url.hostname, port: Number(url.port || 22), home: env.HOME || os.homedir() });
      return { ...none, host: url.hostname, port: url.port || '22', protocol: 'ssh', username, sshOptions: sshOptions as Dockerode.DockerOptions['sshOptions'] };
    }
    default:
      throw new GitmlError('TARGET', `unsupported Docker engine address ${address}: use unix:///PATH, tcp://HOST:PORT or ssh://USER@HOST`, { host: address });
  }
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** Whether one known_hosts host field (comma-separated patterns, or one hashed name) names `name`. */
function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let hit = false;
  for (const pat of field.split(',')) {
    if (pat.startsWith('!')) {
      if (globMatch(pat.slice(1), name)) return false;
    } else if (globMatch(pat, name)) hit = true;
  }
  return hit;
}

/**
 * An ssh2 `hostVerifier` that accepts the engine host's key only when ~/.ssh/known_hosts (or
 * /etc/ssh/ssh_known_hosts) lists it for that host (`host`, or `[host]:port` off port 22;
 * plain, wildcard or hashed entries; @revoked honoured).
 */
export function knownHostsVerifier(opts: { host: string; port: number; home: string; files?: string[] }): (key: Buffer) => boolean {
  const name = opts.port === 22 ? opts.host : `[${opts.host}]:${opts.port}`;
  const files = opts.files ?? [path.join(opts.home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  return (key: Buffer) => {
    const presented = key.toString('base64');
    let accepted = false;
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch {
        continue;
      }
      for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line || line.startsWith('#')) continue;
        const parts = line.split(/\s+/);
        let marker: string | undefined;
        if (parts[0]!.startsWith('@')) marker = parts.shift();
        const [hosts, , b64] = parts;
        if (!hosts || !b64 || !hostFieldMatches(hosts, name)) continue;
        if (marker === '@revoked' && b64 === presented) return false;
        if (marker === undefined && b64 === presented) accepted = true;
      }
    }
    return accepted;
  };
}

/**
 * A dockerode client for a docker compute target (or the default engine).
 *
 * @example
 *   const docker = dockerClient(compute.spec, repoDir);
 *   await pingDocker(docker);
 */
export function dockerClient(compute?: DockerCompute, repoDir?: string, opts: DockerClientOptions = {}): GitmlDocker {
  const address = engineAddress(compute, opts.env ?? process.env);
  const options = dockerOptions(compute, repoDir, opts);
  if (options.protocol === 'ssh') {
    // docker-modem's own ssh path opens a new SSH connection (handshake, auth) for every API
    // call; one shared connection with a channel per call is several times faster.
    const { sshOptions, host, port, username, ...rest } = options;
    const agent = new SshDialAgent({ ...(sshOptions ?? {}), host, port: Number(port), username });
    const docker = new Dockerode({ ...rest, host, port, protocol: 'http', agent } as Dockerode.DockerOptions) as GitmlDocker;
    docker.gitmlAddress = redactAddress(address);
    return docker;
  }
  const docker = new Dockerode(options) as GitmlDocker;
  docker.gitmlAddress = redactAddress(address);
  return docker;
}

/**
 * An HTTP agent whose connections are `docker system dial-stdio` channels on one shared SSH
 * connection (what the docker CLI does for ssh:// hosts). The SSH connection opens on first
 * use and closes after a second without open channels, so it never keeps a process alive.
 * Uses ssh2's pure-JS path (its optional native helpers are not built with --ignore-scripts).
 */
class SshDialAgent extends http.Agent {
  private conn: Client | undefined;
  private ready: Promise<Client> | undefined;
  private open = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly cfg: ConnectConfig, private readonly idleMs = 1000) {
    super({ keepAlive: false });
  }

  private client(): Promise<Client> {
    if (this.ready) return this.ready;
    // Loaded on first use: only ssh:// engines need ssh2, and it costs ~80 ms to load.
    const ssh2 = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
    const conn = new ssh2.Client();
    this.conn = conn;
    const reset = () => {
      if (this.conn === conn) {
        this.conn = undefined;
        this.ready = undefined;
      }
    };
    this.ready = new Promise<Client>((resolve, reject) => {
      conn.once('ready', () => {
        // Small request/response exchanges: Nagle plus delayed ACKs would add ~40 ms per hop.
        conn.setNoDelay(true);
        resolve(conn);
      });
      conn.on('error', (e) => {
        reset();
        reject(e);
      });
      conn.once('close', reset);
      conn.connect(this.cfg);
    });
    this.ready.catch(() => undefined);
    return this.ready;
  }

  private release(): void {
    this.open = Math.max(0, this.open - 1);
    if (this.open === 0) {
      clearTimeout(this.idle);
      this.idle = setTimeout(() => this.close(), this.idleMs);
    }
  }

  createConnection(_options: unknown, cb: (err: Error | null, stream?: Duplex) => void): undefined {
    clearTimeout(this.idle);
    this.open++;
    this.client().then(
      (conn) =>
        conn.exec('docker system dial-stdio', (err, ch) => {
          if (err) {
            this.release();
            cb(err);
            return;
          }
          ch.once('close', () => this.release());
          cb(null, ch);
        }),
      (e: Error) => {
        this.release();
        cb(e);
      },
    );
    return undefined;
  }

  close(): void {
    clearTimeout(this.idle);
    this.conn?.end();
    this.conn = undefined;
    this.ready = undefined;
  }
}

/** The address without a password, for messages and run records. */
export function redactAddress(address: string): string {
  try {
    const u = new URL(address);
    if (u.password) {
      u.password = '';
      return u.toString().replace(/\/$/, '');
    }
  } catch {
    /* not a URL: keep as is */
  }
  return address;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EACCES',
  'ECONNABORTED',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** True when `e` says the engine cannot be reached (as opposed to the engine answering with an error). */
export function isUnavailable(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  const err = e as { code?: unknown; statusCode?: unknown; message?: unknown; level?: unknown };
  if (typeof err.statusCode === 'number') return false;
  if (typeof err.code === 'string' && UNAVAILABLE_CODES.has(err.code)) return true;
  // ssh2 reports connection failures with `level: 'client-socket'` / 'client-timeout'.
  if (typeof err.level === 'string' && err.level.startsWith('client-')) return true;
  const msg = typeof err.message === 'string' ? err.message : '';
  return /socket hang up|connect ECONNREFUSED|Timed out while waiting for handshake|All configured authentication methods failed|timed out|aborted/i.test(msg);
}

export function unavailableError(address: string, cause?: unknown): GitmlError {
  const why = cause instanceof Error && cause.message ? ` (${cause.message.trim()})` : '';
  const hint = address.startsWith('unix://')
    ? 'start it with `dockerd` or set DOCKER_HOST'
    : address.startsWith('ssh://')
      ? 'check that `ssh` to that host works without a prompt (a key in ~/.ssh or ssh-agent, the host key in ~/.ssh/known_hosts) and that `docker` runs there'
      : 'check that the engine is running and listening there, or fix the compute target\'s `host`';
  return new GitmlError('DOCKER_UNAVAILABLE', `the Docker engine at ${address} does not answer${why}: ${hint}`, { host: address }, { retryable: true, cause });
}

/**
 * Turn any error from a dockerode call into a GitmlError: unreachable engine →
 * 'DOCKER_UNAVAILABLE'; an engine answer (HTTP status) → `code` (default 'TARGET') with the
 * engine's own message. GitmlErrors pass through.
 */
export function dockerError(e: unknown, address: string, what: string, code: 'TARGET' | 'IMAGE_BUILD' = 'TARGET'): GitmlError {
  if (e instanceof GitmlError) return e;
  if (isUnavailable(e)) return unavailableError(address, e);
  const err = e as { statusCode?: number; json?: { message?: string }; message?: string };
  const detail = err?.json?.message ?? (typeof err?.message === 'string' ? err.message : String(e));
  return new GitmlError(code, `${what} failed on the Docker engine at ${address}: ${detail.trim()}`, { host: address, statusCode: err?.statusCode }, { cause: e });
}

/** Run one engine call, turning its failures into GitmlErrors (see dockerError). */
export async function dockerCall<T>(docker: GitmlDocker, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw dockerError(e, docker.gitmlAddress, what);
  }
}

/** The engine's HTTP status in a dockerode error, if it answered. */
export function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/**
 * Check that the engine answers, within `timeoutMs` (an unroutable tcp address would
 * otherwise hang for minutes). Throws GitmlError 'DOCKER_UNAVAILABLE'.
 */
export async function pingDocker(docker: GitmlDocker, opts: { timeoutMs?: number } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      const e = new Error(`no answer within ${timeoutMs / 1000} s`) as Error & { code: string };
      e.code = 'ETIMEDOUT';
      reject(e);
    }, timeoutMs);
  });
  try {
    await Promise.race([(docker.ping as (o: object) => Promise<unknown>)({ abortSignal: ac.signal }), timeout]);
  } catch (e) {
    // Anything but an answer means the engine is not usable from here.
    throw isUnavailable(e) || statusOf(e) === undefined ? unavailableError(docker.gitmlAddress, e) : dockerError(e, docker.gitmlAddress, 'ping');
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Watch an engine while a long call is outstanding: a remote engine that vanishes without
 * closing the connection (host powered off, network cut) would otherwise leave a build or a
 * wait hanging forever. `lost` rejects with 'DOCKER_UNAVAILABLE' after `failures` pings in a
 * row get no answer; `stop()` ends the watch. `lost` never resolves.
 */
export function watchEngine(docker: GitmlDocker, opts: { intervalMs?: number; failures?: number } = {}): { lost: Promise<never>; stop(): void } {
  const every = opts.intervalMs ?? 5000;
  const limit = opts.failures ?? 3;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const lost = new Promise<never>((_, reject) => {
    let misses = 0;
    let inFlight = false;
    timer = setInterval(() => {
      if (inFlight || stopped) return;
      inFlight = true;
      pingDocker(docker, { timeoutMs: every })
        .then(() => {
          misses = 0;
        })
        .catch((e: unknown) => {
          misses++;
          if (misses >= limit && !stopped) {
            stopped = true;
            clearInterval(timer);
            reject(e instanceof GitmlError ? e : unavailableError(docker.gitmlAddress, e));
          }
        })
        .finally(() => {
          inFlight = false;
        });
    }, every);
    timer.unref();
  });
  lost.catch(() => undefined);
  return {
    lost,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
