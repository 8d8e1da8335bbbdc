/**
 * `gitml deploy`: the reconciler. For each service: read the desired state from git, take the
 * service's lock, read what the target runs (by labels), compute the pure plan, build the
 * images the plan needs, apply the steps in order, and record the outcome on the status
 * branch. A deploy killed midway leaves labelled containers behind; the next deploy reads
 * them as actual state and its plan repairs the difference (replicas that are not ready or
 * not desired are removed, missing ones started).
 *
 * @example
 *   const r = await deploy({ dir: '/repo', services: ['iris'], onProgress: console.error });
 *   r.services[0].outcome?.conditions; // [{ type: 'Ready', status: true, reason: 'Applied', … }]
 */
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import { withFileLock } from '../lock.js';
import { commonDir } from '../registry/lock.js';
import { taggerIdentity } from '../registry/identity.js';
import type { ComputeTarget, Loaded } from '../entities/types.js';
import { applyPlan, type ApplyOutcome, type Condition } from './apply.js';
import { desiredState, type DesiredEntry, type DesiredState } from './desired.js';
import type { ServiceDriver } from './driver.js';
import { driverFor, targetKey } from './drivers/index.js';
import { describeStep, plan } from './plan.js';
import { recordDeploy, type DeployRecord } from './status.js';
import type { ActualService, DesiredService, Step } from './types.js';

export interface DeployOptions {
  dir: string;
  /** Services to reconcile; default all in gitml/services/. */
  services?: string[];
  /** The revision whose YAML is deployed (default: the default branch's tip). */
  rev?: string;
  /** Compute and print the plan; change nothing. */
  dryRun?: boolean;
  /** Remove what gitml deployed for services whose YAML is gone. */
  prune?: boolean;
  /**
   * Wait for the new replicas and move traffic (default true). False, on Kubernetes: apply
   * the objects and return; the next reconcile moves traffic and removes the rest.
   */
  wait?: boolean;
  /** What started this deploy, for the history (`deploy`, `rollback`, `daemon`). */
  trigger?: string;
  /** How long to wait for another deploy of the same service (ms). */
  lockTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ServiceResult {
  name: string;
  compute?: string;
  /** The plan (empty: nothing to change). */
  steps: Step[];
  plan: string[];
  noop: boolean;
  outcome?: ApplyOutcome;
  /** Why the service could not be planned or applied (unknown stage, engine down, ...). */
  error?: { code: string; message: string };
  desired?: DesiredService;
  url?: string;
  /** True for a service whose YAML is gone (found on a target by its labels). */
  orphan?: boolean;
  /** The status branch commit that recorded this reconcile. */
  recorded?: string;
}

export interface DeployResult {
  revision: string;
  ref: string;
  dryRun: boolean;
  services: ServiceResult[];
}

/** The per-service lock: two deploys of one service never interleave their steps. */
export async function withServiceLock<T>(dir: string, service: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: () => void } = {}): Promise<T> {
  const file = path.join(await commonDir(dir), 'gitml', 'deploy', `${service}.lock`);
  return withFileLock(file, fn, { timeoutMs: opts.timeoutMs ?? 10 * 60_000, what: `deploying service ${service}`, onWait: opts.onWait });
}

function projectName(state: DesiredState): string {
  return state.entities.workspace.spec.name;
}

/** Drivers shared by every service on one target during one deploy. */
class Drivers {
  private cache = new Map<string, Promise<ServiceDriver>>();
  constructor(private readonly dir: string, private readonly project: string, private readonly env?: NodeJS.ProcessEnv) {}
  get(compute: Loaded<ComputeTarget>): Promise<ServiceDriver> {
    const key = targetKey(compute, this.env);
    let d = this.cache.get(key);
    if (!d) {
      d = driverFor(compute, { dir: this.dir, project: this.project, env: this.env });
      this.cache.set(key, d);
    }
    return d;
  }
}

function errorOf(e: unknown): { code: string; message: string } {
  return isGitmlError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

function stalled(code: string, message: string): Condition[] {
  return [
    { type: 'Ready', status: false, reason: 'NotApplied', message },
    { type: 'Reconciling', status: false, reason: 'Stopped', message: '' },
    { type: 'Stalled', status: true, reason: code, message },
  ];
}

function urlOf(driver: ServiceDriver, port: number): string | undefined {
  const u = (driver as { url?: (p: number) => string }).url;
  return u ? u.call(driver, port) : undefined;
}

export async function deploy(o: DeployOptions): Promise<DeployResult> {
  // The Docker driver's modules load (CPU) while git is read (waiting on children): a no-op
  // deploy is mostly these two, so it waits for the slower, not for both in turn.
  const preload = Promise.all([import('../docker/client.js'), import('./drivers/docker.js')]).catch(() => undefined);
  const state = await desiredState({ dir: o.dir, rev: o.rev });
  await preload;
  const root = state.entities.dir;
  const wanted = o.services && o.services.length > 0 ? o.services : [...state.services.keys()].sort();
  const drivers = new Drivers(root, projectName(state), o.env);
  const results: ServiceResult[] = [];
  const unknown = wanted.filter((n) => !state.services.has(n));

  for (const name of wanted) {
    const entry = state.services.get(name);
    if (!entry) continue;
    results.push(await deployOne(o, state, entry, drivers));
  }
  // Services named on the command line without YAML: deployed before, or a typo.
  for (const name of unknown) results.push(await deployGone(o, state, name, drivers, true));
  if (!o.services?.length) {
    for (const name of await orphans(state, drivers)) results.push(await deployGone(o, state, name, drivers, false));
  }
  return { revision: state.revision, ref: state.ref, dryRun: Boolean(o.dryRun), services: results };
}

/** Services running on the workspace's docker targets whose YAML is gone. */
async function orphans(state: DesiredState, drivers: Drivers): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of state.entities.compute.values()) {
    if (c.spec.type !== 'docker') continue;
    const key = targetKey(c);
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      const d = await drivers.get(c);
      for (const s of await d.list()) if (!state.services.has(s) && !out.includes(s)) out.push(s);
    } catch {
      /* an unreachable engine only matters for the services that use it */
    }
  }
  return out;
}

async function deployGone(o: DeployOptions, state: DesiredState, name: string, drivers: Drivers, named: boolean): Promise<ServiceResult> {
  const r: ServiceResult = { name, steps: [], plan: [], noop: true, orphan: true };
  let found: { driver: ServiceDriver; actual: ActualService; compute: Loaded<ComputeTarget> } | undefined;
  for (const c of state.entities.compute.values()) {
    if (c.spec.type !== 'docker') continue;
    const d = await drivers.get(c).catch(() => undefined);
    const a = d ? await d.actual(name).catch(() => null) : null;
    if (d && a) {
      found = { driver: d, actual: a, compute: c };
      break;
    }
  }
  if (!found) {
    if (named) {
      const known = [...state.services.keys()].sort();
      r.error = { code: 'UNKNOWN_ENTITY', message: `there is no service ${JSON.stringify(name)} in gitml/services/ at ${state.ref} (known: ${known.join(', ') || 'none'})` };
    }
    return r;
  }
  r.compute = found.compute.name;
  r.steps = plan(name, null, found.actual, { prune: o.prune });
  r.plan = r.steps.length ? r.steps.map(describeStep) : [`${name}: its YAML is gone; run with --prune to remove it`];
  r.noop = r.steps.length === 0;
  if (o.dryRun || r.steps.length === 0) return r;
  await withServiceLock(state.entities.dir, name, async () => {
    r.outcome = await applyPlan(found!.driver, null, r.steps, { progress: o.onProgress, signal: o.signal });
  });
  return r;
}

async function deployOne(o: DeployOptions, state: DesiredState, entry: DesiredEntry, drivers: Drivers): Promise<ServiceResult> {
  const root = state.entities.dir;
  if (!entry.ok) {
    const r: ServiceResult = { name: entry.name, steps: [], plan: [], noop: false, error: errorOf(entry.error) };
    if (!o.dryRun) r.recorded = await record(o, state, { name: entry.name, compute: state.entities.services.get(entry.name)?.spec.compute ?? '' }, undefined, [], { conditions: stalled(entry.error.code, entry.error.message), failed: { step: 'desired state', ...errorOf(entry.error) } }, false);
    return r;
  }
  const desired = entry.service;
  const r: ServiceResult = { name: desired.name, compute: entry.compute.name, steps: [], plan: [], noop: false, desired };
  let driver: ServiceDriver;
  try {
    driver = await drivers.get(entry.compute);
    r.url = urlOf(driver, desired.port);
  } catch (e) {
    r.error = errorOf(e);
    return r;
  }
  try {
    await withServiceLock(root, desired.name, async () => {
      const actual = await driver.actual(desired.name);
      r.steps = plan(desired.name, desired, actual, { prune: o.prune });
      r.plan = r.steps.map(describeStep);
      r.noop = r.steps.length === 0;
      if (o.dryRun) return;
      if (r.noop) {
        const conditions: Condition[] = [
          { type: 'Ready', status: true, reason: 'NoChange', message: 'nothing changed' },
          { type: 'Reconciling', status: false, reason: 'Done', message: '' },
          { type: 'Stalled', status: false, reason: 'Done', message: '' },
        ];
        r.outcome = { applied: [], conditions };
        r.recorded = await record(o, state, { name: desired.name, compute: entry.compute.name }, desired, [], { conditions }, true, r.url);
        return;
      }
      if (o.wait === false && desired.compute.type !== 'kubernetes') {
        // Refused before anything is applied or recorded: a flag, not a failed rollout.
        r.error = { code: 'USAGE', message: `${desired.name} is on ${desired.compute.type} compute ${desired.compute.name}, which moves traffic only to ready replicas: --no-wait applies to Kubernetes computes` };
        return;
      }
      let outcome: ApplyOutcome;
      try {
        await ensureImages(o, root, desired, r.steps, driver);
        outcome = o.wait === false ? await applyWithoutWaiting(driver, desired, r.steps, o) : await applyPlan(driver, desired, r.steps, { progress: o.onProgress, signal: o.signal });
      } catch (e) {
        const err = errorOf(e);
        outcome = { applied: [], failed: { step: r.steps[0], ...err }, conditions: stalled(err.code, err.message) };
      }
      r.outcome = outcome;
      if (outcome.failed) r.error = { code: outcome.failed.code, message: outcome.failed.message };
      r.recorded = await record(o, state, { name: desired.name, compute: entry.compute.name }, desired, outcome.applied.map(describeStep), {
        conditions: outcome.conditions,
        failed: outcome.failed ? { step: describeStep(outcome.failed.step), code: outcome.failed.code, message: outcome.failed.message } : undefined,
      }, false, r.url);
    }, { timeoutMs: o.lockTimeoutMs, onWait: () => o.onProgress?.(`${desired.name}: another deploy of this service is running; waiting for it`) });
  } catch (e) {
    r.error = errorOf(e);
  }
  return r;
}

/**
 * `--no-wait` on Kubernetes: the objects are applied (Service, Deployments) and nothing is
 * waited for; moving traffic and removing the old replicas are left to the next reconcile,
 * which finds the new pods ready. Recorded as Reconciling, not Ready.
 */
async function applyWithoutWaiting(driver: ServiceDriver, desired: DesiredService, steps: Step[], o: DeployOptions): Promise<ApplyOutcome> {
  const now: Step[] = steps.filter((s) => s.kind === 'ensure-front' || s.kind === 'start-replicas');
  const outcome = await applyPlan(driver, desired, now, { progress: o.onProgress, signal: o.signal });
  if (outcome.failed) return outcome;
  const left = steps.length - now.length;
  return {
    applied: outcome.applied,
    conditions: [
      { type: 'Ready', status: false, reason: 'Progressing', message: 'applied without waiting (--no-wait): the cluster is rolling out' },
      { type: 'Reconciling', status: true, reason: 'RolloutStarted', message: left ? `${left} step(s) left for the next deploy: ${steps.filter((s) => !now.includes(s)).map(describeStep).join('; ')}` : 'nothing left' },
      { type: 'Stalled', status: false, reason: 'Progressing', message: '' },
    ],
  };
}

/** Build (or find) the image of every version the plan starts replicas of. */
async function ensureImages(o: DeployOptions, root: string, d: DesiredService, steps: Step[], driver: ServiceDriver): Promise<void> {
  const versions = new Set(steps.filter((s) => s.kind === 'start-replicas').map((s) => (s as Extract<Step, { kind: 'start-replicas' }>).version));
  if (versions.size === 0) return;
  const { buildModelImage } = await import('../package/image.js');
  const docker = (driver as { docker?: import('../docker/client.js').GitmlDocker }).docker;
  for (const v of d.versions) {
    if (!versions.has(v.version)) continue;
    o.onProgress?.(`${d.name}: image of ${d.model} ${v.version}`);
    if (d.compute.type === 'kubernetes') {
      // Built on the local engine; pushed to the compute's registry; the pods run it by digest.
      const slash = v.image.indexOf('/gitml-model/');
      const registry = slash > 0 ? v.image.slice(0, slash) : undefined;
      const img = await buildModelImage({ dir: root, ref: `${d.model}@${v.version}`, push: registry, onProgress: o.onProgress });
      if (img.pushed?.digest) v.digest = img.pushed.digest;
      continue;
    }
    const img = await buildModelImage({ dir: root, ref: `${d.model}@${v.version}`, docker, onProgress: o.onProgress });
    if (img.digestTag !== v.image) {
      throw new GitmlError('INTERNAL', `the image of ${d.model} ${v.version} is ${img.digestTag}, expected ${v.image}`, { image: img.digestTag });
    }
  }
}

async function record(
  o: DeployOptions,
  state: DesiredState,
  svc: { name: string; compute: string },
  desired: DesiredService | undefined,
  steps: string[],
  out: { conditions: Condition[]; failed?: DeployRecord['failed'] },
  noop: boolean,
  url?: string,
): Promise<string | undefined> {
  const root = state.entities.dir;
  const rec: Omit<DeployRecord, 'by'> = {
    service: svc.name,
    revision: state.revision,
    ref: state.ref,
    tags: (desired?.versions ?? []).map((v) => v.tag).filter((t): t is string => Boolean(t)),
    versions: (desired?.versions ?? []).map((v) => ({ version: v.version, role: v.role, replicas: v.replicas, weight: v.weight, image: v.image })),
    compute: svc.compute,
    at: new Date().toISOString(),
    steps,
    failed: out.failed,
    conditions: out.conditions,
    url,
    trigger: o.trigger ?? 'deploy',
  };
  try {
    return (await recordDeploy(root, rec, { noop, by: () => taggerIdentity(root, o.env).catch(() => ({ name: 'unknown', email: '' })) }))?.commit;
  } catch (e) {
    o.onProgress?.(`could not record the status of ${svc.name}: ${errorOf(e).message}`);
    return undefined;
  }
}

/** Delete a service from its target (what `gitml service delete` does), and record it. */
export async function deleteService(o: { dir: string; service: string; env?: NodeJS.ProcessEnv }): Promise<{ deleted: boolean; compute?: string }> {
  const state = await desiredState({ dir: o.dir });
  const drivers = new Drivers(state.entities.dir, projectName(state), o.env);
  const entry = state.services.get(o.service);
  const computes = entry?.ok ? [entry.compute] : [...state.entities.compute.values()].filter((c) => c.spec.type === 'docker');
  for (const c of computes) {
    const d = await drivers.get(c);
    if (!(await d.actual(o.service))) continue;
    await withServiceLock(state.entities.dir, o.service, () => d.delete(o.service));
    await record({ ...o, trigger: 'delete' }, state, { name: o.service, compute: c.name }, undefined, [`${o.service}: deleted`], {
      conditions: [
        { type: 'Ready', status: false, reason: 'Deleted', message: 'deleted with gitml service delete' },
        { type: 'Reconciling', status: false, reason: 'Done', message: '' },
        { type: 'Stalled', status: false, reason: 'Done', message: '' },
      ],
    }, false);
    return { deleted: true, compute: c.name };
  }
  return { deleted: false };
}

export { Drivers, projectName };
