/**
 * Services on a Docker engine (local, or remote over tcp/ssh like run targets): per service a
 * bridge network, one container per replica, and an HAProxy container in front that publishes
 * the service's port and balances across the replicas (see ../haproxy.ts for why HAProxy).
 *
 * Everything is found again from labels (`dev.gitml.project`, `dev.gitml.service`, ...), so any
 * later process — `gitml services` in another shell, the daemon — sees what runs. The front's
 * traffic split is read back from a state file inside the proxy container, never from memory.
 *
 * Rollout (driven by the pure plan): start the new replicas, wait until the engine's health
 * check (the image's HEALTHCHECK on /v2/health/ready, run every second here) says healthy,
 * write the new HAProxy config and reload it seamlessly (SIGUSR2 to the master), wait until
 * the front answers with the new config id, let in-flight requests drain, then stop the old
 * replicas (SIGTERM: the scoring server finishes what it has).
 *
 * Containers run as uid 1000 with every capability dropped, no-new-privileges, a read-only
 * root with a small /tmp, CPU/memory limits from `resources`, and restart unless stopped.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { stringify } from 'yaml';
import { GitmlError } from '../../errors.js';
import type { GitmlDocker } from '../../docker/client.js';
import { dockerCall, dockerError, pingDocker, statusOf } from '../../docker/client.js';
import { RUN_GID, RUN_UID } from '../../docker/layout.js';
import { memoryBytes, nanoCpus } from '../../targets/docker.js';
import { IMAGE_PORT, packContext } from '../../package/image.js';
import type { ApplyContext, ServiceDriver } from '../driver.js';
import { replicaSpec } from '../plan.js';
import { httpGet } from '../http.js';
import type { ActualReplica, ActualService, DesiredService, Step } from '../types.js';
import { HEADER_CONFIG, PROXY_CONFIG_DIR, PROXY_CONFIG_FILE, PROXY_PORT, PROXY_STATE_FILE, announcedId, renderProxyConfig, type ProxyBackend, type ProxyState } from '../haproxy.js';

/** Where a replica writes its sampled requests: the service's samples volume. */
const SAMPLES_DIR = '/gitml/outputs';

export const LABEL_PROJECT = 'dev.gitml.project';
export const LABEL_SERVICE = 'dev.gitml.service';
export const LABEL_PART = 'dev.gitml.service-part';
export const LABEL_SVC_VERSION = 'dev.gitml.service-version';
/** A replica's settings besides version and image (plan.ts replicaSpec): changed settings replace it. */
export const LABEL_SPEC = 'dev.gitml.service-replica-spec';
export const LABEL_ROLE = 'dev.gitml.service-role';
export const LABEL_IMAGE = 'dev.gitml.service-image';
export const LABEL_REVISION = 'dev.gitml.service-revision';
export const LABEL_PORT = 'dev.gitml.service-port';
export const LABEL_MODEL_NAME = 'dev.gitml.model';

/** The public image a user's machine pulls; tests and air-gapped machines set GITML_PROXY_IMAGE. */
export const DEFAULT_PROXY_IMAGE = 'haproxy:2.8';

export interface DockerServiceDriverOptions {
  docker: GitmlDocker;
  /** The workspace's project name: services of two projects on one engine never mix. */
  project: string;
  proxyImage?: string;
  /** Address the front publishes on; default 127.0.0.1 for the local engine, 0.0.0.0 for a remote one. */
  publishHost?: string;
  /** How long a new replica may take to become healthy (ms). Default 180 s. */
  readyTimeoutMs?: number;
  /** How long in-flight requests get on the old replicas after traffic moved (ms). Default 2 s. */
  drainMs?: number;
  env?: NodeJS.ProcessEnv;
}

interface Found {
  proxy?: Dockerode.ContainerInfo;
  replicas: Dockerode.ContainerInfo[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A docker name component: [a-zA-Z0-9_.-], starting with a letter or digit. */
function nameSafe(s: string): string {
  return s.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '') || 'x';
}

/** The host part of an engine address: where a published port answers. */
export function engineHost(address: string): string {
  if (address.startsWith('unix://') || address.startsWith('npipe://')) return '127.0.0.1';
  try {
    const u = new URL(address);
    return u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  } catch {
    return '127.0.0.1';
  }
}

export class DockerServiceDriver implements ServiceDriver {
  readonly docker: GitmlDocker;
  readonly project: string;
  readonly proxyImage: string;
  readonly publishHost: string;
  private readonly readyTimeoutMs: number;
  private readonly drainMs: number;
  /** Containers started by this apply, per service and version (wait-ready waits on these). */
  private started = new Map<string, string[]>();
  private switchedAt = new Map<string, number>();

  constructor(o: DockerServiceDriverOptions) {
    const env = o.env ?? process.env;
    this.docker = o.docker;
    this.project = o.project;
    this.proxyImage = o.proxyImage ?? (env.GITML_PROXY_IMAGE || DEFAULT_PROXY_IMAGE);
    const local = engineHost(o.docker.gitmlAddress) === '127.0.0.1';
    this.publishHost = o.publishHost ?? (local ? '127.0.0.1' : '0.0.0.0');
    this.readyTimeoutMs = o.readyTimeoutMs ?? Number(env.GITML_READY_TIMEOUT_MS || 180_000);
    this.drainMs = o.drainMs ?? 2_000;
  }

  private base(service: string): string {
    return `gitml-${nameSafe(this.project)}-${nameSafe(service)}`.slice(0, 200);
  }

  /** The URL the front answers on, from wherever gitml runs. */
  url(port: number): string {
    const h = this.publishHost === '0.0.0.0' ? engineHost(this.docker.gitmlAddress) : this.publishHost;
    return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
  }

  private async find(service?: string): Promise<Found & { all: Dockerode.ContainerInfo[] }> {
    const label = [`${LABEL_PROJECT}=${this.project}`];
    if (service !== undefined) label.push(`${LABEL_SERVICE}=${service}`);
    const all = await dockerCall(this.docker, 'listing service containers', () => this.docker.listContainers({ all: true, filters: JSON.stringify({ label }) }));
    const proxies = all.filter((c) => c.Labels[LABEL_PART] === 'proxy');
    return { all, proxy: proxies.find((c) => c.State === 'running') ?? proxies[0], replicas: all.filter((c) => c.Labels[LABEL_PART] === 'replica') };
  }

  async list(): Promise<string[]> {
    const { all } = await this.find();
    return [...new Set(all.map((c) => c.Labels[LABEL_SERVICE]).filter(Boolean))].sort();
  }

  async actual(service: string): Promise<ActualService | null> {
    const f = await this.find(service);
    if (!f.proxy && f.replicas.length === 0) return null;
    const replicas: ActualReplica[] = [];
    for (const c of f.replicas) {
      replicas.push({
        id: c.Id,
        version: c.Labels[LABEL_SVC_VERSION] ?? '',
        image: c.Labels[LABEL_IMAGE] ?? c.Image,
        role: c.Labels[LABEL_ROLE] === 'canary' ? 'canary' : 'primary',
        // "Up 3 minutes (healthy)": running and the health check passes.
        ready: c.State === 'running' && /\(healthy\)/.test(c.Status),
        ...(c.Labels[LABEL_SPEC] !== undefined ? { spec: c.Labels[LABEL_SPEC] } : {}),
      });
    }
    const running = f.proxy?.State === 'running';
    const state = running ? await this.readProxyState(f.proxy!.Id).catch(() => undefined) : undefined;
    return {
      name: service,
      replicas,
      weights: state?.weights ?? {},
      port: running ? Number(f.proxy!.Labels[LABEL_PORT]) : undefined,
      revision: f.proxy?.Labels[LABEL_REVISION],
    };
  }

  /** Container details for `gitml services` / `gitml service status`. */
  async describe(service: string): Promise<{ proxy?: Dockerode.ContainerInfo; replicas: Dockerode.ContainerInfo[]; state?: ProxyState }> {
    const f = await this.find(service);
    const state = f.proxy?.State === 'running' ? await this.readProxyState(f.proxy.Id).catch(() => undefined) : undefined;
    return { proxy: f.proxy, replicas: f.replicas, state };
  }

  render(d: DesiredService): string {
    const base = this.base(d.name);
    const replicas = d.versions.flatMap((v) =>
      Array.from({ length: v.replicas }, (_, i) => ({
        name: `${base}-<id${i + 1}>`,
        image: v.image,
        version: v.version,
        role: v.role,
        user: `${RUN_UID}:${RUN_GID}`,
        network: base,
        resources: d.resources,
        health: 'GET /v2/health/ready every 1s',
      })),
    );
    const config = renderProxyConfig({
      service: d.name,
      backends: d.versions.map((v) => ({ version: v.version, role: v.role, weight: v.weight, servers: Array.from({ length: v.replicas }, (_, i) => ({ name: `r${i + 1}`, host: `${base}-<id${i + 1}>`, port: IMAGE_PORT })) })),
    });
    return stringify({
      engine: this.docker.gitmlAddress,
      network: base,
      proxy: { name: base, image: this.proxyImage, publish: `${this.publishHost}:${d.port}->${PROXY_PORT}`, url: this.url(d.port), config },
      replicas,
    });
  }

  async apply(step: Step, desired: DesiredService | null, ctx: ApplyContext): Promise<void> {
    switch (step.kind) {
      case 'ensure-front':
        return this.ensureFront(desired!, ctx);
      case 'start-replicas':
        return this.startReplicas(desired!, step, ctx);
      case 'wait-ready':
        return this.waitReady(step.service, step.version, ctx);
      case 'switch-traffic':
        return this.switchTraffic(desired!, step.weights, ctx);
      case 'remove-replicas':
        return this.removeReplicas(step.service, step.ids, ctx);
      case 'delete-service':
        return this.delete(step.service);
    }
  }

  private async ensureNetwork(service: string): Promise<string> {
    const name = this.base(service);
    const nets = await dockerCall(this.docker, 'listing networks', () => this.docker.listNetworks({ filters: JSON.stringify({ name: [name] }) }));
    if (nets.some((n) => n.Name === name)) return name;
    await dockerCall(this.docker, `creating network ${name}`, () =>
      this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: { [LABEL_PROJECT]: this.project, [LABEL_SERVICE]: service } }),
    ).catch((e: unknown) => {
      if (statusOf((e as GitmlError).cause) === 409) return; // created meanwhile
      throw e;
    });
    return name;
  }

  private async ensureImage(image: string, ctx: ApplyContext): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (e) {
      if (statusOf(e) !== 404) throw dockerError(e, this.docker.gitmlAddress, `inspecting ${image}`);
    }
    ctx.progress?.(`pulling ${image}`);
    const stream = await dockerCall(this.docker, `pulling ${image}`, () => this.docker.pull(image) as Promise<NodeJS.ReadableStream>);
    await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  }

  private async ensureFront(d: DesiredService, ctx: ApplyContext): Promise<void> {
    const network = await this.ensureNetwork(d.name);
    const f = await this.find(d.name);
    await this.ensureImage(this.proxyImage, ctx).catch((e: unknown) => {
      throw new GitmlError('TARGET', `the proxy image ${this.proxyImage} is not on the engine and cannot be pulled (${(e as Error).message}); set GITML_PROXY_IMAGE to an HAProxy 2.6+ image the engine has`, { image: this.proxyImage }, { cause: e });
    });
    // Keep serving whatever is ready now (a port change, or a front killed by hand).
    const state = this.frontState(d, f.replicas.filter((r) => r.State === 'running' && /\(healthy\)/.test(r.Status)), {});
    // Start-first for the front too: the new one must bind its port before the old one goes,
    // so a port that is taken leaves the old front serving.
    const old = f.all.filter((c) => c.Labels[LABEL_PART] === 'proxy');
    const samePort = old.filter((c) => c.Labels[LABEL_PORT] === String(d.port));
    if (samePort.length > 0) {
      ctx.progress?.(`${d.name}: replacing the front on port ${d.port}`);
      await this.removeIds(samePort.map((c) => c.Id));
    }
    const name = `${this.base(d.name)}-proxy-${randomBytes(3).toString('hex')}`;
    const container = await dockerCall(this.docker, `creating the front ${name}`, () =>
      this.docker.createContainer({
        name,
        Image: this.proxyImage,
        Entrypoint: ['haproxy'],
        Cmd: ['-W', '-db', '-f', PROXY_CONFIG_FILE],
        User: `${RUN_UID}:${RUN_GID}`,
        Labels: this.labels(d, { [LABEL_PART]: 'proxy', [LABEL_PORT]: String(d.port) }),
        ExposedPorts: { [`${PROXY_PORT}/tcp`]: {} },
        HostConfig: {
          NetworkMode: network,
          PortBindings: { [`${PROXY_PORT}/tcp`]: [{ HostIp: this.publishHost, HostPort: String(d.port) }] },
          RestartPolicy: { Name: 'unless-stopped' },
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          Memory: 256 * 1024 * 1024,
        },
      }),
    );
    await this.writeProxyFiles(container, state);
    try {
      await container.start();
    } catch (e) {
      await container.remove({ force: true }).catch(() => undefined);
      const msg = String((e as { json?: { message?: string } }).json?.message ?? (e as Error).message);
      if (/port is already allocated|address already in use/i.test(msg)) {
        throw new GitmlError('DEPLOY', `port ${d.port} on ${this.publishHost} is already in use on the engine: stop what listens there or set another \`port:\` in ${d.file ?? `gitml/services/${d.name}.yaml`}`, { port: d.port, service: d.name, reason: 'PortInUse' });
      }
      throw dockerError(e, this.docker.gitmlAddress, `starting the front ${name}`);
    }
    await this.waitFront(d.port, announcedId(state.config)!, ctx);
    const rest = old.filter((c) => !samePort.includes(c));
    if (rest.length > 0) await this.removeIds(rest.map((c) => c.Id));
  }

  private labels(d: DesiredService, extra: Record<string, string>): Record<string, string> {
    return { [LABEL_PROJECT]: this.project, [LABEL_SERVICE]: d.name, [LABEL_MODEL_NAME]: d.model, [LABEL_REVISION]: d.revision, ...extra };
  }

  private async startReplicas(d: DesiredService, step: Extract<Step, { kind: 'start-replicas' }>, ctx: ApplyContext): Promise<void> {
    const network = await this.ensureNetwork(d.name);
    await this.ensureImage(step.image, ctx);
    const samples = d.sampleRate ? await this.ensureSamplesVolume(d.name) : undefined;
    const ids: string[] = [];
    for (let i = 0; i < step.count; i++) {
      const name = `${this.base(d.name)}-${nameSafe(step.version)}-${randomBytes(3).toString('hex')}`;
      const c = await dockerCall(this.docker, `creating replica ${name}`, () =>
        this.docker.createContainer({
          name,
          Image: step.image,
          User: `${RUN_UID}:${RUN_GID}`,
          Env: [`GITML_PORT=${IMAGE_PORT}`, 'GITML_HOST=0.0.0.0', 'HOME=/tmp', ...(samples ? [`GITML_SAMPLE_LOG=${SAMPLES_DIR}/requests-${name}.jsonl`, `GITML_SAMPLE_RATE=${d.sampleRate}`] : [])],
          Labels: this.labels(d, { [LABEL_PART]: 'replica', [LABEL_SVC_VERSION]: step.version, [LABEL_ROLE]: step.role, [LABEL_IMAGE]: step.image, [LABEL_SPEC]: replicaSpec(d) }),
          // The image's own check (GET /v2/health/ready), run every second so a rollout waits seconds, not tens.
          Healthcheck: { Interval: 1e9, Timeout: 3e9, Retries: 3, StartPeriod: Math.round(this.readyTimeoutMs * 1e6) },
          HostConfig: {
            NetworkMode: network,
            RestartPolicy: { Name: 'unless-stopped' },
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
            ReadonlyRootfs: true,
            Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
            ...(samples ? { Mounts: [{ Type: 'volume' as const, Source: samples, Target: SAMPLES_DIR }] } : {}),
            Init: true,
            NanoCpus: nanoCpus(d.resources.cpu),
            Memory: memoryBytes(d.resources.memory),
          },
        }),
      );
      ids.push(c.id);
      await dockerCall(this.docker, `starting replica ${name}`, () => c.start());
    }
    const key = `${d.name}\0${step.version}`;
    this.started.set(key, [...(this.started.get(key) ?? []), ...ids]);
    ctx.progress?.(`${d.name}: started ${ids.length} replica(s) of ${step.version}`);
  }

  private async waitReady(service: string, version: string, ctx: ApplyContext): Promise<void> {
    const key = `${service}\0${version}`;
    const ids = this.started.get(key) ?? [];
    const deadline = Date.now() + this.readyTimeoutMs;
    const pending = new Set(ids);
    let lastSay = 0;
    let lastLog = Date.now();
    while (pending.size > 0) {
      if (ctx.signal?.aborted) throw new GitmlError('CANCELED', 'canceled while waiting for replicas');
      for (const id of [...pending]) {
        const info = await dockerCall(this.docker, 'inspecting a replica', () => this.docker.getContainer(id).inspect());
        const health = info.State.Health?.Status;
        if (info.State.Running && health === 'healthy') {
          pending.delete(id);
          continue;
        }
        let failed = !info.State.Running && !info.State.Restarting ? `exited with code ${info.State.ExitCode}` : health === 'unhealthy' ? 'failed its health check' : undefined;
        // The scoring server stays up (503) when its model cannot load: no wait will fix that.
        if (!failed && Date.now() - lastLog > 2_000) {
          lastLog = Date.now();
          const m = /error: model .* failed to load: [^\n]*/.exec(await this.logTail(id, 200));
          if (m) failed = `cannot load its model (${m[0].replace(/^.*failed to load: /, '').replace(/; the server stays up.*$/, '')})`;
        }
        if (failed || Date.now() > deadline) {
          const why = failed ?? `was not ready within ${Math.round(this.readyTimeoutMs / 1000)} s`;
          const tail = await this.logTail(id);
          await this.removeIds(ids);
          this.started.delete(key);
          throw new GitmlError('DEPLOY', `a replica of ${service} ${version} ${why}; the previous version keeps serving.${tail ? ` Its last log lines:\n${tail}` : ''}`, { service, version, reason: failed ? 'ReplicaFailed' : 'ReadyTimeout' });
        }
      }
      if (pending.size > 0) {
        if (Date.now() - lastSay > 5_000) {
          lastSay = Date.now();
          ctx.progress?.(`${service}: waiting for ${pending.size} replica(s) of ${version} to answer /v2/health/ready`);
        }
        await sleep(250);
      }
    }
  }

  /** The last lines a container logged, without the health checks' request lines. */
  private async logTail(id: string, lines = 8): Promise<string> {
    try {
      const buf = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: 400 })) as unknown as Buffer;
      const keep = demux(buf).trim().split('\n').filter((l) => !/ GET \/v2\/health\/(ready|live) \d{3} /.test(l));
      return keep.slice(-lines).map((l) => `  ${l}`).join('\n');
    } catch {
      return '';
    }
  }

  /** The front's state for these replicas and weights (versions without weight keep none). */
  private frontState(d: DesiredService, ready: Dockerode.ContainerInfo[], weights: Record<string, number>): ProxyState {
    const backends: ProxyBackend[] = [];
    const byVersion = new Map<string, Dockerode.ContainerInfo[]>();
    for (const c of ready) {
      const v = c.Labels[LABEL_SVC_VERSION];
      byVersion.set(v, [...(byVersion.get(v) ?? []), c]);
    }
    const w = Object.keys(weights).length > 0 ? weights : Object.fromEntries(d.versions.map((v) => [v.version, v.weight]));
    for (const v of d.versions) {
      const servers = (byVersion.get(v.version) ?? [])
        .filter((c) => (c.Labels[LABEL_IMAGE] ?? '') === v.image)
        .map((c) => ({ name: `${nameSafe(v.version)}-${c.Id.slice(0, 12)}`, host: c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12), port: IMAGE_PORT }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      backends.push({ version: v.version, role: v.role, weight: w[v.version] ?? 0, servers });
    }
    const config = renderProxyConfig({ service: d.name, backends });
    return { service: d.name, weights: w, servers: Object.fromEntries(backends.map((b) => [b.version, b.servers.map((s) => s.host)])), config };
  }

  private async writeProxyFiles(container: Dockerode.Container, state: ProxyState): Promise<void> {
    const tarball = await packContext({ [`${PROXY_CONFIG_DIR.slice(1)}/haproxy.cfg`]: state.config, [`${PROXY_CONFIG_DIR.slice(1)}/state.json`]: JSON.stringify(state, null, 2) + '\n' });
    await dockerCall(this.docker, 'writing the proxy configuration', () => container.putArchive(tarball, { path: '/' }));
  }

  private async readProxyState(id: string): Promise<ProxyState> {
    const stream = (await this.docker.getContainer(id).getArchive({ path: PROXY_STATE_FILE })) as unknown as NodeJS.ReadableStream;
    const extract = tar.extract();
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      extract.on('entry', (_h, s, next) => {
        s.on('data', (c: unknown) => chunks.push(c as Buffer));
        s.on('end', next);
        s.resume();
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      stream.on('error', reject);
      stream.pipe(extract);
    });
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as ProxyState;
  }

  private async switchTraffic(d: DesiredService, weights: Record<string, number>, ctx: ApplyContext): Promise<void> {
    const f = await this.find(d.name);
    if (!f.proxy || f.proxy.State !== 'running') throw new GitmlError('DEPLOY', `the front of ${d.name} is not running`, { service: d.name, reason: 'FrontDown' });
    const ready = f.replicas.filter((r) => r.State === 'running' && /\(healthy\)/.test(r.Status));
    const state = this.frontState(d, ready, weights);
    const empty = Object.entries(state.servers).filter(([v, s]) => s.length === 0 && (weights[v] ?? 0) > 0).map(([v]) => v);
    if (empty.length > 0) throw new GitmlError('DEPLOY', `no ready replica of ${d.name} ${empty.join(', ')} to send traffic to`, { service: d.name, reason: 'NoReadyReplica' });
    const container = this.docker.getContainer(f.proxy.Id);
    await this.writeProxyFiles(container, state);
    // Master-worker mode: SIGUSR2 re-reads the config; new workers take over the sockets.
    await dockerCall(this.docker, 'reloading the proxy', () => container.kill({ signal: 'SIGUSR2' }));
    await this.waitFront(Number(f.proxy.Labels[LABEL_PORT]), announcedId(state.config)!, ctx);
    this.switchedAt.set(d.name, Date.now());
    ctx.progress?.(`${d.name}: traffic ${Object.entries(state.weights).map(([v, w]) => `${v}=${w}%`).join(', ')}`);
  }

  /** Until the front answers with this config id (the reload took), or fail when it never does. */
  private async waitFront(port: number, id: string, ctx: ApplyContext): Promise<void> {
    const deadline = Date.now() + 15_000;
    const url = `${this.url(port)}/v2/health/live`;
    let last = '';
    while (Date.now() < deadline) {
      if (ctx.signal?.aborted) throw new GitmlError('CANCELED', 'canceled while reloading the proxy');
      try {
        const r = await httpGet(url, 2000);
        const got = r.headers[HEADER_CONFIG.toLowerCase()];
        if (got === id) return;
        last = `it answers with config ${got ?? 'none'}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(100);
    }
    throw new GitmlError('DEPLOY', `the proxy on ${url} did not take its new configuration within 15 s (${last})`, { url, reason: 'ProxyReload' });
  }

  private async removeReplicas(service: string, ids: string[], ctx: ApplyContext): Promise<void> {
    const since = this.switchedAt.get(service);
    if (since !== undefined) {
      const left = this.drainMs - (Date.now() - since);
      if (left > 0) {
        ctx.progress?.(`${service}: draining for ${Math.ceil(left / 1000)} s`);
        await sleep(left);
      }
    }
    await this.removeIds(ids, true);
  }

  private async removeIds(ids: string[], graceful = false): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        const c = this.docker.getContainer(id);
        try {
          if (graceful) await c.stop({ t: 10 }).catch((e: unknown) => (statusOf(e) === 304 || statusOf(e) === 404 ? undefined : Promise.reject(e)));
          await c.remove({ force: true });
        } catch (e) {
          if (statusOf(e) === 404) return;
          throw dockerError(e, this.docker.gitmlAddress, `removing replica ${id.slice(0, 12)}`);
        }
      }),
    );
  }

  /**
   * The service's volume of sampled requests, shared by its replicas across rollouts (each
   * writes its own file). Mounted over /gitml/outputs, which every gitml image has owned by
   * the run user: Docker gives a new volume that folder's owner, so uid 1000 can write it.
   */
  private async ensureSamplesVolume(service: string): Promise<string> {
    const name = `${this.base(service)}-samples`;
    await dockerCall(this.docker, `creating volume ${name}`, () => this.docker.createVolume({ Name: name, Labels: { [LABEL_PROJECT]: this.project, [LABEL_SERVICE]: service } }));
    return name;
  }

  /**
   * Copy every replica's sample log (the JSON lines the scoring server appends) into `dest`,
   * read from the samples volume through any of the service's replicas (a stopped one
   * will do). Returns the files written; none when the service samples nothing.
   */
  async sampleLogs(service: string, dest: string): Promise<string[]> {
    const f = await this.find(service);
    const from = f.replicas.find((c) => c.Mounts?.some((m) => m.Destination === SAMPLES_DIR));
    if (!from) return [];
    const stream = (await dockerCall(this.docker, 'reading the sample logs', () => this.docker.getContainer(from.Id).getArchive({ path: `${SAMPLES_DIR}/.` }))) as unknown as NodeJS.ReadableStream;
    const files: string[] = [];
    const extract = tar.extract();
    await new Promise<void>((resolve, reject) => {
      extract.on('entry', (h, s, next) => {
        // Only the replicas' own files, by a name of gitml's making: nothing in the archive
        // chooses a path outside `dest`.
        const base = path.posix.basename(h.name);
        if (h.type !== 'file' || !/^requests-[A-Za-z0-9_.-]+\.jsonl$/.test(base)) {
          s.resume();
          s.on('end', next);
          return;
        }
        const file = path.join(dest, base);
        files.push(file);
        const out = createWriteStream(file);
        s.pipe(out);
        out.on('finish', next);
        out.on('error', reject);
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
      stream.on('error', reject);
      stream.pipe(extract);
    });
    return files.sort();
  }

  async delete(service: string): Promise<void> {
    const f = await this.find(service);
    await this.removeIds(f.all.map((c) => c.Id));
    const name = this.base(service);
    await this.docker.getVolume(`${name}-samples`).remove().catch(() => undefined);
    const nets = await dockerCall(this.docker, 'listing networks', () => this.docker.listNetworks({ filters: JSON.stringify({ name: [name] }) }));
    for (const n of nets.filter((x) => x.Name === name)) {
      await this.docker.getNetwork(n.Id).remove().catch((e: unknown) => (statusOf(e) === 404 ? undefined : Promise.reject(dockerError(e, this.docker.gitmlAddress, `removing network ${name}`))));
    }
  }

  async logs(service: string, opts: { follow: boolean; signal?: AbortSignal; write: (line: string) => void }): Promise<void> {
    const f = await this.find(service);
    const parts = [...(f.proxy ? [f.proxy] : []), ...f.replicas];
    await Promise.all(
      parts.map(async (c) => {
        const who = c.Labels[LABEL_PART] === 'proxy' ? 'proxy' : `${c.Labels[LABEL_SVC_VERSION]}/${c.Id.slice(0, 8)}`;
        let rest = '';
        const emit = (s: string) => {
          rest += s;
          const lines = rest.split('\n');
          rest = lines.pop()!;
          for (const l of lines) opts.write(`[${who}] ${l}`);
        };
        const container = this.docker.getContainer(c.Id);
        if (!opts.follow) {
          const buf = (await dockerCall(this.docker, 'reading logs', () => container.logs({ stdout: true, stderr: true, follow: false, tail: 200 }))) as unknown as Buffer;
          emit(demux(buf));
        } else {
          const stream = (await dockerCall(this.docker, 'following logs', () => container.logs({ stdout: true, stderr: true, follow: true, tail: 50 }))) as unknown as NodeJS.ReadableStream & { destroy(): void };
          await new Promise<void>((resolve) => {
            const out = { write: (b: Buffer) => emit(b.toString('utf8')) };
            this.docker.modem.demuxStream(stream, out as unknown as NodeJS.WritableStream, out as unknown as NodeJS.WritableStream);
            stream.on('end', resolve);
            stream.on('error', () => resolve());
            opts.signal?.addEventListener('abort', () => {
              stream.destroy();
              resolve();
            });
          });
        }
        if (rest) opts.write(`[${who}] ${rest}`);
      }),
    );
  }

  async ping(): Promise<void> {
    await pingDocker(this.docker);
  }
}

/** The engine's multiplexed log format (8-byte frame headers) as text. */
export function demux(buf: Buffer): string {
  if (!Buffer.isBuffer(buf)) return String(buf);
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2 || buf[i] === 0) && buf[i + 1] === 0) {
    const n = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + n));
    i += 8 + n;
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(out).toString('utf8');
}
