/**
 * `gitml run`: execute an experiment exactly as committed, on its compute target, and record
 * it on the runs branch with full lineage.
 *
 * Plan, then apply: `prepareRun` resolves everything that can be wrong in the user's input
 * (revision, dirty tree, experiment, compute, environment, params, command references)
 * without side effects; `executeRun` exports the commit, records `running`, runs the job on
 * its target with timeout and cancel, collects metrics and outputs, and records the final
 * run. Bad input throws before any run is recorded; a run that fails is a result.
 */
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { GitmlError, fromSystemError, isGitmlError } from '../errors.js';
import { findRepoRoot, runGit } from '../git.js';
import { packageRoot, safeRelPosix } from '../paths.js';
import type { ComputeTarget, Entities, Environment, Experiment, Loaded } from '../entities/types.js';
import { environmentDigest, folderFiles } from '../environments/digest.js';
import { isRunId, newRunId } from '../runs/id.js';
import { FINAL_STATUSES, type ParamValue, type RunRecord, type RunStatus } from '../runs/types.js';
import type { Target, TargetJob, TargetResult } from '../targets/types.js';
import { buildArgv } from './command.js';
import { exportTree, listTree, type TreeListing } from './export.js';
import { hashInputs, inputPaths, outputPaths } from './inputs.js';
import { livePaths, readLiveStatus, writeLiveStatus } from './live.js';
import { collectMetrics, parseMarker, type PartialPoint } from './metrics.js';
import { sanitizeOutputs } from './outputs.js';
import { resolveParams } from './params.js';
import { runScratch } from './scratch.js';
import { parseTimeout } from './timeout.js';

export type LogFn = (chunk: string, stream: 'stdout' | 'stderr') => void;

export interface RunExperimentOptions {
  /** Any folder inside the repository. */
  dir: string;
  experiment: string;
  /** Compute target name instead of the experiment's (or the workspace default). */
  compute?: string;
  /** `--param` values (strings are converted to the declared types). */
  params?: Record<string, ParamValue>;
  /** Commit to run (default HEAD). */
  rev?: string;
  /** Run although tracked files differ from HEAD (recorded as `dirty`). */
  allowDirty?: boolean;
  /** Start a detached worker process and return at once with the run id. */
  detach?: boolean;
  /** Abort = Ctrl-C: the run is stopped on its target and recorded `canceled`. */
  signal?: AbortSignal;
  onLog?: LogFn;
  onProgress?: (message: string) => void;
  trigger?: RunRecord['trigger'];
  /** Milliseconds since the epoch (run ids, timings). */
  clock?: () => number;
  /** Use this run id (the detached worker gets its id from its parent). */
  runId?: string;
  /** Where `secrets` are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Use this target instead of createTarget(compute) (tests). */
  target?: Target;
  /** Keep the scratch folder (exported tree, outputs) after recording; for debugging. */
  keepScratch?: boolean;
  /** SIGTERM → SIGKILL grace on cancel/timeout. */
  killGraceMs?: number;
  /** Already known to be dirty (the detached worker inherits its parent's check). */
  dirty?: boolean;
  /** Source branch to record (the detached worker runs `--rev COMMIT` and inherits its parent's branch). */
  sourceBranch?: string;
}

export interface RunExperimentResult {
  runId: string;
  record: RunRecord;
  /** The runs-branch commit that recorded the final run (undefined for --detach). */
  commit?: string;
}

export interface PreparedRun {
  repoDir: string;
  commit: string;
  tree: string;
  /** The commit's files, listed once for both the entities and the export. */
  listing: TreeListing;
  branch?: string;
  dirty: boolean;
  entities: Entities;
  experiment: Loaded<Experiment>;
  compute: Loaded<ComputeTarget>;
  environment?: Loaded<Environment>;
  params: Record<string, ParamValue>;
  timeoutMs?: number;
}

/** A revision's commit and tree ids from one git process; 'UNKNOWN_REVISION' when it names no commit. */
async function resolveCommitAndTree(repoDir: string, rev: string): Promise<{ commit: string; tree: string }> {
  if (rev.startsWith('-')) throw new GitmlError('USAGE', `invalid revision ${JSON.stringify(rev)}`, { rev });
  const r = await runGit(repoDir, ['rev-parse', '--end-of-options', `${rev}^{commit}`, `${rev}^{tree}`]);
  // Without --verify (which takes one revision) rev-parse echoes --end-of-options: keep the ids.
  const [commit, tree] = r.stdout.split('\n').filter((l) => /^[0-9a-f]{40,64}$/.test(l));
  if (r.code !== 0 || !/^[0-9a-f]{40,64}$/.test(commit ?? '') || !/^[0-9a-f]{40,64}$/.test(tree ?? '')) {
    throw new GitmlError('UNKNOWN_REVISION', `unknown revision ${JSON.stringify(rev)}: no such commit, branch or tag`, { rev });
  }
  return { commit, tree };
}

/** Tracked changes (staged or not) against HEAD, and the current branch, from one git process. */
async function treeState(repoDir: string): Promise<{ dirty: boolean; branch?: string }> {
  const r = await runGit(repoDir, ['status', '--porcelain=v2', '--branch', '--untracked-files=no', '-z']);
  if (r.code !== 0) return { dirty: false };
  let branch: string | undefined;
  let dirty = false;
  for (const rec of r.stdout.split('\0')) {
    if (rec.startsWith('# branch.head ')) {
      const b = rec.slice('# branch.head '.length);
      if (b !== '(detached)') branch = b;
    } else if (rec && !rec.startsWith('#')) dirty = true;
  }
  return { dirty, branch };
}

/** Resolve and check everything about a run without side effects. */
export async function prepareRun(opts: RunExperimentOptions): Promise<PreparedRun> {
  const repoDir = await findRepoRoot(opts.dir);
  // The loader's modules (schemas, YAML) compile while git works in its own processes.
  const loader = Promise.all([import('./entities.js'), import('../entities/load.js')]);
  loader.catch(() => {});
  const [{ commit, tree }, state] = await Promise.all([resolveCommitAndTree(repoDir, opts.rev ?? 'HEAD'), treeState(repoDir)]);
  // The working tree matters only when running HEAD: an explicit --rev names its code exactly.
  let dirty = opts.dirty ?? false;
  if (opts.rev === undefined && state.dirty) {
    if (!opts.allowDirty) {
      throw new GitmlError(
        'DIRTY_TREE',
        'the working tree has uncommitted changes to tracked files; runs use the committed code only: commit them, or pass --allow-dirty to run HEAD anyway',
        { commit },
      );
    }
    dirty = true;
  }
  const listing = await listTree(repoDir, commit);
  const [{ requireEntitiesAt }, { resolveExperiment }] = await loader;
  const entities = await requireEntitiesAt(repoDir, commit, listing);
  const resolved = resolveExperiment(entities, opts.experiment);
  const experiment = resolved.experiment;
  const computeName = opts.compute ?? resolved.compute;
  if (!computeName) {
    throw new GitmlError('UNKNOWN_ENTITY', `experiment ${experiment.name} names no compute target and gitml.yaml has no defaults.compute: pass --compute NAME`, {
      kind: 'ComputeTarget',
    });
  }
  const compute = entities.compute.get(computeName);
  if (!compute) {
    const known = [...entities.compute.keys()].sort();
    throw new GitmlError('UNKNOWN_ENTITY', `there is no compute target ${JSON.stringify(computeName)} (known: ${known.join(', ') || 'none'}; files in gitml/compute/)`, {
      kind: 'ComputeTarget',
      name: computeName,
      known,
    });
  }
  let environment: Loaded<Environment> | undefined;
  if (resolved.environment) {
    environment = entities.environments.get(resolved.environment);
    if (!environment) {
      const known = [...entities.environments.keys()].sort();
      throw new GitmlError('UNKNOWN_ENTITY', `there is no environment ${JSON.stringify(resolved.environment)} (known: ${known.join(', ') || 'none'})`, {
        kind: 'Environment',
        name: resolved.environment,
        known,
      });
    }
  }
  const params = resolveParams({ experiment: experiment.spec, given: opts.params, experimentName: experiment.name });
  const timeoutMs = parseTimeout(experiment.spec.timeout, experiment.file);
  // Check the command's references now, with placeholder paths: a typo fails before anything runs.
  const placeholders = (o: Record<string, string>) => Object.fromEntries(Object.keys(o).map((k) => [k, k]));
  buildArgv({
    command: experiment.spec.command,
    subs: { params, inputs: placeholders(inputPaths(experiment.spec)), outputs: placeholders(outputPaths(experiment.spec)) },
    file: experiment.file,
  });
  return { repoDir, commit, tree, listing, branch: opts.sourceBranch ?? (opts.rev === undefined ? state.branch : undefined), dirty, entities, experiment, compute, environment, params, timeoutMs };
}

/**
 * Run an experiment as committed and record it. Resolves when the run is recorded as
 * final (or, with `detach`, as soon as the worker process is started).
 *
 * @example
 *   const { runId, record } = await runExperiment({ dir: '/repo', experiment: 'train', params: { C: '0.5' } });
 */
export async function runExperiment(opts: RunExperimentOptions): Promise<RunExperimentResult> {
  const clock = opts.clock ?? Date.now;
  // A given id names folders removed recursively (scratch) and files written (live): an id, never a path.
  if (opts.runId !== undefined && !isRunId(opts.runId)) {
    throw new GitmlError('PARAM', `${JSON.stringify(opts.runId)} is not a run id (26 characters of lowercase base32)`, { runId: opts.runId });
  }
  const prep = await prepareRun(opts);
  const runId = opts.runId ?? newRunId(clock);
  if (opts.detach) return startDetached(opts, prep, runId, clock);
  return executeRun(opts, prep, runId, clock);
}

function baseRecord(prep: PreparedRun, runId: string, startedAt: number, trigger: RunRecord['trigger']): RunRecord {
  const spec: Experiment = {
    ...prep.experiment.spec,
    compute: prep.compute.name,
    ...(prep.environment ? { environment: prep.environment.name } : {}),
  };
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = undefined;
  }
  return {
    schema: 1,
    id: runId,
    experiment: prep.experiment.name,
    status: 'running',
    params: prep.params,
    metrics: {},
    source: { commit: prep.commit, tree: '', ...(prep.branch ? { branch: prep.branch } : {}), ...(prep.dirty ? { dirty: true } : {}) },
    spec,
    inputs: {},
    compute: { name: prep.compute.name, type: prep.compute.spec.type },
    host: hostname(),
    ...(user ? { user } : {}),
    trigger: trigger ?? { kind: 'cli' },
    startedAt: new Date(startedAt).toISOString(),
    artifacts: [],
  };
}

/** Start `gitml run ... --_worker ID` as a detached process doing the work; return at once. */
async function startDetached(opts: RunExperimentOptions, prep: PreparedRun, runId: string, clock: () => number): Promise<RunExperimentResult> {
  const live = livePaths(prep.repoDir, runId);
  mkdirSync(path.dirname(live.log), { recursive: true });
  const args = [path.join(packageRoot(), 'bin', 'gitml.js'), '-C', prep.repoDir, 'run', prep.experiment.name, '--rev', prep.commit, '--compute', prep.compute.name, '--worker', runId];
  for (const [k, v] of Object.entries(opts.params ?? {})) args.push('--param', `${k}=${String(v)}`);
  if (prep.dirty) args.push('--dirty-parent');
  if (prep.branch) args.push('--source-branch', prep.branch);
  if (opts.trigger) args.push('--trigger-json', JSON.stringify(opts.trigger));
  const errFd = openSync(live.worker, 'a');
  const child = spawn(process.execPath, args, { cwd: prep.repoDir, detached: true, stdio: ['ignore', errFd, errFd], env: { ...(opts.env ?? process.env), NO_COLOR: '1' } });
  closeSync(errFd);
  const startedAt = clock();
  if (child.pid === undefined) throw new GitmlError('INTERNAL', 'could not start the detached run worker');
  writeLiveStatus(prep.repoDir, { id: runId, experiment: prep.experiment.name, status: 'queued', pid: child.pid, host: hostname(), startedAt: new Date(startedAt).toISOString() });
  child.unref();
  return { runId, record: { ...baseRecord(prep, runId, startedAt, opts.trigger), status: 'queued' } };
}

/** Remove the live files of runs that ended more than a week ago (the runs branch has their logs). */
async function sweepLive(repoDir: string, now: number): Promise<void> {
  const dir = path.dirname(livePaths(repoDir, 'x').log);
  try {
    for (const f of await readdir(dir)) {
      if (!f.endsWith('.json')) continue;
      const id = f.slice(0, -5);
      const s = readLiveStatus(repoDir, id);
      if (!s || !FINAL_STATUSES.includes(s.status) || !s.endedAt || now - Date.parse(s.endedAt) < 7 * 86_400_000) continue;
      const p = livePaths(repoDir, id);
      await Promise.all([p.log, p.worker, p.status].map((x) => rm(x, { force: true })));
    }
  } catch {
    /* nothing to sweep */
  }
}

/** Line splitter for stdout: metric marker lines are recognised wherever chunk boundaries fall. */
function lineSplitter(onLine: (line: string) => void) {
  let rest = '';
  return {
    push(chunk: string) {
      const text = rest + chunk;
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        onLine(text.slice(start, nl).replace(/\r$/, ''));
        start = nl + 1;
      }
      rest = text.slice(start);
      // A huge line without newline cannot be a marker we care about: do not hoard it.
      if (rest.length > 1 << 20) rest = '';
    },
    end() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}

/** Replace secret values in text that goes to the terminal or the log. */
function redactor(secrets: string[]): (s: string) => string {
  const vals = secrets.filter((v) => v.length >= 3).sort((a, b) => b.length - a.length);
  if (vals.length === 0) return (s) => s;
  return (s) => {
    let out = s;
    for (const v of vals) out = out.split(v).join('***');
    return out;
  };
}

/** The error with secrets masked in its message and in the text of its data (it is printed, logged and recorded). */
function redactError(e: unknown, redact: (s: string) => string): unknown {
  if (!(e instanceof Error)) return e;
  e.message = redact(e.message);
  const data = (e as { data?: Record<string, unknown> }).data;
  if (data && typeof data === 'object') for (const [k, v] of Object.entries(data)) if (typeof v === 'string') data[k] = redact(v);
  return e;
}

/**
 * Passes a stream's output on as it arrives, but holds back its end while that end could be
 * the start of a secret (`…-----BEGIN KEY-----\n` before the rest of the key), so a secret cut
 * across chunks, at any point and also at its own line ends, is still masked whole. What is
 * held is at most the longest secret less one character.
 */
function secretSafeChunks(secrets: string[], emit: LogFn): { push: LogFn; flush: () => void } {
  const vals = secrets.filter((v) => v.length >= 3);
  if (vals.length === 0) return { push: emit, flush: () => {} };
  const redact = redactor(vals);
  const maxLen = Math.max(...vals.map((v) => v.length));
  const held: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  return {
    push(chunk, stream) {
      const buf = redact(held[stream] + chunk);
      // The earliest tail of buf that a secret starts with (and is longer than) is held.
      let cut = buf.length;
      for (let i = Math.max(0, buf.length - maxLen + 1); i < buf.length; i++) {
        const tail = buf.slice(i);
        if (vals.some((v) => v.length > tail.length && v.startsWith(tail))) {
          cut = i;
          break;
        }
      }
      if (cut > 0) emit(buf.slice(0, cut), stream);
      held[stream] = buf.slice(cut);
    },
    flush() {
      for (const stream of ['stdout', 'stderr'] as const) {
        if (held[stream]) emit(held[stream], stream);
        held[stream] = '';
      }
    },
  };
}

export async function executeRun(opts: RunExperimentOptions, prep: PreparedRun, runId: string, clock: () => number): Promise<RunExperimentResult> {
  const { repoDir, experiment, compute } = prep;
  const startedAt = clock();
  // The runs store compiles while the commit is exported.
  const storeModules = Promise.all([import('../runs/record.js'), import('../runs/config.js')]);
  storeModules.catch(() => {});
  let config: import('../runs/config.js').RunStoreConfig | undefined;
  const recordRun: typeof import('../runs/record.js').recordRun = async (o) => {
    const [rec, cfg] = await storeModules;
    config ??= cfg.runStoreConfig(prep.entities.workspace.spec, repoDir);
    return rec.recordRun({ ...o, config });
  };
  const progress = opts.onProgress ?? (() => {});

  const scratch = runScratch({ runId, compute, repoDir });
  const live = livePaths(repoDir, runId);
  mkdirSync(path.dirname(live.log), { recursive: true });
  const logFile: WriteStream = createWriteStream(live.log, { flags: 'a' });
  // A full disk must not crash the run: the error is kept, and recording the run reports it.
  let logError: Error | undefined;
  logFile.on('error', (e) => (logError ??= e));
  const secretNames = prep.environment?.spec.secrets ?? [];
  const callerEnv = opts.env ?? process.env;
  const secretEnv: Record<string, string> = {};
  const missingSecrets: string[] = [];
  for (const n of secretNames) {
    const v = callerEnv[n];
    if (v === undefined) missingSecrets.push(n);
    else secretEnv[n] = v;
  }
  const redact = redactor(Object.values(secretEnv));
  const log: LogFn = (chunk, stream) => {
    const safe = redact(chunk);
    if (!logFile.writableEnded && !logFile.destroyed) logFile.write(safe); // a target's late output must not crash the run
    opts.onLog?.(safe, stream);
  };
  const note = (line: string) => log(line.endsWith('\n') ? line : line + '\n', 'stderr');
  /** For the run's log only: what the caller will also be told (a thrown error) is not shown twice. */
  const noteInLog = (line: string) => {
    if (!logFile.writableEnded && !logFile.destroyed) logFile.write(redact(line.endsWith('\n') ? line : line + '\n'));
  };
  const status = (s: RunStatus, extra: { endedAt?: string; exitCode?: number | null; error?: string; commit?: string } = {}) =>
    writeLiveStatus(repoDir, { id: runId, experiment: experiment.name, status: s, pid: process.pid, host: hostname(), startedAt: new Date(startedAt).toISOString(), ...extra });

  let record = baseRecord(prep, runId, startedAt, opts.trigger);
  status('running');
  void sweepLive(repoDir, clock());
  void import('./reap.js').then((m) => m.reapLostRuns(repoDir)).catch(() => {});
  let runningRecorded: Promise<Error | undefined> = Promise.resolve(undefined);
  const finish = async (result: Partial<TargetResult> & { status: RunStatus; error?: string }, metrics?: Awaited<ReturnType<typeof collectMetrics>>) => {
    const endedAt = clock();
    const runningError = await runningRecorded;
    if (runningError) note(`gitml: warning: could not record the run as running: ${runningError.message}`);
    record = {
      ...record,
      status: result.status,
      endedAt: new Date(endedAt).toISOString(),
      durationMs: endedAt - startedAt,
      exitCode: result.exitCode ?? null,
      // An error can quote what the process or the engine said, secrets included.
      ...(result.error ? { error: redact(result.error) } : {}),
      ...(result.host ? { host: result.host } : {}),
      metrics: metrics?.final ?? {},
    };
    if (record.environment && (result.image || result.imageDigest)) {
      record.environment = { ...record.environment, ...(result.image ? { image: result.image } : {}), ...(result.imageDigest ? { imageDigest: result.imageDigest } : {}) };
    }
    await new Promise<void>((res) => (logFile.destroyed ? res() : logFile.end(() => res())));
    progress('recording the run');
    let rec: Awaited<ReturnType<typeof recordRun>>;
    try {
      if (logError) throw fromSystemError(logError);
      rec = await recordRun({
        dir: repoDir,
        record,
        logsFile: live.log,
        ...(metrics && metrics.points.length ? { metrics: metrics.points } : {}),
        ...(result.outputsDir ? { outputsDir: result.outputsDir } : {}),
      });
    } catch (e) {
      // The disk filled up under the run: nothing more fits. The branch keeps it `running` and
      // the live log what was written; whoever knows the run has ended (the daemon that ran it,
      // or anyone once this process is gone) records it failed when there is room (reap.ts).
      if (isGitmlError(e, 'DISK_FULL')) Object.assign(e.data, { runId });
      throw e;
    }
    status(record.status, { endedAt: record.endedAt, exitCode: record.exitCode, error: record.error, commit: rec.commit });
    if (!opts.keepScratch) await rm(scratch.base, { recursive: true, force: true }).catch(() => {});
    return { runId, record: rec.record, commit: rec.commit };
  };

  // Export the committed tree and compute lineage before anything runs.
  let job: TargetJob;
  let target: Target;
  const controller = new AbortController();
  try {
    progress(`exporting ${prep.commit.slice(0, 12)}`);
    await rm(scratch.base, { recursive: true, force: true });
    const exported = await exportTree({ dir: repoDir, commit: prep.commit, dest: scratch.code, listing: prep.listing });
    for (const w of exported.warnings) note(w);
    record.source.tree = prep.tree;
    const codeRel = safeRelPosix(experiment.spec.code ?? '');
    if (codeRel && !(await stat(path.join(scratch.code, codeRel)).then((st) => st.isDirectory(), () => false))) {
      throw new GitmlError('INVALID_ENTITIES', `${experiment.file}: code folder ${JSON.stringify(codeRel)} is not a folder in commit ${prep.commit.slice(0, 12)}`, {
        file: experiment.file,
        code: codeRel,
      });
    }
    progress('hashing inputs');
    record.inputs = await hashInputs({ root: scratch.code, inputs: inputPaths(experiment.spec), file: experiment.file, commit: prep.commit });
    const environment: Loaded<Environment> = prep.environment ?? { name: 'default', file: '', spec: { kind: 'Environment' } };
    const envDigest = await environmentDigest(environment, folderFiles(scratch.code));
    if (prep.environment) record.environment = { name: prep.environment.name, digest: envDigest };
    target = opts.target ?? (await (await import('../targets/index.js')).createTarget(compute, { repoDir, killGraceMs: opts.killGraceMs }));
    const layout = target.layout(runId);
    const join = (base: string, rel: string) => (rel ? path.posix.join(base.split(path.sep).join('/'), rel) : base);
    const argv = buildArgv({
      command: experiment.spec.command,
      subs: {
        params: prep.params,
        inputs: Object.fromEntries(Object.entries(inputPaths(experiment.spec)).map(([k, rel]) => [k, join(layout.root, rel)])),
        outputs: Object.fromEntries(Object.entries(outputPaths(experiment.spec)).map(([k, rel]) => [k, join(layout.outputs, rel)])),
      },
      file: experiment.file,
    });
    const env: Record<string, string> = {
      ...(prep.environment?.spec.variables ?? {}),
      GITML_RUN_ID: runId,
      GITML_OUTPUTS: layout.outputs,
      GITML_METRICS: layout.metrics,
    };
    job = {
      runId,
      experiment: experiment.name,
      codeDir: scratch.code,
      cwd: safeRelPosix(experiment.spec.code ?? ''),
      argv,
      env,
      secretEnv,
      environment,
      environmentDigest: envDigest,
      compute,
      repoDir,
      signal: controller.signal,
      ...(prep.timeoutMs !== undefined ? { timeoutMs: prep.timeoutMs } : {}),
      onLog: () => {},
      onProgress: progress,
    };
    // A bad runs-store setting (gitml.yaml branches.runs) fails here, before anything runs.
    config = (await storeModules)[1].runStoreConfig(prep.entities.workspace.spec, repoDir);
  } catch (e) {
    await new Promise<void>((res) => (logFile.destroyed ? res() : logFile.end(() => res())));
    if (logError) throw fromSystemError(logError);
    await rm(scratch.base, { recursive: true, force: true }).catch(() => {});
    status('failed', { error: redact((e as Error).message) });
    throw redactError(e, redact);
  }

  // The `running` record is written while the job starts (not before): it costs a commit,
  // and the final record waits for it, so the order on the branch is the same.
  runningRecorded = recordRun({ dir: repoDir, record }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  for (const n of missingSecrets) note(`gitml: warning: secret ${n} is not set in the caller's environment; the run does not get it`);

  // Metric marker lines on stdout.
  const markers: PartialPoint[] = [];
  let markerLine = 0;
  const split = lineSplitter((line) => {
    markerLine++;
    const m = parseMarker(line);
    if (m === undefined) return;
    if (typeof m === 'string') note(`gitml: warning: ignored metric at stdout line ${markerLine}: ${m}: ${line.length > 120 ? line.slice(0, 117) + '...' : line}`);
    else markers.push(m);
  });
  const held = secretSafeChunks(Object.values(secretEnv), log);
  job.onLog = (chunk, stream) => {
    held.push(chunk, stream);
    if (stream === 'stdout') split.push(chunk);
  };

  // Ctrl-C and the experiment's timeout both stop the job on its target, with a reason.
  const onCancel = () => controller.abort('cancel');
  if (opts.signal?.aborted) controller.abort('cancel');
  opts.signal?.addEventListener('abort', onCancel, { once: true });
  const timer = prep.timeoutMs !== undefined ? setTimeout(() => controller.abort('timeout'), prep.timeoutMs) : undefined;
  progress(`running ${experiment.name} on ${compute.name} (${compute.spec.type})`);
  let result: TargetResult;
  try {
    result = await target.run(job);
  } catch (e) {
    // The target could not run it at all (engine down, build failed): a failed run, recorded.
    if (timer) clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onCancel);
    split.end();
    held.flush();
    noteInLog(`gitml: ${(e as Error).message}`);
    const err = redactError(e instanceof GitmlError ? e : new GitmlError('TARGET', (e as Error).message, {}, { cause: e }), redact) as GitmlError;
    const done = await finish({ status: controller.signal.reason === 'cancel' ? 'canceled' : 'failed', exitCode: null, error: err.message });
    (err.data as Record<string, unknown>).runId = done.runId;
    (err.data as Record<string, unknown>).commit = done.commit;
    throw err;
  }
  if (timer) clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onCancel);
  split.end();
  held.flush();
  if (result.error && result.status !== 'completed') note(`gitml: run ${result.status}: ${result.error}`);

  progress('collecting metrics and outputs');
  const metrics = await collectMetrics({ metricsFile: result.metricsFile, markers, onWarning: note, clock });
  const sanitized = await sanitizeOutputs({ dir: result.outputsDir });
  for (const w of sanitized.warnings) note(w);
  if (result.status === 'completed') {
    // A completed run that did not write what it declared is worth knowing before registering it.
    for (const [name, rel] of Object.entries(outputPaths(experiment.spec))) {
      if (rel && !(await stat(path.join(result.outputsDir, rel)).then(() => true, () => false))) {
        note(`gitml: warning: declared output ${name} (${rel}) was not written`);
      }
    }
  }
  return finish(result, metrics);
}
