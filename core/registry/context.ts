/**
 * Shared by the registry operations: the repository root, every registry tag, and their
 * replayed state — one `git for-each-ref` for all of it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findRepoRoot } from '../git.js';
import { GitmlError } from '../errors.js';
import { isValidName, type ParsedTag } from './grammar.js';
import { readRegistry, type RegistryTag } from './read.js';
import { replay, type ModelState, type RegistryState } from './state.js';

export interface RegistrySnapshot {
  root: string;
  tags: RegistryTag[];
  /** Names in the grammar that are not registry events (lightweight tags). */
  others: ParsedTag[];
  state: RegistryState;
}

export async function snapshot(dir: string): Promise<RegistrySnapshot> {
  const root = await findRepoRoot(dir);
  const { tags, others } = await readRegistry({ dir: root });
  return { root, tags, others, state: replay(tags) };
}

export function requireModel(s: RegistrySnapshot, name: string): ModelState {
  const m = s.state.models.get(name);
  if (!m) {
    const known = [...s.state.models.keys()].sort();
    // Suggest registering only a model that is defined: a typo should not be told to register.
    const defined = isValidName(name) && !name.includes('/') && existsSync(path.join(s.root, 'gitml', 'models', `${name}.yaml`));
    const hint = defined ? `; register one with \`gitml model register ${name} --run RUN_ID\`` : ` and no gitml/models/${name}.yaml`;
    throw new GitmlError('UNKNOWN_VERSION', `model ${JSON.stringify(name)} has no registered versions (registered models: ${known.join(', ') || 'none'})${hint}`, { name, known, defined });
  }
  return m;
}

/** The latest second at which model `name` has an event or a version commit (see WriteTagOptions.after). */
export function lastSecond(s: RegistrySnapshot, name: string): number | undefined {
  const m = s.state.models.get(name);
  if (!m || m.history.length === 0) return undefined;
  let t = 0;
  for (const e of m.history) t = Math.max(t, e.time, e.commitTime || 0);
  return t;
}

/**
 * The `#N` of the next counted tag of model `name`: one more than any tag of it has, as GTO
 * numbers. Counted from the tag names' digits as big integers: a tag pushed with a counter past
 * 2^53 (`iris#dev#99999999999999999999999`) must not turn the next tag into `#1e+23`, a name
 * outside the grammar that the registry then ignores. A bigint only when a number cannot hold it.
 */
export function nextCounter(s: RegistrySnapshot, name: string): number | bigint {
  let max = 0n;
  for (const t of [...s.tags, ...s.others]) {
    if (t.name !== name || t.counter === undefined) continue;
    const digits = /#([0-9]+)$/.exec(t.tag)?.[1];
    if (digits !== undefined && BigInt(digits) > max) max = BigInt(digits);
  }
  const next = max + 1n;
  return next <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(next) : next;
}

/** The tag name to use: the plain form, or GTO's `#N` form when the plain one exists already. */
export function freeTagName(s: RegistrySnapshot, plain: string, name: string, format: (counter?: number | bigint) => string): string {
  const exists = s.tags.some((t) => t.tag === plain) || s.others.some((t) => t.tag === plain);
  return exists ? format(nextCounter(s, name)) : plain;
}
