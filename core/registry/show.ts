/**
 * `gitml model show NAME[@VERSION|#STAGE]`: the versions of a model, each stage's current
 * version, the full stage history (who and when, from the tags), and the lineage of the
 * selected version (latest by default) from its run record: run, source commit, inputs,
 * environment, metrics.
 */
import { loadEntities } from '../entities/load.js';
import { isGitmlError } from '../errors.js';
import type { InputRef, ParamValue, RunRecord } from '../runs/types.js';
import { snapshot } from './context.js';
import { messageText } from './metadata.js';
import { defaultGetRun } from './run-source.js';
import { runIdsAt, type GetRun } from './runs.js';
import { selectVersion } from './select.js';
import type { StageAssignment } from './state.js';

export interface ShowOptions {
  dir: string;
  ref: string;
  getRun?: GetRun;
  /** Read the selected version's run record (default true). */
  lineage?: boolean;
}

export interface HistoryEntry {
  kind: string;
  version?: string;
  stage?: string;
  tag: string;
  commit: string;
  time: string;
  by: { name: string; email: string };
  message: string;
}

export interface VersionSummary {
  version: string;
  commit: string;
  registered: boolean;
  active: boolean;
  stages: string[];
  registeredAt?: string;
  registeredBy?: { name: string; email: string };
  deregisteredAt?: string;
  run?: string;
  metrics?: Record<string, number>;
  artifact?: { path: string; sha256: string; size: number };
}

export interface Lineage {
  run: string;
  experiment: string;
  status: string;
  commit: string;
  source: RunRecord['source'];
  params: Record<string, ParamValue>;
  metrics: Record<string, number>;
  inputs: Record<string, InputRef>;
  environment?: RunRecord['environment'];
  compute?: RunRecord['compute'];
  startedAt?: string;
  endedAt?: string;
  artifact?: { path: string; sha256: string; size: number };
}

export interface ModelDetail {
  name: string;
  ref: string;
  deprecated: boolean;
  latest: string | null;
  stages: Array<Omit<StageAssignment, 'since'> & { since: string }>;
  versions: VersionSummary[];
  /** Oldest first. */
  history: HistoryEntry[];
  /** The version the reference names (latest for a bare name). */
  selected?: { version: string; lineage?: Lineage; lineageError?: string };
}

const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t * 1000).toISOString());

export async function showModel(o: ShowOptions): Promise<ModelDetail> {
  const snap = await snapshot(o.dir);
  const sel = selectVersion(snap, o.ref);
  const m = sel.model;
  const detail: ModelDetail = {
    name: m.name,
    ref: o.ref,
    deprecated: m.deprecated,
    latest: m.latest ?? null,
    stages: Object.values(m.stages).map((s) => ({ ...s, since: iso(s.since)! })),
    versions: m.versions.map((v) => ({
      version: v.version,
      commit: v.commit,
      registered: v.registered,
      active: v.active,
      stages: v.stages,
      registeredAt: iso(v.registeredAt),
      registeredBy: v.registeredBy,
      deregisteredAt: iso(v.deregisteredAt),
      run: v.meta?.run,
      metrics: v.meta?.metrics,
      artifact: v.meta?.artifact && { path: v.meta.artifact.path, sha256: v.meta.artifact.sha256, size: v.meta.artifact.size },
    })),
    history: m.history.map((e) => ({ kind: e.kind, version: e.version, stage: e.stage, tag: e.tag, commit: e.commit, time: iso(e.time)!, by: e.by, message: messageText(e.message) })),
    selected: { version: sel.version.version },
  };
  if (o.lineage !== false) {
    try {
      const v = sel.version;
      let runId = v.meta?.run;
      if (!runId) {
        const ids = [...new Set(await runIdsAt(snap.root, v.commit))];
        if (ids.length === 1) runId = ids[0];
      }
      if (!runId) {
        detail.selected!.lineageError = `the tag of ${m.name}@${v.version} names no run`;
      } else {
        const ents = (await loadEntities({ dir: snap.root }).catch(() => undefined))?.value;
        const getRun = o.getRun ?? (await defaultGetRun(ents));
        const { record, commit } = await getRun({ dir: snap.root, id: runId });
        detail.selected!.lineage = {
          run: record.id,
          experiment: record.experiment,
          status: record.status,
          commit,
          source: record.source,
          params: record.params,
          metrics: record.metrics,
          inputs: record.inputs,
          environment: record.environment,
          compute: record.compute,
          startedAt: record.startedAt,
          endedAt: record.endedAt,
          artifact: v.meta?.artifact && { path: v.meta.artifact.path, sha256: v.meta.artifact.sha256, size: v.meta.artifact.size },
        };
      }
    } catch (e) {
      // The registry is still worth showing when the runs branch is not fetched here.
      if (!isGitmlError(e)) throw e;
      detail.selected!.lineageError = e.message;
    }
  }
  return detail;
}
