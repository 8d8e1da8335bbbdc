/**
 * `gitml services` and `gitml service status`: desired state (git), actual state (the target,
 * by labels) and recorded status (the status branch), joined per service. Works from any
 * process: nothing comes from the memory of the process that deployed.
 */
import { GitmlError, isGitmlError } from '../errors.js';
import type { Condition } from './apply.js';
import { desiredState, type DesiredState } from './desired.js';
import type { ServiceDriver } from './driver.js';
import { Drivers, projectName } from './reconcile.js';
import { readHistory, readServiceStatus, statusServices, type DeployRecord } from './status.js';
import type { ActualService } from './types.js';

export interface ServiceSummary {
  name: string;
  compute?: string;
  model?: string;
  desired: Array<{ version: string; role: string; weight: number; replicas: number; tag?: string }>;
  running: Array<{ version: string; weight: number; ready: number; replicas: number }>;
  /** Replicas ready / desired in total. */
  ready: number;
  replicas: number;
  url?: string;
  /** Ready, Progressing (differs from git), Stalled, Down, Not deployed, Unknown (target unreachable), Orphan (YAML gone). */
  state: string;
  conditions: Condition[];
  lastDeploy?: { at: string; by: string; revision: string; tags: string[]; trigger: string };
  /** Why the desired state or the actual one could not be read. */
  problem?: string;
}

async function driverOf(state: DesiredState, drivers: Drivers, name: string): Promise<{ driver: ServiceDriver; compute: string; actual: ActualService | null } | undefined> {
  const e = state.services.get(name);
  if (e?.ok) {
    const driver = await drivers.get(e.compute);
    return { driver, compute: e.compute.name, actual: await driver.actual(name) };
  }
  const yamlCompute = state.entities.services.get(name)?.spec.compute;
  for (const c of state.entities.compute.values()) {
    if (c.spec.type !== 'docker' || (yamlCompute && c.name !== yamlCompute && e)) continue;
    const driver = await drivers.get(c);
    const actual = await driver.actual(name);
    if (actual) return { driver, compute: c.name, actual };
  }
  return undefined;
}

function summarize(name: string, state: DesiredState, found: Awaited<ReturnType<typeof driverOf>>, status: Awaited<ReturnType<typeof readServiceStatus>>, problem?: string): ServiceSummary {
  const e = state.services.get(name);
  const desired = e?.ok ? e.service.versions.map((v) => ({ version: v.version, role: v.role, weight: v.weight, replicas: v.replicas, tag: v.tag })) : [];
  const a = found?.actual ?? null;
  const byVersion = new Map<string, { ready: number; replicas: number }>();
  for (const r of a?.replicas ?? []) {
    const x = byVersion.get(r.version) ?? { ready: 0, replicas: 0 };
    x.replicas++;
    if (r.ready) x.ready++;
    byVersion.set(r.version, x);
  }
  const running = [...byVersion.entries()].map(([version, x]) => ({ version, weight: a?.weights[version] ?? 0, ...x })).sort((p, q) => q.weight - p.weight);
  const ready = (a?.replicas ?? []).filter((r) => r.ready && (a?.weights[r.version] ?? 0) > 0).length;
  const replicas = desired.reduce((s, v) => s + v.replicas, 0);
  const conditions = status?.conditions ?? [];
  const stalledNow = conditions.some((x) => x.type === 'Stalled' && x.status);
  const matches = e?.ok && a && desired.every((v) => (a.weights[v.version] ?? 0) === v.weight && (byVersion.get(v.version)?.ready ?? 0) >= v.replicas);
  const st = problem
    ? 'Unknown'
    : !e
      ? a ? 'Orphan' : 'Deleted'
      : !a
        ? stalledNow ? 'Stalled' : 'Not deployed'
        : stalledNow ? 'Stalled' : matches ? 'Ready' : a.port === undefined ? 'Down' : 'Progressing';
  const last: DeployRecord | undefined = status?.lastApplied ?? status?.lastAttempted;
  const url = a?.port !== undefined ? (found!.driver as { url?: (p: number) => string }).url?.call(found!.driver, a.port) : undefined;
  return {
    name,
    compute: found?.compute ?? (e?.ok ? e.compute.name : undefined),
    model: e?.ok ? e.service.model : undefined,
    desired,
    running,
    ready,
    replicas,
    url,
    state: st,
    conditions,
    lastDeploy: last ? { at: last.at, by: last.by.name, revision: last.revision, tags: last.tags, trigger: last.trigger } : undefined,
    problem: problem ?? (e && !e.ok ? e.error.message : undefined),
  };
}

export async function listServices(o: { dir: string; rev?: string; env?: NodeJS.ProcessEnv }): Promise<ServiceSummary[]> {
  const state = await desiredState({ dir: o.dir, rev: o.rev });
  const root = state.entities.dir;
  const drivers = new Drivers(root, projectName(state), o.env);
  const names = new Set<string>([...state.services.keys()]);
  for (const s of await statusServices(root)) names.add(s);
  for (const c of state.entities.compute.values()) {
    if (c.spec.type !== 'docker') continue;
    try {
      for (const s of await (await drivers.get(c)).list()) names.add(s);
    } catch {
      /* reported per service below */
    }
  }
  const out: ServiceSummary[] = [];
  for (const name of [...names].sort()) {
    const status = await readServiceStatus(root, name);
    let found: Awaited<ReturnType<typeof driverOf>>;
    let problem: string | undefined;
    try {
      found = await driverOf(state, drivers, name);
    } catch (e) {
      if (!isGitmlError(e)) throw e;
      problem = e.message;
    }
    const s = summarize(name, state, found, status, problem);
    if (s.state === 'Deleted' && !status) continue;
    out.push(s);
  }
  return out;
}

export async function serviceDetail(o: { dir: string; service: string; env?: NodeJS.ProcessEnv }) {
  const state = await desiredState({ dir: o.dir });
  const root = state.entities.dir;
  const drivers = new Drivers(root, projectName(state), o.env);
  const status = await readServiceStatus(root, o.service);
  if (!state.services.has(o.service) && !status) {
    const known = [...state.services.keys()].sort();
    throw new GitmlError('UNKNOWN_ENTITY', `there is no service ${JSON.stringify(o.service)} in gitml/services/ (known: ${known.join(', ') || 'none'})`, { service: o.service });
  }
  let found: Awaited<ReturnType<typeof driverOf>>;
  let problem: string | undefined;
  try {
    found = await driverOf(state, drivers, o.service);
  } catch (e) {
    if (!isGitmlError(e)) throw e;
    problem = e.message;
  }
  const summary = summarize(o.service, state, found, status, problem);
  const replicas: Array<{ id: string; version: string; role: string; status: string; image: string }> = [];
  const describe = (found?.driver as { describe?: (s: string) => Promise<{ replicas: Array<{ Id: string; Status: string; Labels: Record<string, string>; Image: string }> }> } | undefined)?.describe;
  if (describe && found) {
    for (const r of (await describe.call(found.driver, o.service)).replicas) {
      replicas.push({ id: r.Id, version: r.Labels['dev.gitml.service-version'] ?? '', role: r.Labels['dev.gitml.service-role'] ?? '', status: r.Status, image: r.Labels['dev.gitml.service-image'] ?? r.Image });
    }
  } else {
    for (const r of found?.actual?.replicas ?? []) replicas.push({ id: r.id, version: r.version, role: r.role, status: r.ready ? 'ready' : 'not ready', image: r.image });
  }
  return { ...summary, replicaCount: summary.replicas, replicas, history: await readHistory(root, o.service) };
}

/** The driver that runs (or would run) a service, for `gitml service logs`. */
export async function serviceDriver(o: { dir: string; service: string; env?: NodeJS.ProcessEnv }): Promise<ServiceDriver> {
  const state = await desiredState({ dir: o.dir });
  const drivers = new Drivers(state.entities.dir, projectName(state), o.env);
  const found = await driverOf(state, drivers, o.service);
  if (!found?.actual) throw new GitmlError('UNKNOWN_ENTITY', `service ${JSON.stringify(o.service)} is not deployed (run \`gitml deploy ${o.service}\`)`, { service: o.service });
  return found.driver;
}
