/**
 * `gitml daemon`: one pass reads the repository's branch refs, finds the branches whose tip
 * moved since the last commit processed, enqueues the experiments each new tip affects, then
 * runs queued entries with the run engine within each compute target's concurrency. Every
 * step is an event handed to `log` (one line each in the CLI). Nothing in a pass throws for
 * bad input: invalid YAML, an experiment that cannot be queued or a run that fails are
 * events, and the daemon goes on.
 *
 * The first time a branch is seen it is compared with its merge-base with the default
 * branch; for the default branch itself that is its own tip, so starting a daemon records
 * where each branch is and runs nothing until a new commit arrives.
 *
 * @example
 *   await runDaemon({ dir, once: true, log: (e) => console.log(JSON.stringify(e)) });
 */
import { isGitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { loadEntities } from '../entities/load.js';
import { addToQueue } from '../queue/add.js';
import { claimNext, settleLost, type Claim } from '../queue/claim.js';
import { affectedExperiments, defaultBranch } from '../triggers/affected.js';
import { acquireDaemonLock, daemonDir, readState, writeState, type DaemonState } from './state.js';

export type DaemonEvent = { event: string; [k: string]: unknown };

export interface DaemonOptions {
  dir: string;
  /** One pass (scan, enqueue, run until the queue has nothing startable), then return. */
  once?: boolean;
  /** Between passes when not `once` (ms). */
  intervalMs?: number;
  /** Runs in flight at most, over all compute targets (each also within its own concurrency). */
  workers?: number;
  log: (e: DaemonEvent) => void;
  /** Abort: stop claiming, let runs in flight finish, return. */
  signal?: AbortSignal;
  clock?: () => number;
}

const errInfo = (e: unknown) => (isGitmlError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) });

/** Branch tips under refs/heads, except the branches gitml itself writes (runs, status). */
export async function branchTips(dir: string, skip: Set<string>): Promise<Map<string, string>> {
  const r = await runGit(dir, ['for-each-ref', '--format=%(refname)%00%(objectname)%00%(objecttype)', 'refs/heads/']);
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [ref, oid, type] = line.split('\0');
    if (!ref || type !== 'commit') continue;
    const name = ref.slice('refs/heads/'.length);
    if (!skip.has(name)) out.set(name, oid);
  }
  return out;
}

/** The branches gitml writes itself, from gitml.yaml on the default branch (defaults when it does not load). */
async function ownBranches(dir: string, def: string): Promise<Set<string>> {
  const r = await loadEntities({ dir, rev: `refs/heads/${def}` }).catch(() => undefined);
  const b = r?.value?.workspace.spec.branches;
  return new Set([b?.runs ?? 'runs', b?.status ?? 'gitml-status']);
}

/** Scan the refs and enqueue what new commits affect; the state is saved after each branch. */
export async function scanAndEnqueue(o: DaemonOptions, ddir: string, state: DaemonState): Promise<void> {
  const def = await defaultBranch(o.dir);
  const tips = await branchTips(o.dir, await ownBranches(o.dir, def));
  const now = () => new Date((o.clock ?? Date.now)()).toISOString();
  for (const [branch, commit] of tips) {
    const prev = state.branches[branch]?.commit;
    if (prev === commit) continue;
    const r = await affectedExperiments({ dir: o.dir, branch, commit, previous: prev, defaultBranch: def });
    if (!r.ok) {
      o.log({ event: 'trigger-invalid', branch, commit, problems: r.problems.map((p) => ({ file: p.file, line: p.line, code: p.code, message: p.message })) });
      state.branches[branch] = { commit, at: now(), problems: r.problems.map((p) => ({ file: p.file, line: p.line, code: p.code, message: p.message })) };
      writeState(ddir, state);
      continue;
    }
    o.log({ event: 'commit', branch, commit, previous: prev ?? null, base: r.base ?? null, baseKind: r.baseKind, changed: r.changed.length, affected: r.experiments.map((e) => e.name) });
    for (const e of r.experiments) {
      try {
        for (const { entry, added } of await addToQueue({ dir: o.dir, experiment: e.name, rev: commit, branch, trigger: { kind: 'daemon', ref: `refs/heads/${branch}`, event: 'push' } })) {
          o.log({ event: added ? 'queued' : 'already-queued', id: entry.id, experiment: entry.experiment, branch, commit, state: entry.state });
        }
      } catch (err) {
        o.log({ event: 'trigger-failed', branch, commit, experiment: e.name, error: errInfo(err) });
      }
    }
    state.branches[branch] = { commit, at: now() };
    writeState(ddir, state);
  }
}

/** Run one claimed entry with the run engine and record its outcome on the entry. */
async function runClaim(o: DaemonOptions, c: Claim): Promise<void> {
  const e = c.entry;
  o.log({ event: 'run-started', id: e.id, experiment: e.experiment, commit: e.commit, compute: e.compute, attempt: e.attempts });
  const controller = new AbortController();
  const poll = setInterval(() => c.cancelRequested() && controller.abort(), 500);
  poll.unref();
  try {
    const { runExperiment } = await import('../run/run-experiment.js');
    const r = await runExperiment({ dir: o.dir, experiment: e.experiment, rev: e.commit, params: e.params, sourceBranch: e.branch, trigger: e.trigger, signal: controller.signal });
    const status = r.record.status;
    const state = status === 'completed' ? 'completed' : status === 'canceled' ? 'canceled' : 'failed';
    await c.finish({ state, runId: r.runId, runStatus: status, error: state === 'failed' ? r.record.error : undefined });
    o.log({ event: 'run-finished', id: e.id, experiment: e.experiment, runId: r.runId, status });
  } catch (err) {
    const info = errInfo(err);
    await c.finish({ state: 'failed', error: `${info.code}: ${info.message}` }).catch((x) => o.log({ event: 'error', error: errInfo(x) }));
    o.log({ event: 'run-error', id: e.id, experiment: e.experiment, error: info });
  } finally {
    clearInterval(poll);
  }
}

/** Claim and run entries until nothing more can start and nothing is in flight (or `signal` stops claiming). */
export async function drainQueue(o: DaemonOptions): Promise<number> {
  const workers = Math.max(1, o.workers ?? 4);
  const inflight = new Set<Promise<void>>();
  let started = 0;
  let failure: unknown;
  for (;;) {
    let claim: Claim | undefined;
    if (!o.signal?.aborted && failure === undefined && inflight.size < workers) {
      // A claim that fails (the queue lock held too long, a full disk) stops claiming, but the
      // runs in flight are still waited for: the lock is never released under a running run.
      claim = await claimNext({ dir: o.dir, clock: o.clock }).catch((e: unknown) => {
        failure = e;
        return undefined;
      });
    }
    if (claim) {
      started++;
      const p: Promise<void> = runClaim(o, claim).finally(() => inflight.delete(p));
      inflight.add(p);
      continue;
    }
    if (!inflight.size) {
      if (failure !== undefined) throw failure;
      return started;
    }
    await Promise.race(inflight);
  }
}

/** One pass: settle lost entries, scan and enqueue, drain. */
export async function daemonPass(o: DaemonOptions, ddir: string): Promise<void> {
  for (const s of await settleLost({ dir: o.dir, clock: o.clock })) o.log({ event: s.outcome === 'lost' ? 'lost' : 'requeued', id: s.id, experiment: s.experiment, owner: s.owner });
  await scanAndEnqueue(o, ddir, readState(ddir));
  await drainQueue(o);
}

/**
 * Take the daemon lock (LOCK_HELD when another daemon serves the repository) and run passes
 * until `once` or `signal`. A pass that fails (git gone, disk full) is logged and retried at
 * the next interval; with `once` it is thrown.
 */
export async function runDaemon(o: DaemonOptions): Promise<void> {
  const ddir = await daemonDir(o.dir);
  const release = acquireDaemonLock(ddir);
  try {
    o.log({ event: 'start', pid: process.pid, once: o.once === true });
    for (;;) {
      try {
        await daemonPass(o, ddir);
      } catch (err) {
        if (o.once) throw err;
        o.log({ event: 'error', error: errInfo(err) });
      }
      if (o.once || o.signal?.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, o.intervalMs ?? 30_000);
        o.signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      if (o.signal?.aborted) break;
    }
    o.log({ event: 'stop' });
  } finally {
    release();
  }
}
