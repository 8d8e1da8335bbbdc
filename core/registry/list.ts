/**
 * `gitml models`: every model with its latest version and each stage's current version, from
 * one `git for-each-ref` (plus gitml.yaml for the stage order and the models not registered
 * yet). Deprecated models are left out unless `all`.
 *
 * @example
 *   const { stages, models } = await listModels({ dir: '/repo' });
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { KIND_DIRS, WORKSPACE_FILE } from '../entities/types.js';
import { findRepoRoot } from '../git.js';
import { snapshot } from './context.js';
import { allowedStages } from './policy.js';

export interface ListOptions {
  dir: string;
  /** Include deprecated models. */
  all?: boolean;
  /**
   * Read gitml.yaml and gitml/models/ too (stage order, models with no version yet). `true`
   * loads and validates every entity; `'light'` (what `gitml models` uses) only reads
   * `stages` from gitml.yaml and the file names in gitml/models/, since validating every
   * YAML file would cost more than reading thousands of tags; `false` reads tags only.
   * Default true.
   */
  entities?: boolean | 'light';
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
  const [snap, fromFiles] = await Promise.all([snapshot(root), readDefinitions(root, o.entities ?? true)]);
  const configured = fromFiles?.stages;
  const defined = new Set<string>(fromFiles?.models ?? []);
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

async function readDefinitions(root: string, mode: boolean | 'light'): Promise<{ stages: string[]; models: string[] } | undefined> {
  if (mode === false) return undefined;
  if (mode === 'light') return readLight(root);
  // Imported here so `gitml models` (light) never loads ajv and the schemas.
  const { loadEntities } = await import('../entities/load.js');
  const r = await loadEntities({ dir: root }).catch(() => undefined);
  if (!r?.value) return undefined;
  return { stages: allowedStages(r.value.workspace.spec), models: [...r.value.models.keys()] };
}

/** Display-only facts, read without validation (`gitml validate` is where YAML gets checked). */
async function readLight(root: string): Promise<{ stages: string[]; models: string[] } | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(root, WORKSPACE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let stages = allowedStages(undefined);
  const quick = quickStages(text);
  if (quick) stages = quick;
  else try {
    const { parse } = await import('yaml');
    const doc = parse(text) as { stages?: unknown } | null;
    if (Array.isArray(doc?.stages) && doc.stages.every((x) => typeof x === 'string')) stages = doc.stages as string[];
  } catch {
    /* an invalid gitml.yaml: default stage order */
  }
  const models = await readdir(path.join(root, KIND_DIRS.Model)).catch(() => [] as string[]);
  return { stages, models: models.filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.')).map((f) => f.replace(/\.ya?ml$/, '')) };
}

const WORD = /^[A-Za-z0-9][A-Za-z0-9/_-]*$/;

/**
 * `stages` in its two usual spellings (`stages: [a, b]` or a block list of plain words),
 * without loading the YAML library (it is most of the start-up cost of `gitml models`);
 * undefined for anything else, which the YAML library then reads.
 */
export function quickStages(text: string): string[] | undefined {
  const at = text.search(/^stages\s*:/m);
  if (at < 0) return /\bstages\b/.test(text) ? undefined : allowedStages(undefined);
  // The key's line and its continuation (indented lines, or `- item` lines).
  const entry = text.slice(at).split(/\n(?=[^\s-])/)[0];
  if (/[&*!|>{}"'\\]/.test(entry.replace(/(^|\s)#.*$/gm, ''))) return undefined;
  const flow = /^stages\s*:\s*\[([^\]\n]*)\]\s*(#.*)?\s*$/.exec(entry);
  if (flow) {
    const items = flow[1].split(',').map((x) => x.trim()).filter(Boolean);
    return items.every((x) => WORD.test(x)) ? items : undefined;
  }
  const block = /^stages\s*:\s*(#.*)?\n((?:[ \t]*-[ \t]+[^\n]*(?:\n|$))+)\s*$/.exec(entry);
  if (block) {
    const items = block[2].split('\n').filter((l) => l.trim()).map((l) => l.replace(/^\s*-\s+/, '').replace(/\s+#.*$/, '').trim());
    return items.every((x) => WORD.test(x)) ? items : undefined;
  }
  return undefined;
}
