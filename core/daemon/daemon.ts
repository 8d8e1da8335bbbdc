/**
 * `gitml daemon`: one pass reads the branch refs (the repository's own, or with `remote` the
 * remote's, fetched first), finds the branches whose tip moved since the last commit
 * processed, enqueues the experiments each new tip affects, hands the services of models whose
 * tags moved to the reconciler, then starts queued entries with the run engine within each
 * compute target's concurrency (claimed on the remote too when following one). Runs, deploys
 * and pushes go on between passes; the refs watch, a webhook or a finished run wakes the next
 * pass early. Every
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
import { hostname } from 'node:os';
import { claimNext, settleLost, type Claim, type FinishResult } from '../queue/claim.js';
import type { QueueEntry } from '../queue/types.js';
import type { RemoteClaim } from '../queue/remote-claim.js';
import { FINAL_STATUSES, type RunRecord } from '../runs/types.js';
import { ServiceReconciler, changedModels, modelTags } from './services.js';
import { MonitorSchedule } from './monitoring.js';
import { affectedExperiments, defaultBranch } from '../triggers/affected.js';
import { checkRemoteName, remoteRefPrefix } from './remote.js';
import { acquireDaemonLock, daemonDir, readState, writeState, writeStatusFile, type DaemonState, type DaemonStatus } from './state.js';

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
  /** Follow this configured remote: fetch it every interval, scan its branches, push results after runs. */
  remote?: string;
  /** Watch the refs (chokidar) so a local commit wakes the daemon at once; default on unless `once`. */
  watch?: boolean;
  /** Serve push webhooks here; each verified push wakes the daemon for a fetch. */
  webhook?: { host: string; port: number; secret: string; maxBodyBytes?: number };
  /** Re-reconcile every service this often (ms; default the interval; 0 never). */
  reconcileMs?: number;
  /** With `remote`: how long a claim on the remote lives unless renewed (ms; default 10 minutes). */
  claimTtlMs?: number;
  /** Aborted: stop the runs in flight now and hand their entries back to the queue. */
  hardSignal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

const errInfo = (e: unknown) => (isGitmlError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) });

/** Branch tips under refs/heads, except the branches gitml itself writes (runs, status). */
export async function branchTips(dir: string, skip: Set<string>, prefix = 'refs/heads/'): Promise<Map<string, string>> {
  const r = await runGit(dir, ['for-each-ref', '--format=%(refname)%00%(objectname)%00%(objecttype)%00%(symref)', prefix]);
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [ref, oid, type, symref] = line.split('\0');
    // A remote's HEAD is a symbolic ref to one of its branches, not a branch.
    if (!ref || type !== 'commit' || symref) continue;
    const name = ref.slice(prefix.length);
    if (!skip.has(name)) out.set(name, oid);
  }
  return out;
}

/** The default branch, asked of git at most every few seconds (three spawns a pass otherwise). */
const defCache = new Map<string, { at: number; name: string }>();
async function cachedDefaultBranch(dir: string): Promise<string> {
  const hit = defCache.get(dir);
  if (hit && Date.now() - hit.at < 10_000) return hit.name;
  const name = await defaultBranch(dir);
  defCache.set(dir, { at: Date.now(), name });
  return name;
}

/** gitml.yaml read at one commit of the default branch: read again only when that branch moves. */
const ownCache = new Map<string, { tip: string; own: Set<string> }>();

/** The branches gitml writes itself, from gitml.yaml at the default branch's tip (defaults when it does not load). */
async function ownBranches(dir: string, defRef: string, tip: string | undefined): Promise<Set<string>> {
  const key = `${dir}\0${defRef}`;
  const hit = ownCache.get(key);
  if (hit && tip && hit.tip === tip) return hit.own;
  const r = await loadEntities({ dir, rev: tip ?? defRef }).catch(() => undefined);
  const b = r?.value?.workspace.spec.branches;
  const own = new Set([b?.runs ?? 'runs', b?.status ?? 'gitml-status']);
  if (tip) ownCache.set(key, { tip, own });
  return own;
}

/** Scan the refs and enqueue what new commits affect; the state is saved after each branch. */
export async function scanAndEnqueue(o: DaemonOptions, ddir: string, state: DaemonState): Promise<void> {
  const def = await cachedDefaultBranch(o.dir);
  const prefix = o.remote ? remoteRefPrefix(o.remote) : 'refs/heads/';
  const defaultRef = `${prefix}${def}`;
  const all = await branchTips(o.dir, new Set(), prefix);
  const own = await ownBranches(o.dir, defaultRef, all.get(def));
  const tips = new Map([...all].filter(([b]) => !own.has(b)));
  const now = () => new Date((o.clock ?? Date.now)()).toISOString();
  for (const [branch, commit] of tips) {
    const prev = state.branches[branch]?.commit;
    if (prev === commit) continue;
    const r = await affectedExperiments({ dir: o.dir, branch, commit, previous: prev, defaultBranch: def, defaultRef });
    if (!r.ok) {
      o.log({ event: 'trigger-invalid', branch, commit, problems: r.problems.map((p) => ({ file: p.file, line: p.line, code: p.code, message: p.message })) });
      state.branches[branch] = { commit, at: now(), problems: r.problems.map((p) => ({ file: p.file, line: p.line, code: p.code, message: p.message })) };
      writeState(ddir, state);
      continue;
    }
    o.log({ event: 'commit', branch, commit, previous: prev ?? null, base: r.base ?? null, baseKind: r.baseKind, changed: r.changed.length, affected: r.experiments.map((e) => e.name) });
    for (const e of r.experiments) {
      try {
        for (const { entry, added } of await addToQueue({ dir: o.dir, experiment: e.name, rev: commit, branch, entities: r.entities, trigger: { kind: 'daemon', ref: `refs/heads/${branch}`, event: 'push' } })) {
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


/** Claim and run entries until nothing more can start and nothing is in flight (one-shot callers: bench, tests). */
export async function drainQueue(o: DaemonOptions): Promise<number> {
  const d = new Daemon(o, await daemonDir(o.dir));
  await d.drain();
  return d.started;
}

/** Events that are errors: the last one is kept for `gitml daemon status`. */
const ERROR_EVENTS = new Set(['error', 'run-error', 'trigger-invalid', 'trigger-failed', 'remote-unreachable', 'push-failed', 'deploy-failed', 'monitor-failed']);

const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * The running daemon. One loop makes passes (settle, fetch, scan branches, scan tags, start
 * runs, write status) and sleeps until the next one is due or something wakes it: the refs
 * watch, a webhook, a finished run. Runs, deploys and pushes go on in the background between
 * passes; a pass only starts them.
 */
class Daemon {
  started = 0;
  private readonly inflight = new Map<string, { p: Promise<void>; entry: QueueEntry; at: string; controller: AbortController }>();
  /** Runs that ended without their record (a full disk), with the reason: recorded failed at a later pass. */
  private readonly unrecorded = new Map<string, string>();
  /** Entries whose outcome could not be written yet (a full disk): retried at every pass. */
  private readonly unsettled = new Map<string, { claim: Claim; result: FinishResult }>();
  /** Entries another daemon holds on the remote, with when to look again. */
  private readonly heldElsewhere = new Map<string, number>();
  private failure: unknown;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private fetchNow = false;
  private fetchFailures = 0;
  private nextFetchAt = 0;
  private lastFetchAt: string | undefined;
  private nextReconcileAt = 0;
  private tags: Record<string, string> | undefined;
  private pushing: Promise<void> | undefined;
  private pushWanted = false;
  private pushFailed = false;
  private lastError: { at: string; event: string; message: string } | undefined;
  private readonly startedAt: string;
  private readonly services: ServiceReconciler;
  private readonly monitors: MonitorSchedule;
  private readonly log: (e: DaemonEvent) => void;
  private watching = false;
  /** `ready` is said once, after the first pass (scripts wait for it before pushing). */
  private readySaid = false;
  private webhookAddr: string | undefined;

  constructor(private readonly o: DaemonOptions, private readonly ddir: string) {
    this.startedAt = this.iso();
    this.log = (e) => {
      if (ERROR_EVENTS.has(e.event)) {
        const err = e.error as { message?: string } | undefined;
        this.lastError = { at: this.iso(), event: e.event, message: err?.message ?? (e.problems ? `${(e.problems as unknown[]).length} problem(s) in the gitml YAML at ${String(e.commit).slice(0, 12)}` : e.event) };
      }
      o.log(e);
    };
    this.services = new ServiceReconciler({ dir: o.dir, log: this.log, env: o.env, rev: () => this.deployRev() });
    this.monitors = new MonitorSchedule({ dir: o.dir, ddir, log: this.log, env: o.env, now: () => this.now(), onQueued: () => this.wake() });
    o.hardSignal?.addEventListener('abort', () => {
      for (const r of this.inflight.values()) r.controller.abort();
    }, { once: true });
  }

  private now(): number {
    return (this.o.clock ?? Date.now)();
  }
  private iso(): string {
    return new Date(this.now()).toISOString();
  }
  private get interval(): number {
    return this.o.intervalMs ?? 30_000;
  }
  private get stopping(): boolean {
    return this.o.signal?.aborted === true || this.o.hardSignal?.aborted === true;
  }

  /** The revision services deploy from: the remote's default branch when following one. */
  private async deployRev(): Promise<string | undefined> {
    if (!this.o.remote) return undefined;
    const ref = `${remoteRefPrefix(this.o.remote)}${await defaultBranch(this.o.dir)}`;
    return (await runGit(this.o.dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).code === 0 ? ref : undefined;
  }

  wake(opts: { fetch?: boolean } = {}): void {
    if (opts.fetch) this.fetchNow = true;
    this.woken = true;
    this.wakeUp?.();
  }

  async run(): Promise<void> {
    const closers: Array<() => Promise<void>> = [];
    try {
      if (this.o.watch ?? !this.o.once) {
        const { watchRefs } = await import('./watch.js');
        const w = await watchRefs(this.o.dir, () => this.wake(), { onError: (e) => this.log({ event: 'watch-error', error: errInfo(e) }) });
        await w.ready;
        this.watching = true;
        closers.push(() => w.close());
      }
      if (this.o.webhook) {
        const { startWebhook } = await import('./webhook.js');
        const s = await startWebhook({
          ...this.o.webhook,
          onPush: (p) => {
            this.log({ event: 'webhook', provider: p.provider, delivery: p.delivery ?? null, hook: p.event, ref: p.ref ?? null });
            this.wake({ fetch: true });
          },
          onRefused: (r) => this.log({ event: 'webhook-refused', status: r.status, reason: r.reason, provider: r.provider ?? null, delivery: r.delivery ?? null }),
        });
        this.webhookAddr = `${s.address.host}:${s.address.port}`;
        closers.push(() => s.close());
      }
      this.log({ event: 'start', pid: process.pid, once: this.o.once === true, remote: this.o.remote ?? null, watch: this.watching, webhook: this.webhookAddr ?? null });
      for (;;) {
        this.woken = false;
        try {
          await this.pass();
        } catch (err) {
          if (this.o.once) throw err;
          this.log({ event: 'error', error: errInfo(err) });
        }
        if (!this.readySaid) {
          this.readySaid = true;
          this.log({ event: 'ready' });
        }
        if (this.o.once) {
          await this.drain();
          await this.services.idle();
          await this.monitors.idle();
          await this.drain(); // a retraining the monitor queued runs in this pass too
          await this.flushPush();
          break;
        }
        if (this.stopping) break;
        await this.sleep();
        if (this.stopping) break;
      }
      // Stopping: no new runs; those in flight finish (or, after a hard stop, are handed back).
      await this.settleInflight();
      await this.services.idle();
      await this.monitors.idle();
      await this.flushPush();
      this.log({ event: 'stop' });
    } finally {
      for (const c of closers.reverse()) await c().catch(() => undefined);
      this.writeStatus(true);
    }
  }

  private sleep(): Promise<void> {
    if (this.woken) return Promise.resolve();
    const now = this.now();
    let due = now + this.interval;
    if (this.o.remote) due = Math.min(due, this.nextFetchAt);
    if (this.reconcileMs > 0) due = Math.min(due, this.nextReconcileAt);
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        this.o.signal?.removeEventListener('abort', done);
        this.o.hardSignal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, due - now));
      this.wakeUp = done;
      this.o.signal?.addEventListener('abort', done, { once: true });
      this.o.hardSignal?.addEventListener('abort', done, { once: true });
    });
  }

  private get reconcileMs(): number {
    return this.o.reconcileMs ?? this.interval;
  }

  /** One pass: settle lost entries, fetch (when due), scan branches and tags, start runs. */
  async pass(): Promise<void> {
    await this.retryUnsettled();
    for (const s of await settleLost({ dir: this.o.dir, clock: this.o.clock })) this.log({ event: s.outcome === 'lost' ? 'lost' : 'requeued', id: s.id, experiment: s.experiment, owner: s.owner });
    await this.maybeFetch();
    await scanAndEnqueue({ ...this.o, log: this.log }, this.ddir, readState(this.ddir));
    await this.scanTags();
    if (this.reconcileMs > 0 && this.now() >= this.nextReconcileAt) {
      this.nextReconcileAt = this.now() + this.reconcileMs;
      this.services.request('all', 'periodic');
    }
    this.monitors.tick();
    await this.startClaims();
    if (this.pushFailed) this.schedulePush();
    this.writeStatus();
  }

  private async maybeFetch(): Promise<void> {
    const remote = this.o.remote;
    if (!remote || (!this.fetchNow && this.now() < this.nextFetchAt)) return;
    this.fetchNow = false;
    try {
      const { fetchRemote } = await import('./remote.js');
      const r = await fetchRemote(this.o.dir, remote);
      for (const t of r.rejectedTags) this.log({ event: 'tag-differs', remote, tag: t });
      if (this.fetchFailures) this.log({ event: 'remote-recovered', remote, failures: this.fetchFailures });
      this.fetchFailures = 0;
      this.lastFetchAt = this.iso();
      this.nextFetchAt = this.now() + this.interval;
    } catch (err) {
      this.fetchFailures++;
      const delay = Math.min(MAX_BACKOFF_MS, this.interval * 2 ** Math.min(this.fetchFailures - 1, 20));
      this.nextFetchAt = this.now() + delay;
      this.log({ event: 'remote-unreachable', remote, failures: this.fetchFailures, retryInMs: delay, error: errInfo(err) });
      this.writeStatus();
    }
  }

  /** New, moved or deleted model tags: reconcile the services of those models. */
  private async scanTags(): Promise<void> {
    const now = await modelTags(this.o.dir);
    const before = this.tags;
    this.tags = now;
    // The first scan: the periodic pass at start reconciles everything anyway.
    if (!before) return;
    const c = changedModels(before, now);
    if (!c.models.length) return;
    this.log({ event: 'tags', tags: c.tags, models: c.models });
    this.services.request(c.models, 'tags');
  }

  private async startClaims(): Promise<void> {
    const workers = Math.max(1, this.o.workers ?? 4);
    while (!this.stopping && this.failure === undefined && this.inflight.size < workers) {
      // A claim that fails (the queue lock held too long, a full disk) stops claiming, but the
      // runs in flight are still waited for: the lock is never released under a running run.
      const t = this.now();
      const claim = await claimNext({ dir: this.o.dir, clock: this.o.clock, filter: (e) => (this.heldElsewhere.get(e.id) ?? 0) <= t }).catch((e: unknown) => {
        this.failure = e;
        return undefined;
      });
      if (!claim) break;
      let remoteClaim: RemoteClaim | undefined;
      if (this.o.remote) {
        const r = await this.claimRemote(claim, this.o.remote);
        if (r === 'stop') break;
        if (r === 'skip') continue;
        remoteClaim = r;
      }
      this.started++;
      const controller = new AbortController();
      const p = this.runClaim(claim, controller, remoteClaim).finally(() => {
        this.inflight.delete(claim.entry.id);
        this.writeStatus();
        this.wake();
      });
      this.inflight.set(claim.entry.id, { p, entry: claim.entry, at: this.iso(), controller });
    }
    if (this.failure !== undefined && !this.inflight.size) {
      const f = this.failure;
      this.failure = undefined;
      throw f;
    }
  }

  /**
   * Claim the entry on the remote too, so a daemon on another machine following the same
   * remote never starts it as well. Held elsewhere and finished: the entry is settled with that
   * outcome; held and running: handed back here and looked at again after an interval (a dead
   * holder's claim expires and is taken over). The remote unreachable: handed back, no more
   * claims this pass.
   */
  private async claimRemote(claim: Claim, remote: string): Promise<RemoteClaim | 'skip' | 'stop'> {
    const e = claim.entry;
    const { claimOnRemote } = await import('../queue/remote-claim.js');
    let r: Awaited<ReturnType<typeof claimOnRemote>>;
    try {
      r = await claimOnRemote({ dir: this.o.dir, remote, id: e.id, ttlMs: this.claimTtl, clock: this.o.clock });
    } catch (err) {
      await claim.release().catch(() => undefined);
      this.log({ event: 'claim-failed', id: e.id, experiment: e.experiment, remote, error: errInfo(err) });
      return 'stop';
    }
    if (r.ok) {
      this.heldElsewhere.delete(e.id);
      if (r.tookOver) this.log({ event: 'claim-taken-over', id: e.id, experiment: e.experiment, from: `${r.tookOver.host}:${r.tookOver.pid}`, expiresAt: r.tookOver.expiresAt });
      return r.claim;
    }
    const h = r.holder;
    if (h?.state === 'done') {
      await claim.finish({ state: h.status === 'completed' ? 'completed' : h.status === 'canceled' ? 'canceled' : 'failed', runId: h.runId, runStatus: h.status, error: h.status === 'completed' ? undefined : `run on ${h.host}: ${h.status ?? 'unknown'}` });
      this.heldElsewhere.delete(e.id);
    } else {
      await claim.release();
      this.heldElsewhere.set(e.id, this.now() + Math.min(this.interval, this.claimTtl));
    }
    this.log({ event: 'claimed-elsewhere', id: e.id, experiment: e.experiment, commit: e.commit, holder: h ? `${h.host}:${h.pid}` : null, state: h?.state ?? null, runId: h?.runId ?? null });
    return 'skip';
  }

  private get claimTtl(): number {
    return this.o.claimTtlMs ?? 10 * 60_000;
  }

  /** Start entries until nothing more can start and nothing is in flight. */
  async drain(): Promise<void> {
    for (;;) {
      await this.startClaims();
      if (!this.inflight.size) return;
      await Promise.race([...this.inflight.values()].map((r) => r.p));
    }
  }

  private async settleInflight(): Promise<void> {
    while (this.inflight.size) await Promise.race([...this.inflight.values()].map((r) => r.p));
    if (this.failure !== undefined) this.log({ event: 'error', error: errInfo(this.failure) });
  }

  /** Run one claimed entry with the run engine and record its outcome on the entry. */
  private async runClaim(c: Claim, controller: AbortController, rc?: RemoteClaim): Promise<void> {
    const e = c.entry;
    this.log({ event: 'run-started', id: e.id, experiment: e.experiment, commit: e.commit, compute: e.compute, attempt: e.attempts });
    this.writeStatus();
    const poll = setInterval(() => c.cancelRequested() && controller.abort(), 500);
    poll.unref();
    const renew = rc ? setInterval(() => void rc.renew().catch((err: unknown) => this.log({ event: 'claim-failed', id: e.id, remote: this.o.remote, error: errInfo(err) })), Math.max(250, this.claimTtl / 3)) : undefined;
    renew?.unref();
    const remoteSettle = async (f: () => Promise<void>) => {
      if (renew) clearInterval(renew);
      await f().catch((err: unknown) => this.log({ event: 'claim-failed', id: e.id, remote: this.o.remote, error: errInfo(err) }));
    };
    try {
      const { runExperiment } = await import('../run/run-experiment.js');
      const r = await runExperiment({ dir: this.o.dir, experiment: e.experiment, rev: e.commit, params: e.params, sourceBranch: e.branch, trigger: e.trigger, signal: controller.signal });
      const status = r.record.status;
      if (this.o.hardSignal?.aborted && !c.cancelRequested()) {
        if (rc) await remoteSettle(() => rc.release());
        await c.release();
        this.log({ event: 'run-handed-back', id: e.id, experiment: e.experiment, runId: r.runId, status });
      } else {
        const state = status === 'completed' ? 'completed' : status === 'canceled' ? 'canceled' : 'failed';
        if (rc) await remoteSettle(() => rc.done({ runId: r.runId, status }));
        await this.finishEntry(c, { state, runId: r.runId, runStatus: status, error: state === 'failed' ? r.record.error : undefined });
        this.log({ event: 'run-finished', id: e.id, experiment: e.experiment, runId: r.runId, status });
        if (e.retrain) await this.settleRetraining(e, r.runId, r.record);
      }
      this.schedulePush();
    } catch (err) {
      const info = errInfo(err);
      if (rc) await remoteSettle(() => rc.done({ status: 'failed' }));
      const runId = isGitmlError(err) && typeof err.data.runId === 'string' ? err.data.runId : undefined;
      if (runId && isGitmlError(err, 'DISK_FULL')) this.unrecorded.set(runId, 'the disk was full when the run ended: its result could not be recorded then; recorded when there was room again, with its log as far as it was written (metrics and outputs not kept)');
      await this.finishEntry(c, { state: 'failed', ...(runId ? { runId } : {}), error: `${info.code}: ${info.message}` });
      this.log({ event: 'run-error', id: e.id, experiment: e.experiment, error: info });
      if (e.retrain) await this.settleRetraining(e, undefined, undefined, `${info.code}: ${info.message}`);
    } finally {
      clearInterval(poll);
      if (renew) clearInterval(renew);
    }
  }

  /**
   * Record a claimed entry's outcome. When that cannot be written (a full disk), the claim is
   * kept and the write retried at every pass: an entry is never left `running` for as long as
   * this daemon lives because one write failed.
   */
  private async finishEntry(c: Claim, r: FinishResult): Promise<void> {
    try {
      await c.finish(r);
      this.unsettled.delete(c.entry.id);
    } catch (err) {
      this.unsettled.set(c.entry.id, { claim: c, result: r });
      this.log({ event: 'error', id: c.entry.id, error: errInfo(err) });
    }
  }

  private async retryUnsettled(): Promise<void> {
    if (this.unrecorded.size) {
      const { reapLostRuns } = await import('../run/reap.js');
      const { readLiveStatus } = await import('../run/live.js');
      const reaped = await reapLostRuns(this.o.dir, { ended: this.unrecorded });
      for (const id of [...this.unrecorded.keys()]) {
        const st = readLiveStatus(this.o.dir, id)?.status;
        if (!reaped.includes(id) && !(st && FINAL_STATUSES.includes(st))) continue;
        this.unrecorded.delete(id);
        this.log({ event: 'settled', runId: id, status: st ?? 'failed' });
      }
    }
    for (const { claim, result } of [...this.unsettled.values()]) {
      await this.finishEntry(claim, result);
      if (!this.unsettled.has(claim.entry.id)) this.log({ event: 'settled', id: claim.entry.id, experiment: claim.entry.experiment, state: result.state });
    }
  }

  /** A retraining on drift has run: register (and promote) by the service's policy, or back off. */
  private async settleRetraining(e: QueueEntry, runId: string | undefined, record: RunRecord | undefined, error?: string): Promise<void> {
    const t = e.retrain!;
    try {
      const { settleRetraining } = await import('../monitor/retrain.js');
      const r = await settleRetraining({ dir: this.o.dir, service: t.service, model: t.model, report: t.report, ...(runId ? { runId } : {}), ...(record ? { record } : {}), ...(error ? { error } : {}), env: this.o.env });
      this.log({ event: 'retrain', service: t.service, action: r.action, message: r.message, entry: e.id, ...(runId ? { run: runId } : {}), ...(r.version ? { version: r.version } : {}) });
    } catch (err) {
      this.log({ event: 'monitor-failed', service: t.service, error: errInfo(err) });
    }
  }

  /** Push runs and artifacts after runs, one push at a time; runs finishing meanwhile go in the next. */
  private schedulePush(): void {
    const remote = this.o.remote;
    if (!remote) return;
    this.pushWanted = true;
    this.pushing ??= (async () => {
      const { pushResults } = await import('./remote.js');
      while (this.pushWanted) {
        this.pushWanted = false;
        try {
          const r = await pushResults(this.o.dir, remote);
          this.pushFailed = false;
          this.log({ event: 'pushed', remote, runs: r.runsPushed, attempts: r.attempts, artifacts: r.artifacts });
        } catch (err) {
          // Retried at the next pass: the runs stay recorded locally meanwhile.
          this.pushFailed = true;
          this.log({ event: 'push-failed', remote, error: errInfo(err) });
          break;
        }
      }
    })().finally(() => (this.pushing = undefined));
  }

  private async flushPush(): Promise<void> {
    while (this.pushing) await this.pushing;
  }

  private writeStatus(stopped = false): void {
    const state = readState(this.ddir);
    const s: DaemonStatus = {
      pid: process.pid,
      host: hostname(),
      dir: this.o.dir,
      startedAt: this.startedAt,
      updatedAt: this.iso(),
      ...(stopped ? { stoppedAt: this.iso() } : {}),
      sources: {
        refs: this.watching ? 'watch' : 'timer',
        intervalMs: this.interval,
        remote: this.o.remote ? { name: this.o.remote, lastFetchAt: this.lastFetchAt ?? null, failures: this.fetchFailures, nextFetchAt: new Date(this.nextFetchAt).toISOString() } : null,
        webhook: this.webhookAddr ?? null,
      },
      branches: Object.fromEntries(Object.entries(state.branches).map(([b, v]) => [b, { commit: v.commit, at: v.at, ...(v.problems ? { invalid: true } : {}) }])),
      inflight: [...this.inflight.values()].map((r) => ({ id: r.entry.id, experiment: r.entry.experiment, commit: r.entry.commit, startedAt: r.at })),
      lastError: this.lastError ?? null,
    };
    try {
      writeStatusFile(this.ddir, s);
    } catch {
      /* a full disk: the status file is a convenience, the queue is the record */
    }
  }
}

/**
 * Take the daemon lock (LOCK_HELD when another daemon serves the repository) and run passes
 * until `once` or `signal`. A pass that fails (git gone, disk full) is logged and retried at
 * the next interval; with `once` it is thrown.
 */
export async function runDaemon(o: DaemonOptions): Promise<void> {
  if (o.remote) await checkRemoteName(o.dir, o.remote);
  const ddir = await daemonDir(o.dir);
  const release = acquireDaemonLock(ddir);
  try {
    await new Daemon(o, ddir).run();
  } finally {
    release();
  }
}
