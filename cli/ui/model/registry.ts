/**
 * The registry for the models view: the replayed tag state (core/registry, one `git
 * for-each-ref`), the model list with each stage's version, and one model's versions, stage
 * history and lineage (showModel).
 */
import { readRegistryTags } from '../../../core/registry/read.js';
import { replay, type RegistryState } from '../../../core/registry/state.js';
import { listModels, type ModelList } from '../../../core/registry/list.js';
import type { ModelDetail } from '../../../core/registry/show.js';

export async function loadRegistry(dir: string): Promise<{ state: RegistryState; list: ModelList }> {
  const [tags, list] = await Promise.all([readRegistryTags({ dir }), listModels({ dir, entities: 'light' })]);
  return { state: replay(tags), list };
}

export async function loadModel(dir: string, name: string): Promise<ModelDetail> {
  // Loaded on first use: showModel brings the entity loader (ajv and the schemas), which the
  // first screen does not need.
  const { showModel } = await import('../../../core/registry/show.js');
  return showModel({ dir, ref: name });
}

/** One line per stage-history event, oldest first: when, who, what. */
export function historyLines(d: ModelDetail): Array<{ time: string; by: string; what: string }> {
  return d.history.map((e) => ({
    time: e.time.slice(0, 16).replace('T', ' '),
    by: e.by.email || e.by.name,
    what: e.kind === 'register' ? `registered ${e.version}` : e.kind === 'deregister' ? `deregistered ${e.version}` : e.kind === 'assign' ? `${e.stage} ← ${e.version}` : e.kind === 'unassign' ? `${e.stage} ✕ ${e.version}` : e.kind,
  }));
}
