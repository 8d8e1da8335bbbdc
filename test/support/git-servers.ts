/**
 * Real git servers on loopback, for testing sync over the network transports:
 *
 * - `startHttpsGitServer({ root, auth })`: a Node `https` server with a self-signed certificate
 *   (made with `openssl`) that serves the bare repositories under `root` through the real
 *   `git http-backend` (CGI), push included. With `auth`, every request needs HTTP basic auth
 *   with that user and token. Clients trust it through `GIT_SSL_CAINFO=server.caFile`.
 * - `startSshd()`: a private `sshd -D` on a free loopback port with its own host key and one
 *   authorized client key for the current user. Clients connect through
 *   `GIT_SSH_COMMAND=server.sshCommand` and `server.url('/abs/path/repo.git')`.
 * - `describeSshd(name, fn)`: a `describe` for tests that need sshd. sshd missing: FAILS under
 *   CI (`process.env.CI`; `.ci/setup.sh` installs openssh-server), skipped loudly elsewhere.
 *
 * Both servers run in the test's own process or as its child: a test that drives git against
 * the https server must spawn git asynchronously (a `spawnSync` would block the server).
 *
 * Example:
 *   const server = await startHttpsGitServer({ root, auth: { user: 'ci', token: 's3cret' } });
 *   // git push https://ci:s3cret@127.0.0.1:PORT/repo.git with env GIT_SSL_CAINFO=server.caFile
 *   await server.stop();
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, test } from 'vitest';

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// https + git http-backend

export interface HttpsGitServer {
  /** 'https://127.0.0.1:PORT' (no credentials). */
  origin: string;
  port: number;
  /** The self-signed certificate, for GIT_SSL_CAINFO. */
  caFile: string;
  /** `https://[user:token@]127.0.0.1:PORT/NAME`; credentials are the server's own unless given. */
  url(name: string, creds?: { user: string; token: string } | null): string;
  /** One line per request: 'METHOD /path?query STATUS user'. */
  requests: string[];
  /** Stops listening and drops open connections. Idempotent. */
  stop(): Promise<void>;
}

const HTTP_BACKEND = ['/usr/lib/git-core/git-http-backend', '/usr/libexec/git-core/git-http-backend'].find((p) => existsSync(p)) ?? 'git-http-backend';

function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  // argv, no shell; curl (under git) checks the IP address against subjectAltName.
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'pipe' },
  );
  return { key, cert };
}

/**
 * Serve the bare repositories under `root` over https through `git http-backend`. Push works
 * (http.receivepack is enabled per request). With `auth`, a request without the right basic
 * credentials gets 401, as a real forge answers.
 */
export async function startHttpsGitServer(opts: { root: string; auth?: { user: string; token: string } }): Promise<HttpsGitServer> {
  const certDir = mkdtempSync(path.join(tmpdir(), 'gitml-https-'));
  const { key, cert } = selfSignedCert(certDir);
  const requests: string[] = [];
  const expected = opts.auth ? `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.token}`).toString('base64')}` : null;
  const sockets = new Set<Socket>();

  const server: Server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const u = new URL(req.url ?? '/', 'https://127.0.0.1');
    const log = (status: number, user = '-') => requests.push(`${req.method} ${u.pathname}${u.search} ${status} ${user}`);
    if (expected && req.headers.authorization !== expected) {
      log(401);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="gitml-test"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      req.resume();
      return;
    }
    const user = opts.auth?.user ?? '';
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(u.pathname),
      QUERY_STRING: u.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      REMOTE_USER: user,
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      HTTP_GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
    };
    // Without CONTENT_LENGTH http-backend reads the body to EOF (git sends large pushes chunked).
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    const cgi = spawn(HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => {});
    let head = Buffer.alloc(0);
    let headersDone = false;
    let status = 200;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
      if (end < 0) return;
      const sep = end === crlf ? 4 : 2;
      headersDone = true;
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
        else res.setHeader(name, value);
      }
      res.statusCode = status;
      log(status, user || '-');
      res.write(head.subarray(end + sep));
    });
    let stderr = '';
    cgi.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    cgi.on('close', (code) => {
      if (!headersDone) {
        log(500);
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend exited ${code}: ${stderr}`);
      } else res.end();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  let stopped: Promise<void> | undefined;
  return {
    origin: `https://127.0.0.1:${port}`,
    port,
    caFile: cert,
    url(name, creds) {
      const c = creds === undefined ? opts.auth : creds;
      const userinfo = c ? `${encodeURIComponent(c.user)}:${encodeURIComponent(c.token)}@` : '';
      return `https://${userinfo}127.0.0.1:${port}/${name}`;
    },
    requests,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(() => rmSync(certDir, { recursive: true, force: true }));
      return stopped;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// sshd

const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((p) => existsSync(p));

const SSHD_MISSING = 'sshd is not installed. Run `bash .ci/setup.sh` (as root; it installs openssh-server).';

/** Whether a private sshd can run here: the binary exists and we may create its run folder. */
export function sshdAvailable(): boolean {
  return SSHD !== undefined && existsSync('/usr/bin/ssh') && existsSync('/usr/bin/ssh-keygen');
}

/**
 * A `describe` for tests that need sshd. Missing: under CI one failing test says so; elsewhere
 * the suite is skipped with a loud warning (as `describeDocker` does for the Docker engine).
 */
export function describeSshd(name: string, fn: () => void): void {
  if (sshdAvailable()) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      test('sshd is installed (required under CI)', () => {
        throw new Error(`${SSHD_MISSING} Tests that need sshd fail under CI.`);
      });
    });
    return;
  }
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! SKIPPED: describe('${name}')\n!! ${SSHD_MISSING}\n!! (Under CI these tests fail instead.)\n${bar}\n`);
  describe.skip(name, fn);
}

export interface Sshd {
  port: number;
  user: string;
  /** For GIT_SSH_COMMAND: ssh with the client key, no host key checks, no prompts. */
  sshCommand: string;
  /** `ssh://USER@127.0.0.1:PORT/ABS_PATH`. */
  url(absPath: string): string;
  /** sshd's own log (-E), for failure messages. */
  log(): string;
  /** Stops sshd, waits for it to exit, removes its folder. Idempotent. */
  stop(): Promise<void>;
}

/** Start a private sshd on a free loopback port that lets the current user in with a fresh key. */
export async function startSshd(): Promise<Sshd> {
  if (!SSHD) throw new Error(SSHD_MISSING);
  const dir = mkdtempSync(path.join(tmpdir(), 'gitml-sshd-'));
  const user = userInfo().username;
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gitml-test-host', '-f', hostKey], { stdio: 'pipe' });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gitml-test-client', '-f', clientKey], { stdio: 'pipe' });
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  // sshd wants its privilege separation folder; /run is emptied at boot.
  if (!existsSync('/run/sshd') && process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const logFile = path.join(dir, 'sshd.log');
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `AllowUsers ${user}`,
      'StrictModes no',
      'UsePAM no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'PrintMotd no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  // sshd re-executes itself, so it must be started by its absolute path.
  const child: ChildProcess = spawn(SSHD, ['-D', '-f', path.join(dir, 'sshd_config'), '-E', logFile], { stdio: 'ignore' });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  for (let i = 0; !(await portAnswers(port)); i++) {
    if (exited || i > 100) {
      child.kill('SIGKILL');
      const text = log();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sshd did not start on 127.0.0.1:${port}:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const sshCommand = [
    'ssh', '-i', clientKey, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5',
  ].join(' ');
  let stopped: Promise<void> | undefined;
  return {
    port,
    user,
    sshCommand,
    url: (absPath) => `ssh://${user}@127.0.0.1:${port}${absPath}`,
    log,
    stop() {
      stopped ??= (async () => {
        if (!exited) child.kill('SIGTERM');
        await Promise.race([exit, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
