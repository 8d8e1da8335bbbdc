/**
 * A recording stand-in for a Kubernetes API server, on 127.0.0.1 (node:http), for the one part
 * of gitml that cannot run against the real thing here. It answers like the API server does:
 * discovery documents, objects with kind/apiVersion/metadata (uid, resourceVersion,
 * creationTimestamp), Status objects for errors (401/403/404/409/415/422), lists, chunked
 * `?watch=true` event streams, `follow=true` pod logs, server-side apply (PATCH
 * application/apply-patch+yaml with fieldManager), merge patches and DeleteOptions.
 *
 * Every object body it receives is validated against the Kubernetes OpenAPI schemas
 * (kubernetes-models, through core/kube/validate.ts) and refused with 422 when invalid, so the
 * contract is checked on the server side too.
 *
 * A small Job controller and kubelet make created Jobs behave: a pod per attempt, pulled only
 * if its image was "pushed" (`server.images`), secret env resolved from stored Secrets (or
 * CreateContainerConfigError), the container's command really executed on the host with
 * container paths mapped to host folders (the image's files, emptyDir volumes), its output as
 * the pod log, exit code → pod phase → Job conditions, backoffLimit retries,
 * activeDeadlineSeconds (SIGTERM, DeadlineExceeded), ttlSecondsAfterFinished, and deletion
 * with propagationPolicy (dependents found through ownerReferences).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { kubeObjectProblems } from '../../core/kube/validate.js';

type Obj = Record<string, any>;

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  /** Parsed JSON/YAML body, or the raw text when it did not parse. */
  body?: unknown;
}

/** What a pushed image holds: container path → host folder. */
export interface FakeImage {
  files?: Record<string, string>;
}

interface ResourceDef {
  group: string; // '' for core
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const RESOURCES: ResourceDef[] = [
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true, verbs: VERBS },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true, verbs: VERBS },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true, verbs: VERBS },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: VERBS },
  { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, verbs: VERBS },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', namespaced: true, verbs: VERBS },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true, verbs: VERBS },
  { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true, verbs: VERBS },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', kind: 'HTTPRoute', namespaced: true, verbs: VERBS },
];

function apiVersionOf(d: ResourceDef): string {
  return d.group ? `${d.group}/${d.version}` : d.version;
}

interface WatchSub {
  def: ResourceDef;
  ns: string;
  match: (o: Obj) => boolean;
  res: http.ServerResponse;
}

interface LogLine {
  ts: string;
  text: string;
}

interface PodRuntime {
  proc?: ChildProcess;
  lines: LogLine[];
  partial: Record<'stdout' | 'stderr', string>;
  followers: Set<{ res: http.ServerResponse; timestamps: boolean }>;
  terminated: boolean;
  scratch: string[];
  timers: NodeJS.Timeout[];
}

function nowTs(): string {
  const d = new Date();
  return d.toISOString().replace(/\.(\d{3})Z$/, (_m, ms: string) => `.${ms}${String(process.hrtime()[1] % 1_000_000).padStart(6, '0')}Z`);
}

function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Obj = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * A label selector in the API server's string syntax: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * `k in (a,b)`, `k notin (a,b)`, terms separated by commas outside parentheses.
 */
export function matchLabels(selector: string | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  const terms: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(cur);
      cur = '';
    } else cur += ch;
  }
  terms.push(cur);
  return terms
    .map((t) => t.trim())
    .filter(Boolean)
    .every((term) => {
      const set = /^(\S+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
      if (set) {
        const values = set[3].split(',').map((v) => v.trim());
        const has = set[1] in labels && values.includes(labels[set[1]]);
        return set[2] === 'in' ? has : !has;
      }
      if (term.startsWith('!')) return !(term.slice(1).trim() in labels);
      const neq = term.split('!=');
      if (neq.length === 2) return labels[neq[0].trim()] !== neq[1].trim();
      const [k, v] = term.split(/==?/);
      return v === undefined ? k.trim() in labels : labels[k.trim()] === v.trim();
    });
}

function matchFields(selector: string | undefined, o: Obj): boolean {
  if (!selector) return true;
  return selector
    .split(',')
    .filter(Boolean)
    .every((term) => {
      const [k, v] = term.split(/==?/);
      const val = k.trim() === 'metadata.name' ? o.metadata?.name : k.trim() === 'metadata.namespace' ? o.metadata?.namespace : k.trim() === 'status.phase' ? o.status?.phase : undefined;
      return val === v?.trim();
    });
}

export interface FakeKubeApiServerOptions {
  /** Bearer token the server requires (401 without it). */
  token?: string;
  /** Namespaces that exist. */
  namespaces?: string[];
  /** Delay before a created pod's container starts (ms). */
  startDelayMs?: number;
  /** SIGTERM → SIGKILL grace period of the fake kubelet (ms). */
  killGraceMs?: number;
  /**
   * Plain-HTTP registries (host:port) the fake kubelet really pulls from: the image's layers are
   * fetched through the Registry API and its /gitml/code folder extracted for the container.
   */
  registries?: string[];
  /** Serve plain HTTP (kubeconfig then needs insecure-skip-tls-verify) instead of HTTPS with a fresh self-signed certificate. */
  plainHttp?: boolean;
  /** The cluster's nodes, for the fake scheduler (default: one untainted node). */
  nodes?: FakeNode[];
  /** Time from a Deployment pod's container start to its readiness probe passing (ms, default 30). */
  podReadyMs?: number;
  /** Milliseconds per "second" of a Deployment's progressDeadlineSeconds (default 1000; tests shrink it). */
  secondsMs?: number;
  /** Serve the Gateway API's HTTPRoute (a cluster with a Gateway implementation); default true. */
  gatewayApi?: boolean;
}

/** A node the fake scheduler may place pods on. */
export interface FakeNode {
  name: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
}

/** A permission the fake RBAC authorizer refuses (403 with the API server's wording). */
export interface DeniedRule {
  verb: string;
  /** Resource, or resource/subresource (pods/log). */
  resource: string;
  /** API group ('' for core). */
  group: string;
}

/** The verb RBAC checks for a request (the API server's request-info rules). */
function requestVerb(method: string, hasName: boolean, query: Record<string, string>): string {
  if (method === 'GET') return hasName ? 'get' : query.watch === 'true' || query.watch === '1' ? 'watch' : 'list';
  if (method === 'POST') return 'create';
  if (method === 'PATCH') return 'patch';
  if (method === 'PUT') return 'update';
  if (method === 'DELETE') return hasName ? 'delete' : 'deletecollection';
  return method.toLowerCase();
}

const isPlain = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

/** Server-side apply's merge: maps merge key by key, lists and scalars are replaced whole (atomic). */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlain(base) || !isPlain(over)) return structuredClone(over);
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** `obj` without the fields `owned` sets (a manager's previous apply: what it stopped applying goes). */
function withoutOwned(obj: unknown, owned: unknown): unknown {
  if (!isPlain(obj) || !isPlain(owned)) return undefined;
  const out: Obj = { ...obj };
  for (const [k, v] of Object.entries(owned)) {
    if (!(k in out)) continue;
    if (isPlain(v) && isPlain(out[k]) && Object.keys(v).length > 0) {
      const rest = withoutOwned(out[k], v) as Obj;
      if (Object.keys(rest).length === 0) delete out[k];
      else out[k] = rest;
    } else delete out[k];
  }
  return out;
}

/** Leaf paths of a patch body (for ownership and conflicts). */
function leaves(o: unknown, prefix: string[] = []): Array<{ path: string[]; value: unknown }> {
  if (!isPlain(o) || Object.keys(o).length === 0) return [{ path: prefix, value: o }];
  return Object.entries(o).flatMap(([k, v]) => leaves(v, [...prefix, k]));
}

function at(o: unknown, p: string[]): unknown {
  let cur = o;
  for (const k of p) cur = isPlain(cur) ? cur[k] : undefined;
  return cur;
}

function dropPath(o: Obj, p: string[]): void {
  if (p.length === 0) return;
  const parent = at(o, p.slice(0, -1));
  if (isPlain(parent)) delete parent[p[p.length - 1]];
}

const META_SERVER_FIELDS = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields'];

/** A self-signed certificate for 127.0.0.1 made with openssl, as a real cluster's CA-signed serving certificate stands in. */
export function selfSignedCert(): { key: string; cert: string } {
  const d = mkdtempSync(path.join(tmpdir(), 'fake-apiserver-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(d, 'key.pem'), '-out', path.join(d, 'cert.pem'), '-days', '2', '-subj', '/CN=fake-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(path.join(d, 'key.pem'), 'utf8'), cert: readFileSync(path.join(d, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * Pull `ref` from a plain-HTTP registry through the Registry HTTP API v2 and unpack the files
 * under gitml/ of its layers into a fresh folder (returned).
 */
export async function pullFromRegistry(ref: string): Promise<string> {
  const m = /^([^/]+)\/(.+?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]*))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(ref);
  if (!m) throw new Error(`not an image reference with a registry: ${ref}`);
  const [, host, name, tag, digest] = m;
  const res = await fetch(`http://${host}/v2/${name}/manifests/${digest ?? tag ?? 'latest'}`, {
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  if (!res.ok) throw new Error(`manifest unknown (${res.status})`);
  const manifest = (await res.json()) as { layers?: Array<{ digest: string; mediaType: string }> };
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-kubelet-image-'));
  const { extract } = await import('tar-stream');
  const { mkdir, writeFile } = await import('node:fs/promises');
  for (const layer of manifest.layers ?? []) {
    const blob = await fetch(`http://${host}/v2/${name}/blobs/${layer.digest}`);
    if (!blob.ok) throw new Error(`blob ${layer.digest} unknown (${blob.status})`);
    let buf = Buffer.from(await blob.arrayBuffer());
    if (layer.mediaType.includes('gzip')) buf = gunzipSync(buf);
    const ex = extract();
    const done = new Promise<void>((resolve, reject) => {
      ex.on('entry', (h, stream, next) => {
        const rel = path.posix.normalize(h.name.replace(/^\.?\/+/, ''));
        const keep = (rel === 'gitml' || rel.startsWith('gitml/')) && !rel.includes('..') && !path.posix.basename(rel).startsWith('.wh.');
        const chunks: Buffer[] = [];
        stream.on('data', (d: unknown) => chunks.push(d as Buffer));
        stream.on('end', () => {
          const full = path.join(dir, rel);
          const write = !keep ? Promise.resolve() : h.type === 'directory' ? mkdir(full, { recursive: true }).then(() => undefined) : h.type === 'file' ? mkdir(path.dirname(full), { recursive: true }).then(() => writeFile(full, Buffer.concat(chunks))) : Promise.resolve();
          write.then(() => next(), reject);
        });
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
    });
    ex.end(buf);
    await done;
  }
  return dir;
}

/** Whether a plain-HTTP registry holds the manifest `ref` names (by tag or digest). */
export async function registryHasManifest(ref: string): Promise<boolean> {
  const m = /^([^/]+)\/(.+?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]*))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(ref);
  if (!m) return false;
  const [, host, name, tag, digest] = m;
  const res = await fetch(`http://${host}/v2/${name}/manifests/${digest ?? tag ?? 'latest'}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  return res.ok;
}

export class FakeKubeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** Images the fake registry holds ("pushed"): reference → content. */
  readonly images = new Map<string, FakeImage>();
  /** The cluster's nodes, for the fake scheduler (changeable between tests). */
  nodes: FakeNode[];
  /** Images whose pods start but never pass their readiness probe (a model that never loads). */
  readonly neverReady = new Set<string>();
  /** Permissions the fake RBAC authorizer refuses: the request gets the API server's 403. */
  denied: DeniedRule[] = [];
  /** Identity named in 403 messages. */
  user = 'system:serviceaccount:default:gitml';
  /** Each field manager's last applied configuration (SSA) or merge patches (Update), per object. */
  private readonly managed = new Map<string, Map<string, { operation: 'Apply' | 'Update'; fields: Obj; time: string }>>();
  private readonly progress = new Map<string, { key: string; at: number; timer?: NodeJS.Timeout }>();
  /** Answer a request with an error Status instead (e.g. 403), when it returns one. */
  intercept?: (req: RecordedRequest) => { code: number; reason: string; message: string } | undefined;
  readonly namespaces: Set<string>;
  private readonly store = new Map<string, Obj>();
  private readonly watches = new Set<WatchSub>();
  /** Every event, so a watch from a resourceVersion replays what it missed (as etcd's history does). */
  private readonly history: Array<{ def: ResourceDef; type: string; object: Obj }> = [];
  private readonly pods = new Map<string, PodRuntime>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rv = 1000;
  private server?: http.Server | https.Server;
  url = '';
  /** PEM of the serving certificate (HTTPS), for kubeconfigs' certificate-authority-data. */
  cert?: string;
  private closed = false;

  constructor(private readonly opts: FakeKubeApiServerOptions = {}) {
    this.namespaces = new Set(opts.namespaces ?? ['default']);
    this.nodes = opts.nodes ?? [{ name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } }];
  }

  async start(): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      void this.handle(req, res).catch((e) => {
        if (!res.headersSent) this.send(res, 500, status(500, 'InternalError', String((e as Error)?.stack ?? e)));
        else res.end();
      });
    };
    if (this.opts.plainHttp) {
      this.server = http.createServer(handler);
    } else {
      const tls = selfSignedCert();
      this.cert = tls.cert;
      this.server = https.createServer({ key: tls.key, cert: tls.cert }, handler);
    }
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `${this.opts.plainHttp ? 'http' : 'https'}://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const [, p] of this.pods) {
      try {
        if (p.proc?.pid && p.proc.exitCode === null) process.kill(-p.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      for (const d of p.scratch) rmSync(d, { recursive: true, force: true });
      for (const f of p.followers) f.res.end();
    }
    for (const w of this.watches) w.res.end();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Write a kubeconfig for this server into `dir`; returns its path. */
  writeKubeconfig(dir: string, opts: { context?: string; namespace?: string; token?: string; server?: string; file?: string; trust?: boolean } = {}): string {
    const ctx = opts.context ?? 'fake';
    const file = path.join(dir, opts.file ?? 'kubeconfig.yaml');
    const server = opts.server ?? this.url;
    // The CA is the serving certificate itself (self-signed); `trust: false` leaves it out.
    const tlsLines = server.startsWith('http:')
      ? ['    insecure-skip-tls-verify: true']
      : this.cert && opts.trust !== false
        ? [`    certificate-authority-data: ${Buffer.from(this.cert).toString('base64')}`]
        : [];
    const token = opts.token ?? this.opts.token ?? 'test-token';
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `current-context: ${ctx}`,
        'clusters:',
        `- name: ${ctx}-cluster`,
        '  cluster:',
        `    server: ${server}`,
        ...tlsLines,
        'users:',
        `- name: ${ctx}-user`,
        '  user:',
        `    token: ${token}`,
        'contexts:',
        `- name: ${ctx}`,
        '  context:',
        `    cluster: ${ctx}-cluster`,
        `    user: ${ctx}-user`,
        ...(opts.namespace ? [`    namespace: ${opts.namespace}`] : []),
        '',
      ].join('\n'),
    );
    return file;
  }

  /** Stored objects of a resource (e.g. 'jobs'), optionally in one namespace. */
  list(resource: string, ns?: string): Obj[] {
    return [...this.store.entries()].filter(([k]) => k.startsWith(`${resource}/${ns ? `${ns}/` : ''}`)).map(([, v]) => structuredClone(v));
  }

  get(resource: string, ns: string, name: string): Obj | undefined {
    const o = this.store.get(`${resource}/${ns}/${name}`);
    return o ? structuredClone(o) : undefined;
  }

  /** The full log of a pod so far. */
  podLog(ns: string, name: string): string {
    return (this.pods.get(`${ns}/${name}`)?.lines ?? []).map((l) => l.text).join('');
  }

  /** End every open `follow=true` log stream early (a proxy or kubelet dropping the connection). */
  dropLogFollowers(): void {
    for (const [, p] of this.pods) {
      for (const f of p.followers) f.res.end();
      p.followers.clear();
    }
  }

  /** Close every open watch (as an API server does on its timeout). */
  closeWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  // ---------------------------------------------------------------- HTTP

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const contentType = req.headers['content-type']?.split(';')[0].trim();
    let body: unknown;
    if (raw) {
      try {
        body = contentType === 'application/apply-patch+yaml' ? parseYaml(raw) : JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      ...(contentType ? { contentType } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(body !== undefined ? { body } : {}),
    };
    this.requests.push(rec);

    if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      return this.send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const forced = this.intercept?.(rec);
    if (forced) return this.send(res, forced.code, status(forced.code, forced.reason, forced.message));

    const p = url.pathname.replace(/\/+$/, '');
    if (this.opts.gatewayApi === false && p.startsWith('/apis/gateway.networking.k8s.io')) return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (rec.method === 'GET' && p === '/api') {
      return this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.url.replace('http://', '') }] });
    }
    if (rec.method === 'GET' && p === '/apis') {
      const groups = [...new Set(RESOURCES.filter((r) => r.group && (this.opts.gatewayApi !== false || r.group !== 'gateway.networking.k8s.io')).map((r) => r.group))].map((g) => {
        const gv = { groupVersion: `${g}/v1`, version: 'v1' };
        return { name: g, versions: [gv], preferredVersion: gv };
      });
      return this.send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
    }
    const disc = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(p);
    if (rec.method === 'GET' && disc) {
      const group = disc[2] ?? '';
      const version = disc[1] ?? disc[3];
      const defs = RESOURCES.filter((r) => r.group === group && r.version === version);
      if (defs.length === 0) return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      const resources: Obj[] = [];
      for (const d of defs) {
        resources.push({ name: d.resource, singularName: d.kind.toLowerCase(), namespaced: d.namespaced, kind: d.kind, verbs: d.verbs });
        resources.push({ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
        if (d.resource === 'pods') resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
      }
      return this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources });
    }

    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(p);
    if (!m) return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const group = m[2] ?? '';
    const version = m[1] ?? m[3];
    const ns = decodeURIComponent(m[4]);
    const def = RESOURCES.find((r) => r.group === group && r.version === version && r.resource === m[5]);
    const name = m[6] ? decodeURIComponent(m[6]) : undefined;
    const sub = m[7];
    if (!def) return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (!this.namespaces.has(ns)) return this.send(res, 404, status(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' }));
    const gr = def.group ? `${def.resource}.${def.group}` : def.resource;
    const verb = requestVerb(rec.method, name !== undefined, rec.query);
    const resourcePath = sub ? `${def.resource}/${sub}` : def.resource;
    if (this.denied.some((d) => d.verb === verb && d.resource === resourcePath && d.group === def.group)) {
      const what = name ? `${gr} "${name}"` : gr;
      return this.send(
        res,
        403,
        status(403, 'Forbidden', `${what} is forbidden: User "${this.user}" cannot ${verb} resource "${resourcePath}" in API group "${def.group}" in the namespace "${ns}"`, { ...(name ? { name } : {}), group: def.group, kind: def.resource }),
      );
    }

    if (!name) {
      if (rec.method === 'POST') return this.create(res, def, ns, body);
      if (rec.method === 'GET') {
        const q = rec.query;
        const match = (o: Obj): boolean => matchLabels(q.labelSelector, o.metadata?.labels) && matchFields(q.fieldSelector, o);
        if (q.watch === 'true' || q.watch === '1') return this.watch(res, def, ns, match, q.resourceVersion, q.timeoutSeconds);
        const items = this.list(def.resource, ns).filter(match);
        return this.send(res, 200, { kind: `${def.kind}List`, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(this.rv) }, items });
      }
      return this.send(res, 405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    }

    const key = `${def.resource}/${ns}/${name}`;
    if (sub === 'log' && def.resource === 'pods' && rec.method === 'GET') return this.log(res, ns, name, rec.query);
    if (sub) return this.send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const existing = this.store.get(key);
    if (rec.method === 'GET') {
      if (!existing) return this.send(res, 404, status(404, 'NotFound', `${gr} "${name}" not found`, { name, group: def.group, kind: def.resource }));
      return this.send(res, 200, existing);
    }
    if (rec.method === 'DELETE') {
      if (!existing) return this.send(res, 404, status(404, 'NotFound', `${gr} "${name}" not found`, { name, group: def.group, kind: def.resource }));
      const policy = rec.query.propagationPolicy ?? (body as Obj | undefined)?.propagationPolicy ?? (def.resource === 'jobs' ? 'Orphan' : 'Background');
      this.remove(def, ns, name, policy);
      return this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: def.group, kind: def.resource, uid: existing.metadata.uid } });
    }
    if (rec.method === 'PATCH') return this.patch(res, def, ns, name, contentType, body, rec.query);
    return this.send(res, 405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }

  // ---------------------------------------------------------------- objects

  private invalid(res: http.ServerResponse, def: ResourceDef, name: string | undefined, causes: Obj[]): void {
    const gk = def.group ? `${def.kind}.${def.group}` : def.kind;
    this.send(
      res,
      422,
      status(422, 'Invalid', `${gk} "${name ?? ''}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { name, group: def.group, kind: def.kind, causes }),
    );
  }

  private checkBody(res: http.ServerResponse, def: ResourceDef, ns: string, body: unknown, name?: string): Obj | undefined {
    if (!body || typeof body !== 'object') {
      this.send(res, 400, status(400, 'BadRequest', 'the body of the request was in an unknown format'));
      return undefined;
    }
    const o = structuredClone(body as Obj);
    if (o.apiVersion !== apiVersionOf(def) || o.kind !== def.kind) {
      this.send(res, 400, status(400, 'BadRequest', `the API version in the data (${o.apiVersion}) or kind (${o.kind}) does not match the expected ${apiVersionOf(def)}/${def.kind}`));
      return undefined;
    }
    if (o.metadata?.namespace && o.metadata.namespace !== ns) {
      this.send(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
      return undefined;
    }
    if (name !== undefined && o.metadata?.name !== name) {
      this.send(res, 400, status(400, 'BadRequest', 'the name of the object does not match the name on the URL'));
      return undefined;
    }
    const causes = kubeObjectProblems(o);
    if (causes.length > 0) {
      this.invalid(res, def, o.metadata?.name, causes);
      return undefined;
    }
    return o;
  }

  private stamp(o: Obj, ns: string, prev?: Obj): Obj {
    o.metadata = {
      ...o.metadata,
      namespace: ns,
      uid: prev?.metadata?.uid ?? randomUUID(),
      creationTimestamp: prev?.metadata?.creationTimestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      resourceVersion: String(++this.rv),
      generation: (prev?.metadata?.generation ?? 0) + 1,
    };
    return o;
  }

  private put(def: ResourceDef, o: Obj, type: 'ADDED' | 'MODIFIED'): void {
    this.store.set(`${def.resource}/${o.metadata.namespace}/${o.metadata.name}`, o);
    this.emit(def, o, type);
  }

  private emit(def: ResourceDef, o: Obj, type: string): void {
    this.history.push({ def, type, object: structuredClone(o) });
    for (const w of this.watches) {
      if (w.def === def && w.ns === o.metadata.namespace && w.match(o)) w.res.write(JSON.stringify({ type, object: o }) + '\n');
    }
  }

  /** Update an object in place (status changes by the controllers). */
  private update(def: ResourceDef, ns: string, name: string, fn: (o: Obj) => void): Obj | undefined {
    const o = this.store.get(`${def.resource}/${ns}/${name}`);
    if (!o) return undefined;
    fn(o);
    o.metadata.resourceVersion = String(++this.rv);
    this.emit(def, o, 'MODIFIED');
    return o;
  }

  private create(res: http.ServerResponse, def: ResourceDef, ns: string, body: unknown): void {
    const o = this.checkBody(res, def, ns, body);
    if (!o) return;
    if (!o.metadata?.name && o.metadata?.generateName) o.metadata.name = `${o.metadata.generateName}${randomUUID().slice(0, 5)}`;
    const key = `${def.resource}/${ns}/${o.metadata.name}`;
    if (this.store.has(key)) {
      const gr = def.group ? `${def.resource}.${def.group}` : def.resource;
      return this.send(res, 409, status(409, 'AlreadyExists', `${gr} "${o.metadata.name}" already exists`, { name: o.metadata.name, group: def.group, kind: def.resource }));
    }
    if (def.resource === 'secrets' && o.stringData) {
      o.data = { ...(o.data ?? {}) };
      for (const [k, v] of Object.entries(o.stringData as Record<string, string>)) o.data[k] = Buffer.from(v).toString('base64');
      delete o.stringData;
    }
    delete o.status;
    this.stamp(o, ns);
    if (def.resource === 'jobs') o.status = {};
    this.put(def, o, 'ADDED');
    this.send(res, 201, o);
    if (def.resource === 'jobs') this.later(1, () => this.startJob(ns, o.metadata.name));
    this.changed(def, ns, o.metadata.name);
  }

  private patch(res: http.ServerResponse, def: ResourceDef, ns: string, name: string, contentType: string | undefined, body: unknown, q: Record<string, string>): void {
    const key = `${def.resource}/${ns}/${name}`;
    const existing = this.store.get(key);
    if (contentType === 'application/apply-patch+yaml') {
      if (!q.fieldManager) return this.send(res, 400, status(400, 'BadRequest', 'PATCH, application/apply-patch+yaml: fieldManager must be set'));
      if (q.force !== undefined && q.force !== 'true' && q.force !== 'false') return this.send(res, 400, status(400, 'BadRequest', 'force must be true or false'));
      const applied = this.checkBody(res, def, ns, body, name);
      if (!applied) return;
      delete applied.status;
      const managers = this.managed.get(key) ?? new Map();
      // Conflicts: a field another manager set to a different value is refused unless forced (then it changes hands).
      const conflicts: Array<{ manager: string; path: string[] }> = [];
      for (const leaf of leaves(applied)) {
        if (leaf.path[0] === 'metadata' && META_SERVER_FIELDS.includes(leaf.path[1])) continue;
        for (const [m, entry] of managers) {
          if (m === q.fieldManager) continue;
          const theirs = at(entry.fields, leaf.path);
          if (theirs !== undefined && JSON.stringify(theirs) !== JSON.stringify(leaf.value)) conflicts.push({ manager: m, path: leaf.path });
        }
      }
      if (conflicts.length > 0 && q.force !== 'true') {
        return this.send(
          res,
          409,
          status(409, 'Conflict', `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${conflicts.map((c) => `conflict with "${c.manager}": .${c.path.join('.')}`).join(', ')}`, {
            name,
            group: def.group,
            kind: def.resource,
            causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: `.${c.path.join('.')}` })),
          }),
        );
      }
      for (const c of conflicts) dropPath(managers.get(c.manager)!.fields, c.path);
      const prev = managers.get(q.fieldManager)?.fields;
      const base = existing ? (withoutOwned(existing, prev ?? {}) as Obj) : {};
      const o = deepMerge(base, applied) as Obj;
      o.metadata = { ...o.metadata, name };
      for (const k of META_SERVER_FIELDS) delete o.metadata[k];
      delete o.status;
      const merged = this.checkBody(res, def, ns, o, name);
      if (!merged) return;
      managers.set(q.fieldManager, { operation: 'Apply', fields: structuredClone(applied), time: new Date().toISOString() });
      this.managed.set(key, managers);
      this.stamp(merged, ns, existing);
      if (existing && JSON.stringify(existing.spec ?? null) === JSON.stringify(merged.spec ?? null)) merged.metadata.generation = existing.metadata.generation;
      merged.metadata.managedFields = [...managers].map(([manager, e]) => ({ manager, operation: e.operation, apiVersion: apiVersionOf(def), fieldsType: 'FieldsV1', time: e.time }));
      if (existing?.status) merged.status = existing.status;
      this.put(def, merged, existing ? 'MODIFIED' : 'ADDED');
      this.send(res, existing ? 200 : 201, merged);
      this.changed(def, ns, name);
      return;
    }
    if (contentType === 'application/merge-patch+json' || contentType === 'application/strategic-merge-patch+json') {
      if (!existing) return this.send(res, 404, status(404, 'NotFound', `${def.resource} "${name}" not found`, { name, kind: def.resource }));
      if (!body || typeof body !== 'object') return this.send(res, 400, status(400, 'BadRequest', 'invalid patch body'));
      const merged = mergePatch(existing, body) as Obj;
      const { status: st, ...rest } = merged;
      const meta = { ...rest.metadata };
      for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields']) delete meta[k];
      const o = this.checkBody(res, def, ns, { ...rest, metadata: meta }, name);
      if (!o) return;
      const managers = this.managed.get(key) ?? new Map();
      const manager = q.fieldManager ?? 'unknown';
      managers.set(manager, { operation: 'Update', fields: deepMerge(managers.get(manager)?.fields ?? {}, body) as Obj, time: new Date().toISOString() });
      this.managed.set(key, managers);
      this.stamp(o, ns, existing);
      if (JSON.stringify(existing.spec ?? null) === JSON.stringify(o.spec ?? null)) o.metadata.generation = existing.metadata.generation;
      o.metadata.managedFields = [...managers].map(([m, e]) => ({ manager: m, operation: e.operation, apiVersion: apiVersionOf(def), fieldsType: 'FieldsV1', time: e.time }));
      if (st) o.status = st;
      this.put(def, o, 'MODIFIED');
      this.send(res, 200, o);
      this.changed(def, ns, name);
      return;
    }
    return this.send(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`));
  }

  private remove(def: ResourceDef, ns: string, name: string, policy: string): void {
    const key = `${def.resource}/${ns}/${name}`;
    const o = this.store.get(key);
    if (!o) return;
    this.store.delete(key);
    this.managed.delete(key);
    o.metadata.resourceVersion = String(++this.rv);
    this.emit(def, o, 'DELETED');
    if (def.resource === 'pods') this.killPod(ns, name);
    // A ReplicaSet replaces a pod deleted by hand; a Deployment notices what its ReplicaSets lost.
    for (const ref of o.metadata.ownerReferences ?? []) {
      if (ref.kind === 'ReplicaSet') this.later(5, () => this.reconcileReplicaSet(ns, ref.name));
      if (ref.kind === 'Deployment') this.later(5, () => this.reconcileDeployment(ns, ref.name));
    }
    if (policy === 'Orphan') return;
    // The garbage collector: dependents that name this object as owner go too.
    const uid = o.metadata.uid;
    for (const [k, dep] of [...this.store.entries()]) {
      if ((dep.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === uid)) {
        const [resource, dns, dname] = k.split('/');
        const ddef = RESOURCES.find((r) => r.resource === resource)!;
        this.later(5, () => this.remove(ddef, dns, dname, 'Background'));
      }
    }
  }

  private watch(res: http.ServerResponse, def: ResourceDef, ns: string, match: (o: Obj) => boolean, resourceVersion?: string, timeoutSeconds?: string): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // No resourceVersion: the current state as synthetic ADDED events first (the API server's semantics).
    if (!resourceVersion || resourceVersion === '0') {
      for (const o of this.list(def.resource, ns)) if (match(o)) res.write(JSON.stringify({ type: 'ADDED', object: o }) + '\n');
    } else {
      // From a resourceVersion: every later event, so nothing between a read and the watch is lost.
      const from = Number(resourceVersion);
      for (const ev of this.history) {
        if (ev.def === def && ev.object.metadata.namespace === ns && Number(ev.object.metadata.resourceVersion) > from && match(ev.object)) {
          res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
        }
      }
    }
    const sub: WatchSub = { def, ns, match, res };
    this.watches.add(sub);
    res.on('close', () => this.watches.delete(sub));
    if (timeoutSeconds) this.later(Number(timeoutSeconds) * 1000, () => res.end());
  }

  // ---------------------------------------------------------------- Job controller and kubelet

  private static JOBS = RESOURCES.find((r) => r.resource === 'jobs')!;
  private static PODS = RESOURCES.find((r) => r.resource === 'pods')!;

  private startJob(ns: string, name: string): void {
    const job = this.update(FakeKubeApiServer.JOBS, ns, name, (j) => {
      j.status = { ...j.status, startTime: new Date().toISOString(), active: 0 };
    });
    if (!job) return;
    const deadline = job.spec?.activeDeadlineSeconds;
    if (deadline) this.later(deadline * 1000, () => this.deadlineExceeded(ns, name));
    this.createPod(ns, job);
  }

  private createPod(ns: string, job: Obj): void {
    const tmpl = job.spec.template;
    const podName = `${job.metadata.name}-${randomUUID().replace(/-/g, '').slice(0, 5)}`;
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        labels: { ...(tmpl.metadata?.labels ?? {}), 'batch.kubernetes.io/job-name': job.metadata.name, 'job-name': job.metadata.name, 'controller-uid': job.metadata.uid },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(tmpl.spec),
    };
    const causes = kubeObjectProblems(pod);
    if (causes.length > 0) throw new Error(`fake Job controller made an invalid pod: ${JSON.stringify(causes)}`);
    this.stamp(pod, ns);
    const c0 = pod.spec.containers[0];
    const placed = this.fit(pod);
    if (!placed.node) {
      // Unschedulable: it stays Pending (until deleted) with the scheduler's reason.
      pod.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: placed.message, lastProbeTime: null, lastTransitionTime: new Date().toISOString() }] };
      this.put(FakeKubeApiServer.PODS, pod, 'ADDED');
      this.update(FakeKubeApiServer.JOBS, ns, job.metadata.name, (j) => (j.status.active = 1));
      this.pods.set(`${ns}/${podName}`, { lines: [], partial: { stdout: '', stderr: '' }, followers: new Set(), terminated: false, scratch: [], timers: [] });
      return;
    }
    pod.spec.nodeName = placed.node.name;
    pod.status = {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'True' }],
      containerStatuses: [{ name: c0.name, image: c0.image, ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }],
    };
    this.put(FakeKubeApiServer.PODS, pod, 'ADDED');
    this.update(FakeKubeApiServer.JOBS, ns, job.metadata.name, (j) => (j.status.active = 1));
    this.pods.set(`${ns}/${podName}`, { lines: [], partial: { stdout: '', stderr: '' }, followers: new Set(), terminated: false, scratch: [], timers: [] });
    this.later(this.opts.startDelayMs ?? 20, () => this.startContainer(ns, podName, job.metadata.name));
  }

  private setWaiting(ns: string, podName: string, reason: string, message: string): void {
    this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
      p.status.containerStatuses[0].state = { waiting: { reason, message } };
    });
  }

  private startContainer(ns: string, podName: string, jobName: string, attempt = 0): void {
    const pod = this.store.get(`pods/${ns}/${podName}`);
    const rt = this.pods.get(`${ns}/${podName}`);
    if (!pod || !rt) return;
    const c = pod.spec.containers[0];
    const image = this.images.get(c.image);
    const host = c.image.split('/')[0];
    if (!image && attempt === 0 && this.opts.registries?.includes(host)) {
      this.setWaiting(ns, podName, 'ContainerCreating', `pulling image "${c.image}"`);
      void pullFromRegistry(c.image).then(
        (dir) => {
          rt.scratch.push(dir);
          this.images.set(c.image, { files: { '/gitml/code': path.join(dir, 'gitml/code') } });
          this.startContainer(ns, podName, jobName, attempt + 1);
        },
        (e: Error) => {
          this.setWaiting(ns, podName, 'ErrImagePull', `failed to pull image "${c.image}": ${e.message}`);
          this.later(50, () => this.startContainer(ns, podName, jobName, attempt + 1));
        },
      );
      return;
    }
    if (!image) {
      this.setWaiting(ns, podName, attempt === 0 ? 'ErrImagePull' : 'ImagePullBackOff', `failed to pull image "${c.image}": not found`);
      this.later(50, () => this.startContainer(ns, podName, jobName, attempt + 1));
      return;
    }
    // Environment: literal values and secretKeyRef resolved from stored Secrets.
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const secret = this.store.get(`secrets/${ns}/${ref.name}`);
        const data = secret?.data?.[ref.key];
        if (data === undefined) {
          this.setWaiting(ns, podName, 'CreateContainerConfigError', secret ? `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}` : `secret "${ref.name}" not found`);
          this.later(50, () => this.startContainer(ns, podName, jobName, attempt + 1));
          return;
        }
        env[e.name] = Buffer.from(data, 'base64').toString('utf8');
      }
    }
    // The container's filesystem: the image's files and emptyDir volumes, as host folders.
    const mounts: Array<[string, string]> = Object.entries(image.files ?? {});
    for (const vm of c.volumeMounts ?? []) {
      const vol = (pod.spec.volumes ?? []).find((v: Obj) => v.name === vm.name);
      if (vol?.emptyDir) {
        const dir = mkdtempSync(path.join(tmpdir(), 'fake-kubelet-emptydir-'));
        chmodSync(dir, 0o777);
        rt.scratch.push(dir);
        mounts.push([vm.mountPath, dir]);
      }
    }
    mounts.sort((a, b) => b[0].length - a[0].length);
    const mapPath = (s: string): string => {
      for (const [cp, hp] of mounts) if (s === cp || s.startsWith(cp + '/')) return hp + s.slice(cp.length);
      return s;
    };
    for (const k of Object.keys(env)) env[k] = mapPath(env[k]);
    const argv = [...(c.command ?? []), ...(c.args ?? [])].map(mapPath);
    const cwd = c.workingDir ? mapPath(c.workingDir) : undefined;
    const startedAt = new Date().toISOString();
    // Its own process group stands in for the container's PID namespace: when the main process
    // (PID 1) exits, everything else in the container is killed with it.
    const proc = spawn(argv[0], argv.slice(1), { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    rt.proc = proc;
    proc.on('exit', () => {
      try {
        if (proc.pid) process.kill(-proc.pid, 'SIGKILL');
      } catch {
        /* group already gone */
      }
    });
    this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
      p.status.phase = 'Running';
      p.status.startTime = startedAt;
      p.status.containerStatuses[0].state = { running: { startedAt } };
      p.status.containerStatuses[0].ready = true;
      p.status.conditions.push({ type: 'Ready', status: 'True' });
    });
    const onData = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      const text = rt.partial[stream] + d.toString('utf8');
      const parts = text.split('\n');
      rt.partial[stream] = parts.pop() ?? '';
      for (const line of parts) this.appendLog(rt, line + '\n');
    };
    proc.stdout!.on('data', onData('stdout'));
    proc.stderr!.on('data', onData('stderr'));
    proc.on('error', (e) => {
      this.appendLog(rt, `exec ${argv[0]} failed: ${e.message}\n`);
    });
    proc.on('close', (code, signal) => {
      for (const s of ['stdout', 'stderr'] as const) if (rt.partial[s]) this.appendLog(rt, rt.partial[s]);
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      this.containerExited(ns, podName, jobName, exitCode, startedAt);
    });
  }

  private appendLog(rt: PodRuntime, text: string): void {
    const line = { ts: nowTs(), text };
    rt.lines.push(line);
    for (const f of rt.followers) f.res.write(f.timestamps ? `${line.ts} ${text}` : text);
  }

  private containerExited(ns: string, podName: string, jobName: string, exitCode: number, startedAt: string): void {
    const rt = this.pods.get(`${ns}/${podName}`);
    if (rt) {
      rt.terminated = true;
      for (const f of rt.followers) f.res.end();
      rt.followers.clear();
    }
    this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
      p.status.phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      p.status.containerStatuses[0].ready = false;
      p.status.containerStatuses[0].state = {
        terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: new Date().toISOString() },
      };
    });
    const job = this.store.get(`jobs/${ns}/${jobName}`);
    if (!job || this.finished(job)) return;
    const now = new Date().toISOString();
    if (exitCode === 0) {
      this.update(FakeKubeApiServer.JOBS, ns, jobName, (j) => {
        j.status = {
          ...j.status,
          active: 0,
          succeeded: 1,
          completionTime: now,
          conditions: [
            { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastTransitionTime: now },
            { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastTransitionTime: now },
          ],
        };
      });
      this.ttl(ns, jobName);
      return;
    }
    const failed = (job.status.failed ?? 0) + 1;
    if (failed > (job.spec.backoffLimit ?? 6)) {
      this.failJob(ns, jobName, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', failed);
    } else {
      this.update(FakeKubeApiServer.JOBS, ns, jobName, (j) => (j.status = { ...j.status, failed, active: 0 }));
      this.later(10, () => {
        const again = this.store.get(`jobs/${ns}/${jobName}`);
        if (again && !this.finished(again)) this.createPod(ns, again);
      });
    }
  }

  private finished(job: Obj): boolean {
    return (job.status?.conditions ?? []).some((c: Obj) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  }

  private failJob(ns: string, jobName: string, reason: string, message: string, failed?: number): void {
    const now = new Date().toISOString();
    this.update(FakeKubeApiServer.JOBS, ns, jobName, (j) => {
      j.status = {
        ...j.status,
        active: 0,
        ...(failed !== undefined ? { failed } : {}),
        conditions: [
          { type: 'FailureTarget', status: 'True', reason, message, lastTransitionTime: now },
          { type: 'Failed', status: 'True', reason, message, lastTransitionTime: now },
        ],
      };
    });
    this.ttl(ns, jobName);
  }

  private ttl(ns: string, jobName: string): void {
    const job = this.store.get(`jobs/${ns}/${jobName}`);
    const ttl = job?.spec?.ttlSecondsAfterFinished;
    if (typeof ttl === 'number') this.later(ttl * 1000, () => this.remove(FakeKubeApiServer.JOBS, ns, jobName, 'Background'));
  }

  private deadlineExceeded(ns: string, jobName: string): void {
    const job = this.store.get(`jobs/${ns}/${jobName}`);
    if (!job || this.finished(job)) return;
    // The Job controller marks the Job failed and terminates its active pods (SIGTERM, then
    // SIGKILL after the grace period); the pods are then deleted.
    for (const pod of this.list('pods', ns)) {
      if (pod.metadata.labels?.['job-name'] !== jobName) continue;
      const rt = this.pods.get(`${ns}/${pod.metadata.name}`);
      if (rt && !rt.terminated) {
        rt.proc?.once('close', () => this.later(50, () => this.remove(FakeKubeApiServer.PODS, ns, pod.metadata.name, 'Background')));
        this.killPod(ns, pod.metadata.name);
      }
    }
    this.failJob(ns, jobName, 'DeadlineExceeded', 'Job was active longer than specified deadline');
  }

  private killPod(ns: string, podName: string): void {
    const rt = this.pods.get(`${ns}/${podName}`);
    if (!rt?.proc || rt.terminated) {
      if (rt) for (const f of rt.followers) f.res.end();
      return;
    }
    rt.proc.kill('SIGTERM');
    const t = this.later(this.opts.killGraceMs ?? 2000, () => rt.proc?.kill('SIGKILL'));
    rt.proc.once('close', () => {
      clearTimeout(t);
      this.timers.delete(t);
    });
  }

  // ---------------------------------------------------------------- Deployment and ReplicaSet controllers, scheduler

  private static DEPLOYMENTS = RESOURCES.find((r) => r.resource === 'deployments')!;
  private static REPLICASETS = RESOURCES.find((r) => r.resource === 'replicasets')!;

  /** After a write through the API: wake the controller that owns that kind. */
  private changed(def: ResourceDef, ns: string, name: string): void {
    if (def.resource === 'deployments') this.later(1, () => this.reconcileDeployment(ns, name));
    if (def.resource === 'replicasets') this.later(1, () => this.reconcileReplicaSet(ns, name));
  }

  private owned(resource: string, ns: string, uid: string): Obj[] {
    return [...this.store.entries()].filter(([k, o]) => k.startsWith(`${resource}/${ns}/`) && (o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === uid)).map(([, o]) => o);
  }

  private static isReady(pod: Obj): boolean {
    return (pod.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
  }

  private static intOrPercent(v: unknown, of: number, roundUp: boolean): number {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && v.endsWith('%')) {
      const x = (Number(v.slice(0, -1)) / 100) * of;
      return roundUp ? Math.ceil(x) : Math.floor(x);
    }
    return roundUp ? Math.ceil(0.25 * of) : Math.floor(0.25 * of);
  }

  /**
   * The Deployment controller, as far as a rollout needs it: a ReplicaSet per pod-template hash
   * (revision annotations, so going back to an old template reuses its ReplicaSet), a rolling
   * update bounded by maxSurge / maxUnavailable (start-first with maxUnavailable 0), and the
   * status a client watches: counts, Available, Progressing, ProgressDeadlineExceeded.
   */
  private reconcileDeployment(ns: string, name: string): void {
    const dep = this.store.get(`deployments/${ns}/${name}`);
    if (!dep) return;
    const desired: number = dep.spec.replicas ?? 1;
    const tmpl = dep.spec.template;
    const hash = createHash('sha256').update(JSON.stringify(tmpl)).digest('hex').slice(0, 10);
    const rss = this.owned('replicasets', ns, dep.metadata.uid);
    const rev = (rs: Obj): number => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
    const maxRev = Math.max(0, ...rss.map(rev));
    let newRS = rss.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    if (!newRS) {
      const labels = { ...(tmpl.metadata?.labels ?? {}), 'pod-template-hash': hash };
      const rs: Obj = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          labels,
          annotations: { 'deployment.kubernetes.io/revision': String(maxRev + 1), 'deployment.kubernetes.io/desired-replicas': String(desired) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: dep.metadata.uid, controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          replicas: 0,
          selector: { matchLabels: { ...(dep.spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash } },
          template: { metadata: { ...(tmpl.metadata ?? {}), labels }, spec: structuredClone(tmpl.spec) },
        },
      };
      const causes = kubeObjectProblems(rs);
      if (causes.length > 0) throw new Error(`fake Deployment controller made an invalid ReplicaSet: ${JSON.stringify(causes)}`);
      this.stamp(rs, ns);
      rs.status = { replicas: 0 };
      this.put(FakeKubeApiServer.REPLICASETS, rs, 'ADDED');
      newRS = rs;
      rss.push(rs);
    } else if (rev(newRS) !== maxRev) {
      // A rollback to an earlier template: its ReplicaSet becomes the newest revision again.
      this.update(FakeKubeApiServer.REPLICASETS, ns, newRS.metadata.name, (rs) => (rs.metadata.annotations = { ...(rs.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': String(maxRev + 1) }));
    }
    const olds = rss.filter((rs) => rs !== newRS);
    const ru = dep.spec.strategy?.rollingUpdate ?? {};
    const recreate = dep.spec.strategy?.type === 'Recreate';
    const surge = recreate ? 0 : FakeKubeApiServer.intOrPercent(ru.maxSurge, desired, true);
    const maxUnavailable = recreate ? desired : FakeKubeApiServer.intOrPercent(ru.maxUnavailable, desired, false);
    const podsOf = (rs: Obj): Obj[] => this.owned('pods', ns, rs.metadata.uid);
    const readyOf = (rs: Obj): number => podsOf(rs).filter(FakeKubeApiServer.isReady).length;
    const scale = (rs: Obj, n: number): void => {
      if (rs.spec.replicas === n) return;
      this.update(FakeKubeApiServer.REPLICASETS, ns, rs.metadata.name, (r) => {
        r.spec.replicas = n;
        r.metadata.generation = (r.metadata.generation ?? 1) + 1;
      });
      this.later(1, () => this.reconcileReplicaSet(ns, rs.metadata.name));
    };

    // Scale up the new ReplicaSet within maxSurge.
    const oldTotal = olds.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);
    const newTarget = newRS.spec.replicas > desired ? desired : Math.min(desired, Math.max(newRS.spec.replicas, desired + surge - oldTotal));
    scale(newRS, newTarget);
    // Scale down old ReplicaSets: unready pods first, then ready ones while availability stays above desired - maxUnavailable.
    const readyNew = readyOf(newRS);
    let readyOld = olds.reduce((n, rs) => n + readyOf(rs), 0);
    let removable = Math.max(0, readyNew + readyOld - Math.max(0, desired - maxUnavailable));
    for (const rs of olds.sort((a, b) => rev(a) - rev(b))) {
      const current: number = rs.spec.replicas ?? 0;
      if (current === 0) continue;
      const ready = readyOf(rs);
      const unready = Math.max(0, current - ready);
      const fromReady = Math.min(ready, removable);
      removable -= fromReady;
      readyOld -= fromReady;
      scale(rs, current - unready - fromReady);
    }

    // Status.
    const all = rss.flatMap(podsOf);
    const updated = podsOf(newRS).length;
    const ready = all.filter(FakeKubeApiServer.isReady).length;
    const complete = updated === desired && all.length === desired && readyNew === desired;
    const now = new Date().toISOString();
    const pkey = `${newRS.metadata.name}:${updated}:${readyNew}:${all.length}:${dep.metadata.generation}`;
    const prog = this.progress.get(`${ns}/${name}`);
    const progressed = !prog || prog.key !== pkey;
    const prevProgressing = (dep.status?.conditions ?? []).find((c: Obj) => c.type === 'Progressing');
    let progressing: Obj;
    if (complete) progressing = { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${newRS.metadata.name}" has successfully progressed.` };
    else if (!progressed && prevProgressing?.reason === 'ProgressDeadlineExceeded') progressing = prevProgressing;
    else progressing = { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${newRS.metadata.name}" is progressing.` };
    if (progressed) {
      if (prog?.timer) clearTimeout(prog.timer);
      const deadline = dep.spec.progressDeadlineSeconds ?? 600;
      const entry: { key: string; at: number; timer?: NodeJS.Timeout } = { key: pkey, at: Date.now() };
      if (!complete) entry.timer = this.later(deadline * (this.opts.secondsMs ?? 1000), () => this.progressDeadline(ns, name, pkey));
      this.progress.set(`${ns}/${name}`, entry);
    }
    const available = ready >= desired - maxUnavailable;
    const conditions = [
      available
        ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
        : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
      progressing,
    ].map((c) => {
      const before = (dep.status?.conditions ?? []).find((p: Obj) => p.type === c.type);
      const same = before && before.status === c.status && before.reason === c.reason;
      return { ...c, lastUpdateTime: same && !progressed ? before.lastUpdateTime : now, lastTransitionTime: same ? before.lastTransitionTime : now };
    });
    const st = {
      observedGeneration: dep.metadata.generation,
      replicas: all.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(all.length - ready > 0 ? { unavailableReplicas: all.length - ready } : {}),
      conditions,
    };
    const revision = String(rev(this.store.get(`replicasets/${ns}/${newRS.metadata.name}`) ?? newRS));
    if (JSON.stringify(st) !== JSON.stringify(dep.status) || dep.metadata.annotations?.['deployment.kubernetes.io/revision'] !== revision) {
      this.update(FakeKubeApiServer.DEPLOYMENTS, ns, name, (d) => {
        d.status = st;
        d.metadata.annotations = { ...(d.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': revision };
      });
    }
  }

  private progressDeadline(ns: string, name: string, key: string): void {
    const prog = this.progress.get(`${ns}/${name}`);
    if (!prog || prog.key !== key) return;
    const dep = this.store.get(`deployments/${ns}/${name}`);
    if (!dep) return;
    const now = new Date().toISOString();
    const rsName = key.split(':')[0];
    this.update(FakeKubeApiServer.DEPLOYMENTS, ns, name, (d) => {
      d.status = {
        ...d.status,
        conditions: [
          ...(d.status?.conditions ?? []).filter((c: Obj) => c.type !== 'Progressing'),
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.`, lastUpdateTime: now, lastTransitionTime: now },
        ],
      };
    });
  }

  /** The ReplicaSet controller: as many pods as spec.replicas (unready and newest removed first). */
  private reconcileReplicaSet(ns: string, name: string): void {
    const rs = this.store.get(`replicasets/${ns}/${name}`);
    if (!rs) return;
    const pods = this.owned('pods', ns, rs.metadata.uid);
    const want: number = rs.spec.replicas ?? 1;
    for (let i = pods.length; i < want; i++) this.createReplicaPod(ns, rs);
    if (pods.length > want) {
      const order = [...pods].sort((a, b) => Number(FakeKubeApiServer.isReady(a)) - Number(FakeKubeApiServer.isReady(b)) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)));
      for (const p of order.slice(0, pods.length - want)) this.remove(FakeKubeApiServer.PODS, ns, p.metadata.name, 'Background');
    }
    this.rsStatus(ns, name);
  }

  private rsStatus(ns: string, name: string): void {
    const rs = this.store.get(`replicasets/${ns}/${name}`);
    if (!rs) return;
    const pods = this.owned('pods', ns, rs.metadata.uid);
    const ready = pods.filter(FakeKubeApiServer.isReady).length;
    const st = { replicas: pods.length, readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata.generation };
    if (JSON.stringify(st) !== JSON.stringify(rs.status)) this.update(FakeKubeApiServer.REPLICASETS, ns, name, (r) => (r.status = st));
    const owner = (rs.metadata.ownerReferences ?? []).find((r: Obj) => r.kind === 'Deployment');
    if (owner) this.later(1, () => this.reconcileDeployment(ns, owner.name));
  }

  private createReplicaPod(ns: string, rs: Obj): void {
    const podName = `${rs.metadata.name}-${randomUUID().replace(/-/g, '').slice(0, 5)}`;
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        labels: { ...(rs.spec.template.metadata?.labels ?? {}) },
        ...(rs.spec.template.metadata?.annotations ? { annotations: { ...rs.spec.template.metadata.annotations } } : {}),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: structuredClone(rs.spec.template.spec),
    };
    const causes = kubeObjectProblems(pod);
    if (causes.length > 0) throw new Error(`fake ReplicaSet controller made an invalid pod: ${JSON.stringify(causes)}`);
    this.stamp(pod, ns);
    pod.status = { phase: 'Pending', conditions: [] };
    this.put(FakeKubeApiServer.PODS, pod, 'ADDED');
    this.pods.set(`${ns}/${podName}`, { lines: [], partial: { stdout: '', stderr: '' }, followers: new Set(), terminated: false, scratch: [], timers: [] });
    this.later(this.opts.startDelayMs ?? 20, () => this.schedule(ns, podName, rs.metadata.name));
  }

  /** A node for the pod, or the scheduler's message saying why none fits. */
  private fit(pod: Obj): { node?: FakeNode; message: string } {
    const nodes = this.nodes;
    const sel: Record<string, string> = pod.spec.nodeSelector ?? {};
    const tolerations: Obj[] = pod.spec.tolerations ?? [];
    const tolerates = (t: NonNullable<FakeNode['taints']>[number]): boolean =>
      t.effect === 'PreferNoSchedule' ||
      tolerations.some((tol) => (tol.operator === 'Exists' ? !tol.key || tol.key === t.key : tol.key === t.key && (tol.value ?? '') === (t.value ?? '')) && (!tol.effect || tol.effect === t.effect));
    const reasons = new Map<string, number>();
    const fit = nodes.find((n) => {
      if (!Object.entries(sel).every(([k, v]) => n.labels?.[k] === v)) {
        reasons.set("didn't match Pod's node affinity/selector", (reasons.get("didn't match Pod's node affinity/selector") ?? 0) + 1);
        return false;
      }
      const bad = (n.taints ?? []).find((t) => !tolerates(t));
      if (bad) {
        const r = `had untolerated taint {${bad.key}: ${bad.value ?? ''}}`;
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
        return false;
      }
      return true;
    });
    if (fit) return { node: fit, message: '' };
    return { message: `0/${nodes.length} nodes are available: ${[...reasons].map(([r, c]) => `${c} node(s) ${r}`).join(', ')}. preemption: 0/${nodes.length} nodes are available: ${nodes.length} Preemption is not helpful for scheduling.` };
  }

  /** The scheduler: a node whose labels match the nodeSelector and whose taints the pod tolerates, else Unschedulable with the scheduler's wording. */
  private schedule(ns: string, podName: string, rsName: string): void {
    const pod = this.store.get(`pods/${ns}/${podName}`);
    if (!pod) return;
    const { node: fit, message } = this.fit(pod);
    const now = new Date().toISOString();
    if (!fit) {
      this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
        p.status.conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: now }];
      });
      return;
    }
    const c0 = pod.spec.containers[0];
    this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
      p.spec.nodeName = fit.name;
      p.status.conditions = [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now }];
      p.status.containerStatuses = [{ name: c0.name, image: c0.image, ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }];
    });
    this.startServer(ns, podName, rsName, 0);
  }

  /** The kubelet for a model server pod: pull (the image must be "pushed"), run, pass or fail the readiness probe. */
  private startServer(ns: string, podName: string, rsName: string, attempt: number): void {
    const pod = this.store.get(`pods/${ns}/${podName}`);
    const rt = this.pods.get(`${ns}/${podName}`);
    if (!pod || !rt) return;
    const image: string = pod.spec.containers[0].image;
    if (!this.images.has(image) && attempt === 0 && this.opts.registries?.includes(image.split('/')[0])) {
      // A model server's image: pulled means its manifest is in the registry (what the kubelet asks first).
      this.setWaiting(ns, podName, 'ContainerCreating', `pulling image "${image}"`);
      void registryHasManifest(image).then(
        (found) => {
          if (found) this.images.set(image, {});
          this.startServer(ns, podName, rsName, attempt + 1);
        },
        () => this.startServer(ns, podName, rsName, attempt + 1),
      );
      return;
    }
    if (!this.images.has(image)) {
      this.setWaiting(ns, podName, attempt === 0 ? 'ErrImagePull' : 'ImagePullBackOff', `failed to pull image "${image}": not found`);
      this.later(50, () => this.startServer(ns, podName, rsName, attempt + 1));
      return;
    }
    const startedAt = new Date().toISOString();
    this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
      p.status.phase = 'Running';
      p.status.startTime = startedAt;
      p.status.podIP = `10.0.0.${(this.rv % 250) + 1}`;
      p.status.containerStatuses[0].state = { running: { startedAt } };
      p.status.containerStatuses[0].started = true;
      p.status.conditions.push({ type: 'Ready', status: 'False', reason: 'ContainersNotReady', lastTransitionTime: startedAt });
    });
    this.appendLog(rt, `gitml scoring server: loading the model of ${image}\n`);
    this.later(this.opts.podReadyMs ?? 30, () => {
      if (!this.store.has(`pods/${ns}/${podName}`)) return;
      if (this.neverReady.has(image)) {
        this.appendLog(rt, 'gitml scoring server: the model failed to load; /v2/health/ready answers 503\n');
        return;
      }
      this.appendLog(rt, 'gitml scoring server: listening on :8080, ready\n');
      this.update(FakeKubeApiServer.PODS, ns, podName, (p) => {
        p.status.containerStatuses[0].ready = true;
        p.status.conditions = [...p.status.conditions.filter((c: Obj) => c.type !== 'Ready'), { type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }];
      });
      this.rsStatus(ns, rsName);
    });
    this.rsStatus(ns, rsName);
  }

  /** Append a line to a running pod's log (a model server answering requests, for `logs -f`). */
  writePodLog(ns: string, name: string, text: string): void {
    const rt = this.pods.get(`${ns}/${name}`);
    if (rt) this.appendLog(rt, text);
  }

  private log(res: http.ServerResponse, ns: string, name: string, q: Record<string, string>): void {
    const pod = this.store.get(`pods/${ns}/${name}`);
    if (!pod) return this.send(res, 404, status(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
    const containers: string[] = pod.spec.containers.map((c: Obj) => c.name);
    const container = q.container ?? (containers.length === 1 ? containers[0] : undefined);
    if (!container) return this.send(res, 400, status(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`));
    if (!containers.includes(container)) return this.send(res, 400, status(400, 'BadRequest', `container ${container} is not valid for pod ${name}`));
    const rt = this.pods.get(`${ns}/${name}`);
    const state = pod.status?.containerStatuses?.[0]?.state ?? {};
    if (!rt || state.waiting) {
      return this.send(res, 400, status(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ${state.waiting?.reason ?? 'ContainerCreating'}`));
    }
    const timestamps = q.timestamps === 'true';
    const since = q.sinceTime;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    let lines = rt.lines.filter((l) => !since || l.ts >= since);
    if (q.tailLines) lines = lines.slice(-Number(q.tailLines));
    for (const l of lines) res.write(timestamps ? `${l.ts} ${l.text}` : l.text);
    if (q.follow === 'true' && !rt.terminated) {
      const f = { res, timestamps };
      rt.followers.add(f);
      res.on('close', () => rt.followers.delete(f));
    } else {
      res.end();
    }
  }
}
