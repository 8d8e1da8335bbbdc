/**
 * Which version a model reference names, in a replayed state: `name` (latest), `name@latest`,
 * `name@vX.Y.Z`, `name#stage` (the stage's current version).
 */
import { GitmlError } from '../errors.js';
import { parseModelRef, type ModelRef } from './grammar.js';
import type { ModelState, VersionState } from './state.js';
import { requireModel, type RegistrySnapshot } from './context.js';

export interface Selected {
  ref: ModelRef;
  model: ModelState;
  version: VersionState;
}

export function selectVersion(snap: RegistrySnapshot, refText: string): Selected {
  const ref = parseModelRef(refText);
  const model = requireModel(snap, ref.name);
  let version: VersionState | undefined;
  if (ref.version) {
    version = model.versions.find((v) => v.version === ref.version && v.registered);
    if (!version) {
      // Deregistered versions are not offered: they cannot be served or promoted.
      const active = model.versions.filter((v) => v.registered && v.active).map((v) => v.version);
      throw new GitmlError('UNKNOWN_VERSION', `${ref.name}@${ref.version} is not registered (registered versions: ${active.join(', ') || 'none'})`, { ref: refText, known: active });
    }
  } else if (ref.stage) {
    const cur = model.stages[ref.stage];
    if (!cur) throw new GitmlError('UNKNOWN_VERSION', `no version of ${ref.name} is in stage ${JSON.stringify(ref.stage)} (stages in use: ${Object.keys(model.stages).join(', ') || 'none'})`, { ref: refText });
    version = model.versions.find((v) => v.version === cur.version);
  } else {
    version = model.versions.find((v) => v.version === model.latest);
    if (!version) throw new GitmlError('UNKNOWN_VERSION', `${ref.name} has no active registered version`, { ref: refText });
  }
  return { ref, model, version: version! };
}
