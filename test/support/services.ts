/**
 * Test and bench support for Docker services: a real sklearn workspace whose model versions
 * were trained on the docker compute (so they load in the model image), and a load generator
 * that counts every failed request.
 *
 *   const repo = await serviceRepo({ port: 18181, versions: 2 });   // v0.0.1 (production), v0.0.2
 *   const load = startLoad(`http://127.0.0.1:18181/score`, body, { concurrency: 8 });
 *   ...; const r = await load.stop();  // { ok, failed, versions: { 'v0.0.1': n, … } }
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, GIT_ENV, git, gitml, tmpDir } from './repo.js';

export const PROXY_IMAGE = process.env.GITML_TEST_PROXY_IMAGE || 'gitml/haproxy:local';
export const SERVICE_ENV = { GITML_PROXY_IMAGE: PROXY_IMAGE };

export const IRIS_ROW = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };
export const SCORE_BODY = JSON.stringify({ data: [IRIS_ROW] });

function ok(dir: string, args: string[], env: Record<string, string> = {}): string {
  const r = gitml(dir, args, { env: { ...SERVICE_ENV, ...env }, timeout: 600_000 });
  if (r.code !== 0) throw new Error(`gitml ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Edit the service YAML (a function of its text) and commit it. */
export function editService(dir: string, edit: (yaml: string) => string, name = 'iris'): void {
  const f = path.join(dir, 'gitml/services', `${name}.yaml`);
  writeFileSync(f, edit(readFileSync(f, 'utf8')));
  git(dir, 'commit', '-qam', `service ${name}: edit`);
}

/**
 * `gitml init --template sklearn`, the service on `port`, then `versions` model versions
 * trained on the docker compute and registered; the first is promoted to production.
 */
export function serviceRepo(o: { port: number; versions?: number; dir?: string }): { dir: string; versions: string[]; runs: string[] } {
  const dir = o.dir ?? path.join(tmpDir('gitml-svc-'), `svc${o.port}`);
  ok(path.dirname(dir), ['init', dir, '--template', 'sklearn']);
  editService(dir, (y) => y.replace(/^port: .*$/m, `port: ${o.port}`));
  const versions: string[] = [];
  const runs: string[] = [];
  for (let i = 0; i < (o.versions ?? 1); i++) {
    const run = JSON.parse(ok(dir, ['run', 'train', '--compute', 'docker', '--param', `C=${(i + 1) * 0.5}`, '--json'])) as { id: string };
    runs.push(run.id);
    const reg = JSON.parse(ok(dir, ['model', 'register', 'iris', '--run', run.id, '--json'])) as { version: string };
    versions.push(reg.version);
  }
  ok(dir, ['model', 'promote', 'iris', versions[0], 'production']);
  return { dir, versions, runs };
}

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  /** Responses per X-Gitml-Version. */
  versions: Record<string, number>;
  latenciesMs: number[];
  elapsedMs: number;
}

/** POST `body` to `url` from `concurrency` keep-alive clients until stopped (or `count` requests). */
export function startLoad(url: string, body: string, o: { concurrency?: number; count?: number } = {}): { stop(): Promise<LoadResult>; done: Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency ?? 8 });
  const res: LoadResult = { ok: 0, failed: 0, errors: [], versions: {}, latenciesMs: [], elapsedMs: 0 };
  let stopped = false;
  let sent = 0;
  const t0 = performance.now();
  const one = () =>
    new Promise<void>((resolve) => {
      const t = performance.now();
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          res.latenciesMs.push(performance.now() - t);
          const v = String(r.headers['x-gitml-version'] ?? 'none');
          if (r.statusCode === 200) {
            res.ok++;
            res.versions[v] = (res.versions[v] ?? 0) + 1;
          } else {
            res.failed++;
            if (res.errors.length < 20) res.errors.push(`HTTP ${r.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`);
          }
          resolve();
        });
        r.on('error', (e) => {
          res.failed++;
          if (res.errors.length < 20) res.errors.push(e.message);
          resolve();
        });
      });
      req.on('error', (e) => {
        res.failed++;
        if (res.errors.length < 20) res.errors.push(e.message);
        resolve();
      });
      req.end(body);
    });
  const worker = async () => {
    while (!stopped && (o.count === undefined || sent < o.count)) {
      sent++;
      await one();
    }
  };
  const done = Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker)).then(() => {
    res.elapsedMs = performance.now() - t0;
    agent.destroy();
    return res;
  });
  return {
    done,
    stop: async () => {
      stopped = true;
      return done;
    },
  };
}

/** Remove every container, network and volume gitml deployed for a project (test clean-up). */
export async function removeProject(project: string): Promise<void> {
  const { dockerClient } = await import('./docker.js');
  const docker = await dockerClient();
  const filters = JSON.stringify({ label: [`dev.gitml.project=${project}`] });
  for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const n of await docker.listNetworks({ filters })) await docker.getNetwork(n.Id).remove().catch(() => undefined);
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
}

/** The CLI without blocking the event loop (a load generator keeps running meanwhile). */
export function gitmlAsync(cwd: string, args: string[], opts: { env?: Record<string, string>; timeout?: number } = {}): Promise<{ code: number; stdout: string; stderr: string; pid?: number }> & { pid?: number; kill(sig?: NodeJS.Signals): void } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', ...SERVICE_ENV, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const t = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 600_000);
  const p = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : -1), stdout, stderr });
    });
  }) as Promise<{ code: number; stdout: string; stderr: string }> & { pid?: number; kill(sig?: NodeJS.Signals): void };
  p.pid = child.pid;
  p.kill = (sig = 'SIGTERM') => child.kill(sig);
  return p;
}
