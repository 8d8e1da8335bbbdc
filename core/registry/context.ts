/**
 * Shared by the registry operations: the repository root, every registry tag, and their
 * replayed state — one `git for-each-ref` for all of it.
 */
import { findRepoRoot } from '../git.js';
import { GitmlError } from '../errors.js';
import { readRegistryTags, type RegistryTag } from './read.js';
import { replay, type ModelState, type RegistryState } from './state.js';

export interface RegistrySnapshot {
  root: string;
  tags: RegistryTag[];
  state: RegistryState;
}

export async function snapshot(dir: string): Promise<RegistrySnapshot> {
  const root = await findRepoRoot(dir);
  const tags = await readRegistryTags({ dir: root });
  return { root, tags, state: replay(tags) };
}

export function requireModel(s: RegistrySnapshot, name: string): ModelState {
  const m = s.state.models.get(name);
  if (!m) {
    const known = [...s.state.models.keys()].sort();
    throw new GitmlError('UNKNOWN_VERSION', `model ${JSON.stringify(name)} has no registered versions (registered models: ${known.join(', ') || 'none'}); register one with \`gitml model register ${name} --run RUN_ID\``, { name, known });
  }
  return m;
}

/** The tag name to use: the plain form, or GTO's `#N` form when the plain one exists already. */
export function freeTagName(s: RegistrySnapshot, plain: string, m: ModelState | undefined, format: (counter?: number) => string): string {
  const exists = s.tags.some((t) => t.tag === plain);
  return exists ? format((m?.maxCounter ?? 0) + 1) : plain;
}
