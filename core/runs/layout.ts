/**
 * The on-branch layout. One folder per run:
 *
 *   <experiment>/<yyyy-mm>/<bucket>/<run-id>/
 *     run.json              the RunRecord (pretty JSON)
 *     metrics.tsv           every metric point: "name<TAB>step<TAB>timestamp<TAB>value" lines
 *     logs.txt              stdout+stderr of the run
 *     artifacts/<path>      artifacts up to the inline threshold (larger ones: artifact store)
 *
 * `yyyy-mm` is the UTC month of the run id's timestamp and `bucket` the first two random
 * characters of the id (1,024 buckets), so every tree on the path to a run stays small however
 * many runs a month holds: recording a run rewrites five small trees, never a huge one.
 */
import { GitmlError } from '../errors.js';
import { isRunId, runIdTime } from './id.js';

export const RUN_FILE = 'run.json';
export const LOGS_FILE = 'logs.txt';
/** When the logs are larger than the inline threshold: a pointer into the artifact store. */
export const LOGS_REF_FILE = 'logs.ref.json';
export const METRICS_FILE = 'metrics.tsv';
export const ARTIFACTS_DIR = 'artifacts';
/** Depth of a run folder below the branch root. */
export const RUN_DEPTH = 4;

const EXPERIMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkExperimentName(name: string): void {
  if (typeof name !== 'string' || !EXPERIMENT_RE.test(name) || name.toLowerCase() === '.git' || name.endsWith('.lock')) {
    throw new GitmlError('PARAM', `${JSON.stringify(name)} is not a valid experiment name (letters, digits, '.', '_', '-')`, { experiment: name });
  }
}

export function checkRunId(id: string): void {
  if (!isRunId(id)) throw new GitmlError('PARAM', `${JSON.stringify(id)} is not a run id (26 characters of lowercase base32, see newRunId)`, { id });
}

/** Path segments of a run's folder on the branch. */
export function runFolderSegments(experiment: string, id: string): string[] {
  checkExperimentName(experiment);
  checkRunId(id);
  const d = new Date(runIdTime(id));
  const month = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  return [experiment, month, id.slice(10, 12), id];
}

export function runFolder(experiment: string, id: string): string {
  return runFolderSegments(experiment, id).join('/');
}

/** Metric names in metrics.tsv: tab, newline and backslash are escaped. */
export function escapeMetricName(name: string): string {
  return name.replace(/[\\\t\n\r]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r'));
}

export function unescapeMetricName(s: string): string {
  return s.replace(/\\(.)/g, (_m, ch: string) => (ch === 't' ? '\t' : ch === 'n' ? '\n' : ch === 'r' ? '\r' : ch));
}

export const METRICS_HEADER = 'name\tstep\ttimestamp\tvalue\n';
