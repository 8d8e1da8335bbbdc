/**
 * `gitml models`: every model with its latest version and each stage's current version, from
 * one `git for-each-ref` (plus gitml.yaml for the stage order and the models not registered
 * yet). Deprecated models are left out unless `all`.
 *
 * @example
 *   const { stages, models } = await listModels({ dir: '/repo' });
 */
import { loadEntities } from '../entities/load.js';
import { findRepoRoot } from '../git.js';
import { snapshot } from './context.js';
import { allowedStages } from './policy.js';

export interface ListOptions {
  dir: string;
  /** Include deprecated models. */
  all?: boolean;
  /** Read gitml.yaml and gitml/models/ too (stage order, models with no version yet). Default true. */
  entities?: boolean;
}

export interface ModelSummary {
  name: string;
  latest: string | null;
  /** Current version of each stage (null: none). */
  stages: Record<string, string | null>;
  /** Active registered versions. */
  versions: number;
  deprecated: boolean;
  /** Has registry tags. */
  registered: boolean;
  /** Defined in gitml/models/. */
  defined: boolean;
  /** The latest registry event. */
  updated?: { kind: string; version?: string; stage?: string; time: string; by: string };
}

export interface ModelList {
  stages: string[];
  models: ModelSummary[];
}

export async function listModels(o: ListOptions): Promise<ModelList> {
  const root = await findRepoRoot(o.dir);
  // The tags (a git process) and the YAML files are read at the same time.
  const [snap, loaded] = await Promise.all([snapshot(root), o.entities === false ? undefined : loadEntities({ dir: root }).catch(() => undefined)]);
  let configured: string[] | undefined;
  const defined = new Set<string>();
  if (loaded?.value) {
    configured = allowedStages(loaded.value.workspace.spec);
    for (const k of loaded.value.models.keys()) defined.add(k);
  }
  const used = new Set<string>();
  for (const m of snap.state.models.values()) for (const s of Object.keys(m.stages)) used.add(s);
  const stages = [...(configured ?? []), ...[...used].filter((s) => !configured?.includes(s)).sort()];

  const models: ModelSummary[] = [];
  for (const m of snap.state.models.values()) {
    if (m.deprecated && !o.all) continue;
    const last = m.history[m.history.length - 1];
    models.push({
      name: m.name,
      latest: m.latest ?? null,
      stages: Object.fromEntries(stages.map((s) => [s, m.stages[s]?.version ?? null])),
      versions: m.versions.filter((v) => v.registered && v.active).length,
      deprecated: m.deprecated,
      registered: true,
      defined: defined.has(m.name),
      updated: last && { kind: last.kind, version: last.version, stage: last.stage, time: new Date(last.time * 1000).toISOString(), by: last.by.email || last.by.name },
    });
  }
  for (const name of defined) {
    if (snap.state.models.has(name)) continue;
    models.push({ name, latest: null, stages: Object.fromEntries(stages.map((s) => [s, null])), versions: 0, deprecated: false, registered: false, defined: true });
  }
  models.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { stages, models };
}
