/**
 * recordRun: one commit on the runs branch holding a run's record, metric series, logs and
 * artifacts. Never touches the working tree, the index or HEAD. Safe with any number of
 * concurrent writers: blobs and the run's own tree are written once, then the path trees and
 * the commit are rebuilt on the current tip and the ref is compare-and-swapped until it sticks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import type { MetricPoint, RunRecord } from './types.js';
import { FINAL_STATUSES, RUN_STATUSES } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { artifactStoreFor } from './artifact-store.js';
import { buildSeries, collectOutputs } from './collect.js';
import { recordProblem } from './catalog.js';
import { MODE_FILE, MODE_TREE, isTreeMode, type TreeEntry } from './git/objects.js';
import { casRef } from './git/refs.js';
import { maybePack } from './pack.js';
import { ARTIFACTS_DIR, LOGS_FILE, LOGS_REF_FILE, METRICS_FILE, RUN_FILE, checkRunId, runFolderSegments } from './layout.js';

export interface RecordRunOptions {
  /** Any folder inside the repository. */
  dir: string;
  record: RunRecord;
  /** Metric points; a later call without metrics keeps the series already recorded. */
  metrics?: MetricPoint[] | Iterable<MetricPoint>;
  /** A JSON-lines file of MetricPoint (malformed lines are skipped). */
  metricsFile?: string;
  logs?: string | Buffer;
  logsFile?: string;
  /** Every file below is collected as an artifact. */
  outputsDir?: string;
  config?: RunStoreConfig;
  /** Commit time (ms); injected by tests. */
  clock?: () => number;
  /** Give up after this many lost compare-and-swap races (default 1000). */
  maxAttempts?: number;
  /**
   * Pack loose objects in the background once they pass a threshold (default true;
   * GITML_AUTO_GC=0 turns it off): see core/runs/pack.ts.
   */
  autoGc?: boolean;
}

const STATUSES = new Set<string>(RUN_STATUSES);

function checkRecord(r: RunRecord): void {
  if (!r || typeof r !== 'object') throw new GitmlError('PARAM', 'recordRun needs a record');
  checkRunId(r.id);
  if (!STATUSES.has(r.status)) throw new GitmlError('PARAM', `run status ${JSON.stringify(r.status)} is not one of ${[...STATUSES].join(', ')}`, { status: r.status });
  if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null)) throw new GitmlError('PARAM', 'record.params must be an object');
}

async function readPrevious(repo: RunsRepo, entries: TreeEntry[]): Promise<RunRecord | undefined> {
  const e = entries.find((x) => x.name === RUN_FILE);
  if (!e) return undefined;
  try {
    return JSON.parse((await repo.readObject(e.oid, 'blob')).toString('utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** About one record in a hundred: git decides itself whether packing is due (gc.auto). */

/**
 * Record (or re-record) a run. Each call is one commit; the latest call for a run id wins.
 *
 * Example:
 *   const id = newRunId();
 *   await recordRun({ dir, record: { ...rec, id, status: 'running' } });
 *   await recordRun({ dir, record: { ...rec, id, status: 'completed' }, metricsFile, logsFile, outputsDir });
 */
export async function recordRun(opts: RecordRunOptions): Promise<{ commit: string; record: RunRecord }> {
  checkRecord(opts.record);
  const config = opts.config ?? (await loadRunStoreConfig(opts.dir));
  const repo = openRuns(opts.dir, config);
  const clock = opts.clock ?? Date.now;
  const rec = opts.record;
  const segs = runFolderSegments(rec.experiment, rec.id);

  // Everything that does not depend on the branch tip is written once.
  const replace = new Map<string, TreeEntry | null>();
  const seriesGiven = opts.metrics !== undefined || opts.metricsFile !== undefined;
  const series = seriesGiven ? buildSeries(repo, opts.metrics, opts.metricsFile) : undefined;
  if (series) replace.set(METRICS_FILE, series.entry ?? null);
  const store = artifactStoreFor(config);
  if (opts.logs !== undefined || opts.logsFile !== undefined) {
    let buf: Buffer;
    try {
      buf = opts.logsFile !== undefined ? readFileSync(opts.logsFile) : Buffer.isBuffer(opts.logs) ? opts.logs : Buffer.from(opts.logs ?? '');
    } catch (e) {
      throw new GitmlError('IO', `cannot read logs file ${opts.logsFile}: ${(e as Error).message}`, { file: opts.logsFile });
    }
    if (buf.length > config.inlineMaxBytes) {
      const { sha256, size } = await store.putBuffer(buf);
      replace.set(LOGS_REF_FILE, { mode: MODE_FILE, name: LOGS_REF_FILE, oid: repo.writeBlob(JSON.stringify({ sha256, size }) + '\n') });
      replace.set(LOGS_FILE, null);
    } else {
      replace.set(LOGS_FILE, { mode: MODE_FILE, name: LOGS_FILE, oid: repo.writeBlob(buf) });
      replace.set(LOGS_REF_FILE, null);
    }
  }
  const outputs = opts.outputsDir !== undefined ? await collectOutputs(repo, store, opts.outputsDir, config.inlineMaxBytes) : undefined;
  if (outputs) replace.set(ARTIFACTS_DIR, outputs.tree ?? null);

  const maxAttempts = opts.maxAttempts ?? 1000;
  for (let attempt = 1; ; attempt++) {
    const tip = repo.tip();
    let root: string | null = null;
    if (tip) {
      const c = await repo.readCommit(tip).catch((e) => {
        throw new GitmlError('RUNS_BRANCH_CORRUPT', `${config.ref} points to ${tip}, which is not a readable commit`, { tip }, { cause: e });
      });
      root = c.tree;
    }
    const existing = root ? await repo.lookup(root, segs) : null;
    const entries = existing && isTreeMode(existing.mode) ? [...(await repo.readTree(existing.oid))] : [];
    const needPrev = existing && (!seriesGiven || !outputs);
    const prev = needPrev ? await readPrevious(repo, entries) : undefined;
    const metrics = { ...(seriesGiven ? {} : (prev?.metrics ?? {})), ...(series?.finals ?? {}), ...(rec.metrics ?? {}) };
    const artifacts = outputs ? [...outputs.artifacts, ...(rec.artifacts ?? []).filter((a) => !outputs.artifacts.some((b) => b.path === a.path))] : rec.artifacts?.length ? rec.artifacts : (prev?.artifacts ?? []);
    const record: RunRecord = { ...rec, params: rec.params ?? {}, metrics, artifacts, inputs: rec.inputs ?? {} };
    // Never write what every reader would refuse as a corrupt record.
    const problem = recordProblem(record, rec.id);
    if (problem) throw new GitmlError('PARAM', `cannot record run ${rec.id}: ${problem}`, { id: rec.id });
    const runJson = repo.writeBlob(JSON.stringify(record, null, 2) + '\n');
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const [name, e] of replace) {
      if (e) byName.set(name, { ...e, name });
      else byName.delete(name);
    }
    byName.set(RUN_FILE, { mode: MODE_FILE, name: RUN_FILE, oid: runJson });
    const runTree = repo.writeTree([...byName.values()]);
    const newRoot = await repo.putPath(root, segs, { mode: MODE_TREE, name: rec.id, oid: runTree });
    const final = FINAL_STATUSES.includes(rec.status);
    const message = `${final ? 'record' : 'update'} ${rec.experiment} run ${rec.id}: ${rec.status}\n\nGitml-Run: ${rec.id}\nGitml-Experiment: ${rec.experiment}\nGitml-Status: ${rec.status}\n`;
    const commit = repo.writeCommit({ tree: newRoot, parents: tip ? [tip] : [], message, time: clock() });
    try {
      await casRef({
        commondir: repo.paths.commondir,
        ref: config.ref,
        newOid: commit,
        oldOid: tip,
        ident: repo.ident().committer,
        message: `gitml: ${message.split('\n')[0]}`,
        staleMs: config.staleLockMs,
        timeoutMs: config.lockTimeoutMs,
        now: clock,
      });
      maybePack(repo.dir, path.join(repo.paths.commondir, 'objects'), { enabled: opts.autoGc });
      return { commit, record };
    } catch (e) {
      if (!isGitmlError(e, 'REF_CONFLICT') || attempt >= maxAttempts) throw e;
      // Another writer won the race: rebuild on its tip after a short random pause.
      await sleep(Math.random() * Math.min(20, attempt));
    }
  }
}
