/**
 * The one seam between gitml and a Kubernetes API server. Everything else (the run target, the
 * service reconciler) calls this narrow `KubeApi`, implemented with @kubernetes/client-node
 * (loaded on first use so `gitml --help` stays fast). Every failure becomes a GitmlError in
 * plain words, one line, saying whether retrying may help: 'KUBERNETES_UNAVAILABLE' when the
 * cluster cannot be used from here at all (no kubeconfig or context, API server unreachable or
 * untrusted, credentials rejected, access forbidden, server errors), which the CLI reports as
 * an environment problem (exit 3) like a Docker engine that is down; 'KUBERNETES' for an
 * answer about the request itself (not found, conflict, invalid object).
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { KubeConfig, KubernetesObject, V1Job, V1OwnerReference, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { KubernetesCompute } from '../entities/types.js';
import { GitmlError } from '../errors.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface KubeWatch {
  /** Stop watching (resolves `done`). */
  stop(): void;
  /** Settles when the server ends the watch (null) or it fails (a GitmlError). */
  done: Promise<GitmlError | null>;
}

export interface KubeApi {
  /** kubeconfig context in use. */
  readonly context: string;
  /** Namespace of every namespaced call: the compute's, else the context's, else `default`. */
  readonly namespace: string;
  /** API server URL. */
  readonly server: string;
  createJob(job: V1Job): Promise<V1Job>;
  readJob(name: string): Promise<V1Job>;
  /** Watch one Job by name; `resourceVersion` resumes after a known state. */
  watchJob(name: string, onEvent: (type: WatchEventType, job: V1Job) => void, opts?: { resourceVersion?: string }): Promise<KubeWatch>;
  /** Delete a Job and, in the background, its pods. A Job already gone is not an error. */
  deleteJob(name: string): Promise<void>;
  createSecret(secret: V1Secret): Promise<V1Secret>;
  /** Make `owner` own the Secret so the cluster deletes it with the Job. */
  setSecretOwner(name: string, owner: V1OwnerReference): Promise<void>;
  deleteSecret(name: string): Promise<void>;
  listPods(labelSelector: string): Promise<V1Pod[]>;
  /**
   * One cheap request a run needs rights for anyway (list pods in the namespace), made before
   * anything is built: throws 'KUBERNETES_UNAVAILABLE' when the API server is unreachable,
   * untrusted, or refuses the credentials or the namespace.
   */
  preflight(): Promise<void>;
  readPod(name: string): Promise<V1Pod>;
  /** The log so far (not following). */
  readPodLog(name: string, container: string): Promise<string>;
  /**
   * Stream a container's log as it arrives, following it unless `follow` is false (then the
   * log so far, without holding it whole); resolves when the stream ends or `signal` fires.
   * `timestamps` prefixes each line with its RFC 3339 time and `sinceTime` starts there, so a
   * dropped stream can be resumed (log-follow.ts).
   */
  streamPodLog(name: string, container: string, onData: (text: string) => void, opts?: { follow?: boolean; signal?: AbortSignal; timestamps?: boolean; sinceTime?: string }): Promise<void>;
  /** Server-side apply (PATCH application/apply-patch+yaml, fieldManager=gitml, force=true). */
  applyObject<T extends KubernetesObject>(obj: T): Promise<T>;
  /** Delete any object by apiVersion/kind/metadata (Background propagation); gone already is fine. */
  deleteObject(obj: KubernetesObject): Promise<void>;
  /** Read any object by apiVersion/kind/metadata.name; undefined when it does not exist. */
  readObject<T extends KubernetesObject>(ref: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<T | undefined>;
  /** Objects of a kind in the namespace matching a label selector (e.g. app.kubernetes.io/managed-by=gitml). */
  listObjects<T extends KubernetesObject>(apiVersion: string, kind: string, labelSelector?: string): Promise<T[]>;
}

export const FIELD_MANAGER = 'gitml';

/** The kubeconfig file to read: the compute's (relative to the repository), $KUBECONFIG, or ~/.kube/config. */
export function kubeconfigPath(compute: Pick<KubernetesCompute, 'kubeconfig'>, repoDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (compute.kubeconfig) {
    const p = compute.kubeconfig.startsWith('~/') ? path.join(os.homedir(), compute.kubeconfig.slice(2)) : compute.kubeconfig;
    return path.resolve(repoDir, p);
  }
  if (env.KUBECONFIG) return undefined; // client-node merges a $KUBECONFIG list itself
  return path.join(os.homedir(), '.kube', 'config');
}

/** Text from a server or library on one line (a multi-line message would break the CLI's one-line errors). */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** The permission an RBAC refusal is about: what a Role rule must allow. */
export interface RbacRule {
  verb: string;
  /** resource or resource/subresource (pods/log) */
  resource: string;
  /** '' for the core group */
  apiGroup: string;
  namespace?: string;
}

/**
 * The rule a 403 is about, from the API server's message (`User "u" cannot patch resource
 * "deployments" in API group "apps" in the namespace "ml"`), else from what the caller knows it
 * asked (`where.rule`).
 */
export function forbiddenRule(message: string | undefined, where: { namespace?: string; rule?: RbacRule } = {}): RbacRule | undefined {
  const m = message ? /cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?/.exec(message) : null;
  if (m) return { verb: m[1], resource: m[2], apiGroup: m[3], ...(m[4] ? { namespace: m[4] } : where.namespace ? { namespace: where.namespace } : {}) };
  return where.rule ? { ...where.rule, namespace: where.rule.namespace ?? where.namespace } : undefined;
}

/** A GitmlError 'KUBERNETES_UNAVAILABLE' or 'KUBERNETES' for a failed API call, in plain words. */
export function kubeError(e: unknown, what: string, where: { server?: string; context?: string; namespace?: string; rule?: RbacRule } = {}): GitmlError {
  if (e instanceof GitmlError) return e;
  const err = e as { code?: unknown; statusCode?: unknown; body?: unknown; message?: string; errno?: unknown; type?: string; cause?: { code?: unknown } };
  const sysCode = typeof err.code === 'string' ? err.code : typeof err.cause?.code === 'string' ? err.cause.code : undefined;
  const status = typeof err.code === 'number' ? err.code : typeof err.statusCode === 'number' ? err.statusCode : undefined;
  const { rule: _rule, ...place } = where;
  const data = { ...place, status, what };
  if (sysCode && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|EPIPE|EPROTO|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_)/.test(sysCode)) {
    const tls = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_)/.test(sysCode);
    return new GitmlError(
      'KUBERNETES_UNAVAILABLE',
      tls
        ? `cannot ${what}: the TLS certificate of the Kubernetes API server at ${where.server ?? '?'} is not trusted (${sysCode}); check the cluster's certificate-authority in the kubeconfig`
        : `cannot ${what}: the Kubernetes API server at ${where.server ?? '?'} is unreachable (${sysCode}); is the cluster up and is context ${where.context ?? '?'} the right one?`,
      { ...data, errno: sysCode },
      { retryable: !tls, cause: e },
    );
  }
  let body = err.body as { message?: string; reason?: string; details?: { causes?: { field?: string; message?: string }[] } } | string | undefined;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as typeof body;
    } catch {
      /* plain text */
    }
  }
  const rawMsg = typeof body === 'object' && body?.message ? body.message : typeof body === 'string' ? body : undefined;
  const serverMsg = rawMsg === undefined ? undefined : oneLine(rawMsg);
  const ns = where.namespace ?? '?';
  switch (status) {
    case 401:
      return new GitmlError('KUBERNETES_UNAVAILABLE', `cannot ${what}: the API server rejected the credentials of context ${where.context ?? '?'} (401 Unauthorized); refresh the kubeconfig's user credentials`, data, { cause: e });
    case 403: {
      // The API server names the refused permission; say it as the Role rule to add.
      const rbac = forbiddenRule(rawMsg, where);
      return new GitmlError(
        'KUBERNETES_UNAVAILABLE',
        rbac
          ? `cannot ${what}: forbidden in namespace ${rbac.namespace ?? ns} (403): the kubeconfig user lacks the RBAC rule {apiGroups: [${JSON.stringify(rbac.apiGroup)}], resources: [${JSON.stringify(rbac.resource)}], verbs: [${JSON.stringify(rbac.verb)}]}; add it to the user's Role (templates/kube/rbac.yaml holds every rule gitml needs)`
          : `cannot ${what}: forbidden in namespace ${ns} (403)${serverMsg ? `: ${serverMsg}` : ''}; the kubeconfig user needs a Role allowing gitml's verbs on jobs, pods, pods/log and secrets`,
        { ...data, ...(rbac ? { rbac } : {}) },
        { cause: e },
      );
    }
    case 404:
      return new GitmlError('KUBERNETES', `cannot ${what}: not found (404)${serverMsg ? `: ${serverMsg}` : ''}; does namespace ${ns} exist?`, data, { cause: e });
    case 409:
      return new GitmlError('KUBERNETES', `cannot ${what}: conflict (409)${serverMsg ? `: ${serverMsg}` : ''}; an object of that name already exists or changed meanwhile`, data, { retryable: true, cause: e });
    case 422: {
      const causes = typeof body === 'object' ? body?.details?.causes : undefined;
      return new GitmlError('KUBERNETES', `cannot ${what}: the API server found the object invalid (422)${serverMsg ? `: ${serverMsg}` : ''}`, { ...data, causes }, { cause: e });
    }
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return new GitmlError('KUBERNETES_UNAVAILABLE', `cannot ${what}: the API server answered ${status}${serverMsg ? `: ${serverMsg}` : ''}; retry later`, data, { retryable: true, cause: e });
    default:
      if (status !== undefined) return new GitmlError('KUBERNETES', `cannot ${what}: the API server answered ${status}${serverMsg ? `: ${serverMsg}` : ''}`, data, { cause: e });
      return new GitmlError('KUBERNETES', `cannot ${what}: ${oneLine(err.message ?? String(e))}`, data, { cause: e });
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { code?: unknown; statusCode?: unknown };
  return err?.code === 404 || err?.statusCode === 404;
}

/** Load the kubeconfig for `compute` and select its context. Throws 'KUBERNETES_UNAVAILABLE' in plain words. */
export async function loadKubeConfig(compute: Pick<KubernetesCompute, 'kubeconfig' | 'context'>, repoDir: string, env: NodeJS.ProcessEnv = process.env): Promise<KubeConfig> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const file = kubeconfigPath(compute, repoDir, env);
  try {
    if (file) {
      if (!existsSync(file)) {
        throw new GitmlError('KUBERNETES_UNAVAILABLE', `kubeconfig file ${file} does not exist; set \`kubeconfig\` in the compute target, $KUBECONFIG, or create ~/.kube/config`, { file });
      }
      kc.loadFromFile(file);
    } else {
      kc.loadFromDefault();
    }
  } catch (e) {
    if (e instanceof GitmlError) throw e;
    throw new GitmlError('KUBERNETES_UNAVAILABLE', `cannot read kubeconfig ${file ?? env.KUBECONFIG}: ${oneLine((e as Error).message)}`, { file: file ?? env.KUBECONFIG }, { cause: e });
  }
  if (compute.context) {
    if (!kc.getContextObject(compute.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new GitmlError(
        'KUBERNETES_UNAVAILABLE',
        `kubeconfig ${file ?? env.KUBECONFIG} has no context ${JSON.stringify(compute.context)} (it has: ${known.join(', ') || 'none'}); fix \`context\` in the compute target or add the context with kubectl config set-context`,
        { file: file ?? env.KUBECONFIG, context: compute.context, known },
      );
    }
    kc.setCurrentContext(compute.context);
  }
  if (!kc.getCurrentContext() || !kc.getCurrentCluster()) {
    throw new GitmlError('KUBERNETES_UNAVAILABLE', `kubeconfig ${file ?? env.KUBECONFIG} has no current context with a cluster; set \`context\` in the compute target`, { file });
  }
  return kc;
}

/**
 * A `KubeApi` for a kubernetes compute target.
 *
 * @example
 *   const kube = await kubeClient(compute.spec, repoDir);
 *   await kube.createJob(buildRunJob({ job, image, compute: compute.spec }));
 */
export async function kubeClient(compute: KubernetesCompute, repoDir: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<KubeApi> {
  const kc = await loadKubeConfig(compute, repoDir, opts.env);
  const k8s = await import('@kubernetes/client-node');
  const contextName = kc.getCurrentContext();
  const namespace = compute.namespace ?? kc.getContextObject(contextName)?.namespace ?? 'default';
  const server = kc.getCurrentCluster()?.server ?? '';
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let objects: InstanceType<typeof k8s.KubernetesObjectApi> | undefined;
  const where = { server, context: contextName, namespace };

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw kubeError(e, what, where);
    }
  };
  const gone = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      if (!isNotFound(e)) throw kubeError(e, what, where);
    }
  };

  return {
    context: contextName,
    namespace,
    server,
    createJob: (job) => call(`create Job ${job.metadata?.name}`, () => batch.createNamespacedJob({ namespace, body: job, fieldManager: FIELD_MANAGER })),
    readJob: (name) => call(`read Job ${name}`, () => batch.readNamespacedJob({ name, namespace })),
    async watchJob(name, onEvent, wopts = {}) {
      const watch = new k8s.Watch(kc);
      let settle!: (v: GitmlError | null) => void;
      const done = new Promise<GitmlError | null>((r) => (settle = r));
      let stopped = false;
      const controller = await watch.watch(
        `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`,
        { fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: true, ...(wopts.resourceVersion ? { resourceVersion: wopts.resourceVersion } : {}) },
        (type: string, obj: unknown) => {
          if (!stopped) onEvent(type as WatchEventType, obj as V1Job);
        },
        (err: unknown) => settle(err && !stopped && (err as Error).name !== 'AbortError' ? kubeError(err, `watch Job ${name}`, where) : null),
      );
      return {
        stop() {
          stopped = true;
          controller.abort();
          settle(null);
        },
        done,
      };
    },
    deleteJob: (name) => gone(`delete Job ${name}`, () => batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' })),
    createSecret: (secret) => call(`create Secret ${secret.metadata?.name}`, () => core.createNamespacedSecret({ namespace, body: secret, fieldManager: FIELD_MANAGER })),
    setSecretOwner: async (name, owner) => {
      await call(`set the owner of Secret ${name}`, () =>
        core.patchNamespacedSecret({ name, namespace, body: { metadata: { ownerReferences: [owner] } }, fieldManager: FIELD_MANAGER }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)),
      );
    },
    deleteSecret: (name) => gone(`delete Secret ${name}`, () => core.deleteNamespacedSecret({ name, namespace })),
    listPods: async (labelSelector) => (await call(`list pods (${labelSelector})`, () => core.listNamespacedPod({ namespace, labelSelector }))).items,
    preflight: async () => {
      await call(`use namespace ${namespace} of context ${contextName}`, () => core.listNamespacedPod({ namespace, limit: 1 }));
    },
    readPod: (name) => call(`read pod ${name}`, () => core.readNamespacedPod({ name, namespace })),
    readPodLog: (name, container) => call(`read the log of pod ${name}`, () => core.readNamespacedPodLog({ name, namespace, container })),
    async streamPodLog(name, container, onData, fopts = {}) {
      // Our own request rather than client-node's Log: its body is piped without error
      // forwarding, so a connection dropped mid-stream would leave the follow hanging forever.
      // Here a reset rejects (retryable) and a clean end resolves.
      const url = new URL(`${server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/log`);
      url.searchParams.set('container', container);
      if (fopts.follow !== false) url.searchParams.set('follow', 'true');
      if (fopts.timestamps) url.searchParams.set('timestamps', 'true');
      if (fopts.sinceTime) url.searchParams.set('sinceTime', fopts.sinceTime);
      const reqOpts: https.RequestOptions = { method: 'GET', headers: {} };
      await kc.applyToHTTPSOptions(reqOpts);
      const what = `${fopts.follow === false ? 'read' : 'follow'} the log of pod ${name}`;
      await new Promise<void>((resolve, reject) => {
        if (fopts.signal?.aborted) return resolve();
        const lib = url.protocol === 'http:' ? http : https;
        const req = lib.request(url, reqOpts, (res) => {
          if (res.statusCode !== 200) {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => reject(kubeError({ code: res.statusCode, body: text }, what, where)));
            res.on('error', (e) => reject(kubeError(e, what, where)));
            return;
          }
          res.setEncoding('utf8');
          res.on('data', (d: string) => onData(d));
          res.on('end', () => resolve());
          res.on('aborted', () => reject(kubeError(Object.assign(new Error('the log stream was cut'), { code: 'ECONNRESET' }), what, where)));
          res.on('error', (e) => (fopts.signal?.aborted ? resolve() : reject(kubeError(e, what, where))));
        });
        req.on('error', (e) => (fopts.signal?.aborted ? resolve() : reject(kubeError(e, what, where))));
        fopts.signal?.addEventListener(
          'abort',
          () => {
            req.destroy();
            resolve();
          },
          { once: true },
        );
        req.end();
      });
    },
    async applyObject<T extends KubernetesObject>(obj: T): Promise<T> {
      objects ??= k8s.KubernetesObjectApi.makeApiClient(kc);
      const o = objects;
      const body = { ...obj, metadata: { ...obj.metadata, namespace: obj.metadata?.namespace ?? namespace } };
      return call(`apply ${obj.kind} ${obj.metadata?.name}`, () => o.patch(body, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply)) as Promise<T>;
    },
    async deleteObject(obj) {
      objects ??= k8s.KubernetesObjectApi.makeApiClient(kc);
      const o = objects;
      const body = { ...obj, metadata: { ...obj.metadata, namespace: obj.metadata?.namespace ?? namespace } };
      await gone(`delete ${obj.kind} ${obj.metadata?.name}`, () => o.delete(body, undefined, undefined, undefined, undefined, 'Background'));
    },
    async readObject<T extends KubernetesObject>(ref: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<T | undefined> {
      objects ??= k8s.KubernetesObjectApi.makeApiClient(kc);
      const o = objects;
      const spec = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.metadata.name, namespace: ref.metadata.namespace ?? namespace } };
      try {
        return (await o.read(spec)) as T;
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw kubeError(e, `read ${ref.kind} ${ref.metadata.name}`, where);
      }
    },
    async listObjects<T extends KubernetesObject>(apiVersion: string, kind: string, labelSelector?: string): Promise<T[]> {
      objects ??= k8s.KubernetesObjectApi.makeApiClient(kc);
      const o = objects;
      const list = await call(`list ${kind} objects`, () => o.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector));
      return list.items as T[];
    },
  };
}
