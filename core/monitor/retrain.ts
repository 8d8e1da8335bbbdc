/**
 * The retraining policy of a Service (`monitoring.retrain`): when a drift report's share of
 * drifted input columns reaches `threshold`, run `experiment` (its lineage says
 * `trigger: {kind: 'drift', ref: REPORT_ID}`), then register the model it produced; with
 * `promote: STAGE`, also move that stage to the new version when it beats the version in
 * that stage by the experiment's primary metric and goal.
 *
 * Never more than one retraining in flight per service (a lock file owned by a live pid), and
 * after a failed retraining the next one waits `backoff` (default 1h), so a broken training
 * job is not restarted at every report.
 *
 * Example:
 *   const r = await retrainOnDrift({ dir: '.', service: 'iris', report });
 *   r.action   // 'promoted' | 'registered' | 'failed' | 'below-threshold' | 'in-flight' | 'backing-off' | 'no-policy'
 *   const q = await queueRetraining({ dir: '.', service: 'iris', report });   // a daemon runs it
 *   q.action   // 'queued' (q.entry), or as above
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import { createExclusive } from '../fs.js';
import { requireEntities } from '../entities/load.js';
import { runGit } from '../git.js';
import { pidAlive } from '../pid.js';
import { promoteModel } from '../registry/promote.js';
import { registerModel } from '../registry/register.js';
import { resolveModelRef } from '../registry/resolve.js';
import { runExperiment, type LogFn } from '../run/run-experiment.js';
import type { Experiment, Loaded } from '../entities/types.js';
import type { QueueEntry } from '../queue/types.js';
import type { RunRecord } from '../runs/types.js';
import type { MonitorReport } from './report.js';
import { parseDuration } from './requests.js';

export interface RetrainPolicy {
  experiment: string;
  threshold: number;
  promote?: string;
  backoff?: string;
}

export interface RetrainOptions {
  dir: string;
  service: string;
  report: MonitorReport & { id: string };
  onLog?: LogFn;
  onProgress?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  clock?: () => number;
}

export interface RetrainResult {
  action: 'promoted' | 'registered' | 'failed' | 'queued' | 'below-threshold' | 'in-flight' | 'backing-off' | 'no-policy';
  message: string;
  /** The queue entry of a queued retraining (or of the one already waiting). */
  entry?: string;
  runId?: string;
  version?: string;
  metric?: { name: string; goal: 'maximize' | 'minimize'; new?: number; current?: number };
}

interface RetrainState {
  lastFailure?: number;
  lastRun?: string;
}

function stateDir(gd: string): string {
  return path.join(gd, 'gitml', 'retrain');
}

function readState(file: string): RetrainState {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RetrainState;
  } catch {
    return {};
  }
}

function writeState(file: string, s: RetrainState): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s) + '\n');
  renameSync(tmp, file);
}

/** Exclusive lock `<service>.lock` (pid + host); a lock of a dead pid on this host is taken over. */
function lock(file: string): (() => void) | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    if (createExclusive(file, JSON.stringify({ pid: process.pid, host: hostname() }))) return () => rmSync(file, { force: true });
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      /* half-written: treat as held */
    }
    if (owner.host === hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid)) rmSync(file, { force: true });
    else return undefined;
  }
  return undefined;
}

interface Prepared {
  policy: RetrainPolicy;
  exp: Loaded<Experiment>;
  threshold: number;
  stateDir: string;
  stateFile: string;
}

/** The policy, the threshold and the back-off checked: a result when nothing is to start. */
async function prepare(o: RetrainOptions): Promise<RetrainResult | Prepared> {
  const now = o.clock ?? Date.now;
  const ents = await requireEntities({ dir: o.dir });
  const svc = ents.services.get(o.service);
  if (!svc) throw new GitmlError('UNKNOWN_ENTITY', `there is no service ${JSON.stringify(o.service)} in gitml/services/`, { kind: 'Service', name: o.service });
  const policy = (svc.spec.monitoring?.retrain ?? undefined) as RetrainPolicy | undefined;
  if (!policy?.experiment) return { action: 'no-policy', message: `service ${o.service} has no monitoring.retrain.experiment: nothing to retrain` };
  const exp = ents.experiments.get(policy.experiment);
  if (!exp) throw new GitmlError('UNKNOWN_ENTITY', `gitml/services/${o.service}.yaml: monitoring.retrain.experiment names no experiment: ${JSON.stringify(policy.experiment)}`, { kind: 'Experiment', name: policy.experiment });
  const threshold = policy.threshold ?? 0.5;
  if (o.report.noData || o.report.driftShare < threshold) {
    return { action: 'below-threshold', message: `drift share ${(o.report.driftShare * 100).toFixed(0)} % is below the retraining threshold ${(threshold * 100).toFixed(0)} %: no retraining` };
  }
  const r = await runGit(o.dir, ['rev-parse', '--git-common-dir']);
  if (r.code !== 0) throw new GitmlError('NOT_A_REPO', `${o.dir} is not inside a git repository`, { dir: o.dir });
  const dir = stateDir(path.resolve(o.dir, r.stdout.trim()));
  mkdirSync(dir, { recursive: true });
  const stateFile = path.join(dir, `${o.service}.json`);
  const state = readState(stateFile);
  const backoffMs = parseDuration(policy.backoff ?? '1h');
  if (state.lastFailure !== undefined && now() - state.lastFailure < backoffMs) {
    const wait = Math.ceil((backoffMs - (now() - state.lastFailure)) / 60_000);
    return { action: 'backing-off', message: `the last retraining of ${o.service} failed (run ${state.lastRun ?? '?'}); the next may start in ${wait} min (monitoring.retrain.backoff)` };
  }
  return { policy, exp, threshold, stateDir: dir, stateFile };
}

/**
 * The checks both ways of retraining share: the policy, the threshold and the back-off; then,
 * holding the service's retraining lock, none already waiting or running in the daemon's
 * queue. `start` is called only when a retraining may start.
 */
async function whenFree(o: RetrainOptions, start: (p: Prepared) => Promise<RetrainResult>): Promise<RetrainResult> {
  const p = await prepare(o);
  if ('action' in p) return p;
  const release = lock(path.join(p.stateDir, `${o.service}.lock`));
  if (!release) return { action: 'in-flight', message: `a retraining of ${o.service} is already running: one at a time per service` };
  try {
    const waiting = await queuedRetraining(o.dir, o.service);
    if (waiting) return { action: 'in-flight', message: `a retraining of ${o.service} is already in the daemon's queue (entry ${waiting.id}, ${waiting.state}): one at a time per service`, entry: waiting.id };
    o.onProgress?.(`drift share ${(o.report.driftShare * 100).toFixed(0)} % >= ${(p.threshold * 100).toFixed(0)} %: retraining with experiment ${p.policy.experiment}`);
    return await start(p);
  } finally {
    release();
  }
}

/** Retrain now, in this process (`gitml monitor --retrain` with no daemon running). */
export function retrainOnDrift(o: RetrainOptions): Promise<RetrainResult> {
  return whenFree(o, async (p) => {
    const run = await runExperiment({ dir: o.dir, experiment: p.policy.experiment, trigger: { kind: 'drift', ref: o.report.id }, onLog: o.onLog, onProgress: o.onProgress, env: o.env });
    return settleRetraining({ dir: o.dir, service: o.service, model: o.report.model, report: o.report.id, runId: run.runId, record: run.record, env: o.env, clock: o.clock });
  });
}

/** The retraining of `service` waiting or running in the daemon's queue, if any. */
async function queuedRetraining(dir: string, service: string): Promise<QueueEntry | undefined> {
  const { queuePaths, listEntries } = await import('../queue/store.js');
  const { FINAL_QUEUE_STATES } = await import('../queue/types.js');
  return listEntries(await queuePaths(dir)).find((e) => e.retrain?.service === service && !FINAL_QUEUE_STATES.includes(e.state));
}

/**
 * Put the retraining in the daemon's queue (what the daemon's monitor does, and `gitml
 * monitor --retrain` while a daemon serves the repository): the run happens there, at HEAD,
 * with `trigger: drift:<report>`; the worker registers (and promotes) by the policy when it
 * completes (settleRetraining). One at a time per service, queued or running.
 */
export function queueRetraining(o: RetrainOptions): Promise<RetrainResult> {
  return whenFree(o, async (p) => {
    const { addToQueue } = await import('../queue/add.js');
    const [q] = await addToQueue({ dir: o.dir, experiment: p.policy.experiment, rev: 'HEAD', trigger: { kind: 'drift', ref: o.report.id }, retrain: { service: o.service, model: o.report.model, report: o.report.id } });
    return { action: 'queued', entry: q.entry.id, message: `queued the retraining of ${o.service} with experiment ${p.policy.experiment} (entry ${q.entry.id}); the daemon runs it, then registers the model${p.policy.promote ? ` and promotes it to ${p.policy.promote} if better` : ''}` };
  });
}

export interface SettleRetrainingOptions {
  dir: string;
  service: string;
  model: string;
  /** The drift report's id. */
  report: string;
  runId?: string;
  /** The run's record; none when the run could not start (`error` says why). */
  record?: RunRecord;
  error?: string;
  env?: NodeJS.ProcessEnv;
  clock?: () => number;
}

/**
 * After a retraining run: a failed one starts the back-off (nothing registered); a completed
 * one registers the model it made and, with `promote: STAGE`, promotes it when it beats the
 * version in that stage by the experiment's primary metric and goal. The policy is the
 * service's as it is now.
 */
export async function settleRetraining(o: SettleRetrainingOptions): Promise<RetrainResult> {
  const now = o.clock ?? Date.now;
  const ents = await requireEntities({ dir: o.dir });
  const policy = (ents.services.get(o.service)?.spec.monitoring?.retrain ?? {}) as Partial<RetrainPolicy>;
  const r = await runGit(o.dir, ['rev-parse', '--git-common-dir']);
  if (r.code !== 0) throw new GitmlError('NOT_A_REPO', `${o.dir} is not inside a git repository`, { dir: o.dir });
  const dir = stateDir(path.resolve(o.dir, r.stdout.trim()));
  mkdirSync(dir, { recursive: true });
  const stateFile = path.join(dir, `${o.service}.json`);
  if (!o.record || !o.runId || o.record.status !== 'completed') {
    writeState(stateFile, { lastFailure: now(), ...(o.runId ? { lastRun: o.runId } : {}) });
    const what = o.record && o.runId ? `retraining run ${o.runId} ${o.record.status}${o.record.error ? `: ${o.record.error}` : ''}` : `the retraining could not run${o.error ? `: ${o.error}` : ''}`;
    return { action: 'failed', ...(o.runId ? { runId: o.runId } : {}), message: `${what}; nothing registered; the next report may retry after ${policy.backoff ?? '1h'}` };
  }
  const record = o.record;
  writeState(stateFile, { lastRun: o.runId });
  const model = o.model;
  const reg = await registerModel({ dir: o.dir, name: model, runId: o.runId, bump: 'patch', message: `retrained on drift report ${o.report} of service ${o.service}`, env: o.env });
  if (!policy.promote) return { action: 'registered', runId: o.runId, version: reg.version, message: `registered ${model}@${reg.version} from retraining run ${o.runId} (no monitoring.retrain.promote: not promoted)` };

  // Promote only when better than the version in that stage (or when the stage is empty).
  const exp = ents.experiments.get(record.experiment);
  const primary = exp?.spec.metrics?.primary;
  const goal = exp?.spec.metrics?.goal ?? 'maximize';
  const fresh = primary ? record.metrics?.[primary] : undefined;
  let current: number | undefined;
  try {
    const cur = await resolveModelRef({ dir: o.dir, ref: `${model}#${policy.promote}` });
    const v = primary ? cur.record.metrics?.[primary] : undefined;
    current = typeof v === 'number' ? v : undefined;
  } catch (e) {
    if (!isGitmlError(e)) throw e;
  }
  const metric = primary ? { name: primary, goal, new: typeof fresh === 'number' ? fresh : undefined, current } : undefined;
  const better = typeof fresh === 'number' && (current === undefined || (goal === 'maximize' ? fresh > current : fresh < current));
  if (!primary || !better) {
    const why = !primary ? `experiment ${record.experiment} declares no metrics.primary to compare by` : `${primary} ${fresh ?? '?'} is not better than ${current} (${goal}) in ${policy.promote}`;
    return { action: 'registered', runId: o.runId, version: reg.version, metric, message: `registered ${model}@${reg.version}; not promoted to ${policy.promote}: ${why}` };
  }
  await promoteModel({ dir: o.dir, name: model, version: reg.version, stage: policy.promote, message: `retrained on drift report ${o.report}`, env: o.env });
  return { action: 'promoted', runId: o.runId, version: reg.version, metric, message: `registered ${model}@${reg.version} and promoted it to ${policy.promote} (${primary} ${fresh}${current === undefined ? '' : ` vs ${current}`})` };
}
