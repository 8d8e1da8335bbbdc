/**
 * Reading a run's logs, metric series and artifacts back from the branch (and from the
 * artifact store for large files).
 */
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { GitmlError } from '../errors.js';
import { safeRelPosix } from '../paths.js';
import type { MetricPoint } from './types.js';
import { openRuns, type RunsRepo } from './backend.js';
import { loadRunStoreConfig, type RunStoreConfig } from './config.js';
import { artifactStoreFor } from './artifact-store.js';
import { locateRun, type LocatedRun } from './get.js';
import { isTreeMode } from './git/objects.js';
import { ARTIFACTS_DIR, LOGS_FILE, LOGS_REF_FILE, METRICS_FILE, unescapeMetricName } from './layout.js';

interface RunOpts {
  dir: string;
  /** Run id or unique prefix. */
  id: string;
  config?: RunStoreConfig;
}

async function repoFor(o: RunOpts): Promise<RunsRepo> {
  return openRuns(o.dir, o.config ?? (await loadRunStoreConfig(o.dir)));
}

/** The run's logs ('' when none were recorded). */
export async function readRunLogs(opts: RunOpts): Promise<string> {
  return (await runLogs(opts)).logs;
}

/**
 * The run's full id and its logs ('' when none were recorded).
 *
 * Example: `const { id, logs } = await runLogs({ dir, id: '01jd3q6k' })`.
 */
export async function runLogs(opts: RunOpts): Promise<{ id: string; logs: string }> {
  const repo = await repoFor(opts);
  const run = await locateRun(repo, opts.id);
  return { id: run.record.id, logs: await logsOf(repo, run) };
}

async function logsOf(repo: RunsRepo, run: LocatedRun): Promise<string> {
  const inline = run.entries.find((e) => e.name === LOGS_FILE);
  if (inline) return (await repo.readObject(inline.oid, 'blob')).toString('utf8');
  const ref = run.entries.find((e) => e.name === LOGS_REF_FILE);
  if (ref) {
    let sha256: unknown;
    try {
      sha256 = (JSON.parse((await repo.readObject(ref.oid, 'blob')).toString('utf8')) as { sha256?: unknown }).sha256;
    } catch {
      sha256 = undefined;
    }
    if (typeof sha256 !== 'string') throw new GitmlError('RUNS_BRANCH_CORRUPT', `${run.path}/${LOGS_REF_FILE} is not a valid pointer to stored logs`, { path: run.path });
    return (await artifactStoreFor(repo.config).read(sha256)).toString('utf8');
  }
  return '';
}

/** Parse metrics.tsv into series by metric name (in recorded order). */
export function parseSeries(text: string, only?: string): Record<string, MetricPoint[]> {
  const out: Record<string, MetricPoint[]> = {};
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const parts = line.split('\t');
    if (parts.length < 4) continue;
    const name = unescapeMetricName(parts[0]);
    if (only !== undefined && name !== only) continue;
    (out[name] ??= []).push({ name, step: Number(parts[1]), timestamp: Number(parts[2]), value: Number(parts[3]) });
  }
  return out;
}

/** Metric series of a run, by metric name (optionally only `metric`). */
export async function readRunMetrics(opts: RunOpts & { metric?: string }): Promise<Record<string, MetricPoint[]>> {
  const repo = await repoFor(opts);
  const run = await locateRun(repo, opts.id);
  const file = run.entries.find((e) => e.name === METRICS_FILE && !isTreeMode(e.mode));
  const out = file ? parseSeries((await repo.readObject(file.oid, 'blob')).toString('utf8'), opts.metric) : {};
  if (opts.metric !== undefined && !out[opts.metric]) {
    const all = file ? Object.keys(parseSeries((await repo.readObject(file.oid, 'blob')).toString('utf8'))).sort() : [];
    const has = all.length ? `; it has ${all.slice(0, 12).join(', ')}${all.length > 12 ? ', ...' : ''}` : '; it recorded no metric series';
    throw new GitmlError('PARAM', `run ${run.record.id} has no metric series ${JSON.stringify(opts.metric)}${has}`, { id: run.record.id, metric: opts.metric, metrics: all });
  }
  return out;
}

interface ArtifactOpts extends RunOpts {
  /** Artifact path as listed in the record, relative to the outputs folder. */
  path: string;
}

async function findArtifact(opts: ArtifactOpts) {
  const rel = safeRelPosix(opts.path);
  const repo = await repoFor(opts);
  const run = await locateRun(repo, opts.id);
  const ref = run.record.artifacts?.find((a) => a.path === rel);
  if (!ref) throw new GitmlError('PARAM', `run ${run.record.id} has no artifact ${JSON.stringify(rel)}`, { id: run.record.id, path: rel });
  return { repo, run, ref, rel };
}

/** The bytes of one artifact of a run. */
export async function readArtifact(opts: ArtifactOpts): Promise<Buffer> {
  const { repo, run, ref, rel } = await findArtifact(opts);
  if (ref.storage === 'store') return artifactStoreFor(repo.config).read(ref.sha256);
  const e = await repo.lookup((await repo.readCommit(run.tip)).tree, [...run.path.split('/'), ARTIFACTS_DIR, ...rel.split('/')]);
  if (!e || isTreeMode(e.mode)) throw new GitmlError('RUNS_BRANCH_CORRUPT', `artifact ${rel} of run ${run.record.id} is listed but missing from the branch`, { id: run.record.id, path: rel });
  return repo.readObject(e.oid, 'blob');
}

/**
 * A file on disk holding the artifact (read-only: do not modify it). Store artifacts are
 * returned in place; inline ones are written once to `.git/gitml/cache/artifacts/<sha256>/`.
 */
export async function artifactPath(opts: ArtifactOpts): Promise<string> {
  const { repo, ref, rel } = await findArtifact(opts);
  if (ref.storage === 'store') return artifactStoreFor(repo.config).localPath(ref.sha256);
  // The digest names a cache folder: it must be one (records are checked, this is the last guard).
  if (!/^[0-9a-f]{64}$/.test(ref.sha256)) throw new GitmlError('RUNS_BRANCH_CORRUPT', `artifact ${rel} of run ${opts.id} has no valid sha256`, { id: opts.id, path: rel });
  const dest = path.join(repo.paths.commondir, 'gitml', 'cache', 'artifacts', ref.sha256, path.posix.basename(rel));
  try {
    if (statSync(dest).size === ref.size) return dest;
  } catch {
    /* not materialised yet */
  }
  const buf = await readArtifact(opts);
  mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, buf);
  renameSync(tmp, dest);
  return dest;
}
