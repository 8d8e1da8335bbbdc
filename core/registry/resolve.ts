/**
 * Turns a model reference into everything needed to package or serve it: the version, the
 * runs commit its tag points at, the run record, and the model file (and sample data) as
 * artifact references of that run.
 *
 * @example
 *   const r = await resolveModelRef({ dir: '/repo', ref: 'iris#production' });
 *   r.version; r.artifact.sha256; r.record.environment
 */
import { GitmlError } from '../errors.js';
import { loadEntities } from '../entities/load.js';
import type { Entities } from '../entities/types.js';
import type { ArtifactRef, RunRecord } from '../runs/types.js';
import { snapshot, type RegistrySnapshot } from './context.js';
import { findOutput } from './register.js';
import { defaultGetRun } from './run-source.js';
import { runIdsAt, type GetRun } from './runs.js';
import { selectVersion } from './select.js';
import type { TagMetadata } from './metadata.js';

export interface ResolveOptions {
  dir: string;
  ref: string;
  getRun?: GetRun;
  /** The registry as already read by the caller (one `for-each-ref` for a whole deploy). */
  snapshot?: RegistrySnapshot;
}

export interface ResolvedModel {
  name: string;
  version: string;
  /** The registration tag. */
  tag: string;
  /** Stages this version is current in. */
  stages: string[];
  runId: string;
  /** The runs commit that recorded the run (what the tag points at). */
  commit: string;
  record: RunRecord;
  /** Name of the experiment output that is the model file. */
  output: string;
  artifact: ArtifactRef;
  /** The sample data output, when the Model names one and the run has it. */
  sample?: ArtifactRef;
  meta?: TagMetadata;
}

export async function resolveModelRef(o: ResolveOptions): Promise<ResolvedModel> {
  const snap = o.snapshot ?? (await snapshot(o.dir));
  const sel = selectVersion(snap, o.ref);
  const v = sel.version;
  if (!v.registered || !v.active) {
    throw new GitmlError('UNKNOWN_VERSION', `${sel.model.name}@${v.version} ${v.registered ? 'was deregistered' : 'is not registered'}`, { ref: o.ref });
  }
  const loaded = await loadEntities({ dir: snap.root }).catch(() => undefined);
  const ents: Entities | undefined = loaded?.value;
  const runId = v.meta?.run ?? (await onlyRunAt(snap.root, v.commit, o.ref));
  const getRun = o.getRun ?? (await defaultGetRun(ents));
  const { record } = await getRun({ dir: snap.root, id: runId });
  const modelSpec = ents?.models.get(sel.model.name)?.spec;
  const output = v.meta?.artifact?.output ?? modelSpec?.artifact;
  if (!output) throw new GitmlError('UNKNOWN_ENTITY', `there is no model ${JSON.stringify(sel.model.name)} in gitml/models/ to say which output is the model file`, { name: sel.model.name });
  const artifact = findOutput(record, ents, output);
  if (!artifact) throw new GitmlError('MODEL_OUTPUT_MISSING', `run ${runId} has no output ${JSON.stringify(output)}`, { run: runId, output });
  if (v.meta?.artifact && v.meta.artifact.sha256 !== artifact.sha256) {
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `the model file of ${sel.model.name}@${v.version} changed since registration (sha256 ${artifact.sha256.slice(0, 12)}, registered ${v.meta.artifact.sha256.slice(0, 12)})`, { ref: o.ref });
  }
  const sample = modelSpec?.sample ? findOutput(record, ents, modelSpec.sample) : undefined;
  return { name: sel.model.name, version: v.version, tag: v.tag!, stages: v.stages, runId, commit: v.commit, record, output, artifact, sample, meta: v.meta };
}

async function onlyRunAt(dir: string, commit: string, ref: string): Promise<string> {
  const ids = [...new Set(await runIdsAt(dir, commit))];
  if (ids.length !== 1) {
    throw new GitmlError('MODEL', `${ref} points at commit ${commit.slice(0, 12)}, which ${ids.length === 0 ? 'records no run' : `records ${ids.length} runs`}; register versions with \`gitml model register\` so the tag names its run`, { ref, commit, runs: ids });
  }
  return ids[0];
}
