/**
 * One run for the detail view: its record and the runs-branch commit that recorded it (core/runs
 * getRun), the source commit's subject line, every metric series (readRunMetrics), and the
 * registry versions made from it (the registry's replayed tags whose metadata names the run, or,
 * for versions registered by GTO without metadata, that tag the commit recording it).
 */
import { runGit } from '../../../core/git.js';
import { getRun } from '../../../core/runs/get.js';
import { readRunMetrics } from '../../../core/runs/read.js';
import type { MetricPoint, RunRecord } from '../../../core/runs/types.js';
import type { RegistryState } from '../../../core/registry/state.js';
import { fmtDuration } from '../../output.js';

export interface MadeVersion {
  model: string;
  version: string;
  stages: string[];
  active: boolean;
}

export interface RunDetail {
  record: RunRecord;
  /** Runs-branch commit that recorded the run. */
  commit: string;
  /** Subject of the source commit ('' when it is not in this clone). */
  sourceSubject: string;
  series: Record<string, MetricPoint[]>;
  versions: MadeVersion[];
}

export async function loadRunDetail(o: { dir: string; id: string; registry?: RegistryState }): Promise<RunDetail> {
  const { record, commit } = await getRun({ dir: o.dir, id: o.id });
  const [series, subject] = await Promise.all([
    readRunMetrics({ dir: o.dir, id: record.id }),
    /^[0-9a-f]{4,64}$/.test(record.source?.commit ?? '') ? runGit(o.dir, ['log', '-1', '--format=%s', record.source.commit, '--']) : Promise.resolve({ code: 1, stdout: '' }),
  ]);
  return { record, commit, sourceSubject: subject.code === 0 ? subject.stdout.trim() : '', series, versions: o.registry ? versionsFromRun(o.registry, record.id, commit) : [] };
}

export function versionsFromRun(state: RegistryState, runId: string, recordingCommit?: string): MadeVersion[] {
  const out: MadeVersion[] = [];
  for (const m of state.models.values()) {
    for (const v of m.versions) {
      if (!v.registered) continue;
      const named = v.meta?.run;
      if (named === runId || (named === undefined && recordingCommit !== undefined && v.commit === recordingCommit)) out.push({ model: m.name, version: v.version, stages: v.stages, active: v.active });
    }
  }
  return out;
}

/** Lineage as label/value pairs, in the order the view lists them (empty values left out). */
export function lineageRows(d: RunDetail): Array<[string, string]> {
  const r = d.record;
  const rows: Array<[string, string | undefined]> = [
    ['run', r.id],
    ['experiment', r.experiment],
    ['status', `${r.status}${r.exitCode !== undefined && r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}`],
    ['error', r.error],
    ['started', r.startedAt],
    ['duration', fmtDuration(r.durationMs)],
    ['source', `${r.source?.commit?.slice(0, 12) ?? ''}${d.sourceSubject ? ` ${d.sourceSubject}` : ''}`],
    ['branch', r.source?.branch],
    ['dirty', r.source?.dirty ? 'yes (run with --allow-dirty)' : undefined],
    ['environment', r.environment ? `${r.environment.name} ${r.environment.digest.slice(0, 19)}` : undefined],
    ['image', r.environment?.image ? `${r.environment.image}${r.environment.imageDigest ? ` ${r.environment.imageDigest.slice(0, 19)}` : ''}` : undefined],
    ['compute', r.compute ? `${r.compute.name} (${r.compute.type})` : undefined],
    ['host', r.host],
    ['user', r.user],
    ['trigger', r.trigger ? `${r.trigger.kind}${r.trigger.ref ? ` ${r.trigger.ref}` : ''}` : undefined],
    ['recorded in', d.commit.slice(0, 12)],
  ];
  for (const [name, i] of Object.entries(r.inputs ?? {})) rows.push([`input ${name}`, `${i.path} sha256:${i.sha256.slice(0, 16)}`]);
  return rows.filter((x): x is [string, string] => x[1] !== undefined && x[1] !== '');
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
