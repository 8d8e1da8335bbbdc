/**
 * `gitml rollback SERVICE [--to VERSION]`: rolling back is moving a tag. The service's stage
 * gets a new assignment tag naming the previous version (the one the stage had before its
 * current version, or the one given), then the service is reconciled. The tag history is the
 * audit trail; nothing is deleted.
 */
import { GitmlError } from '../errors.js';
import { requireEntities } from '../entities/load.js';
import { snapshot } from '../registry/context.js';
import { promoteModel } from '../registry/promote.js';
import { DEFAULT_STAGE } from './desired.js';
import { deploy, type DeployResult } from './reconcile.js';

export interface RollbackOptions {
  dir: string;
  service: string;
  to?: string;
  /** Reconcile after writing the tag (default true). */
  deploy?: boolean;
  env?: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}

export interface RollbackResult {
  service: string;
  model: string;
  stage: string;
  from: string;
  version: string;
  tag?: string;
  deploy?: DeployResult;
}

/** The version a stage had before `current`: the newest earlier assignment of another active version. */
export function previousVersion(history: Array<{ kind: string; stage?: string; version?: string }>, stage: string, current: string, active: Set<string>): string | undefined {
  const assigned = history.filter((e) => e.kind === 'assign' && e.stage === stage && e.version).map((e) => e.version!);
  let i = assigned.lastIndexOf(current);
  if (i < 0) i = assigned.length;
  for (let j = i - 1; j >= 0; j--) if (assigned[j] !== current && active.has(assigned[j])) return assigned[j];
  return undefined;
}

export async function rollback(o: RollbackOptions): Promise<RollbackResult> {
  const ents = await requireEntities({ dir: o.dir });
  const svc = ents.services.get(o.service);
  if (!svc) throw new GitmlError('UNKNOWN_ENTITY', `there is no service ${JSON.stringify(o.service)} in gitml/services/ (known: ${[...ents.services.keys()].sort().join(', ') || 'none'})`, { service: o.service });
  if (svc.spec.version) {
    throw new GitmlError('USAGE', `${svc.file} pins version ${svc.spec.version}; a pinned service is rolled back by editing \`version:\` and committing`, { service: o.service });
  }
  const stage = svc.spec.stage ?? DEFAULT_STAGE;
  const model = svc.spec.model;
  const snap = await snapshot(ents.dir);
  const m = snap.state.models.get(model);
  const current = m?.stages[stage]?.version;
  if (!m || !current) throw new GitmlError('UNKNOWN_VERSION', `stage ${stage} of model ${model} has no version to roll back from`, { model, stage });
  const active = new Set(m.versions.filter((v) => v.registered && v.active).map((v) => v.version));
  const target = o.to ?? previousVersion(m.history, stage, current, active);
  if (!target) throw new GitmlError('UNKNOWN_VERSION', `stage ${stage} of model ${model} had no other version before ${current}; name one with --to`, { model, stage, current });
  if (target === current) throw new GitmlError('USAGE', `${model}#${stage} is already ${current}`, { model, stage });
  o.onProgress?.(`${model}#${stage}: ${current} -> ${target}`);
  const p = await promoteModel({ dir: ents.dir, name: model, version: target, stage, message: `rollback of service ${o.service} from ${current}`, env: o.env });
  const result: RollbackResult = { service: o.service, model, stage, from: current, version: target, tag: p.tag };
  if (o.deploy !== false) {
    // The tag lives in this repository now; deploy the YAML as committed.
    result.deploy = await deploy({ dir: ents.dir, services: [o.service], trigger: 'rollback', env: o.env, onProgress: o.onProgress });
  }
  return result;
}
