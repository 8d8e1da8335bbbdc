/**
 * `gitml model deprecate NAME`: marks the whole model deprecated with `NAME@deprecated`
 * (GTO's form; `NAME@deprecated#N` if the model was deprecated and revived before). Listings
 * hide it unless asked; registering a new version revives it, as in GTO.
 */
import { GitmlError } from '../errors.js';
import { findRepoRoot } from '../git.js';
import { freeTagName, lastSecond, requireModel, snapshot } from './context.js';
import { formatTag } from './grammar.js';
import { withRegistryLock } from './lock.js';
import { formatMessage } from './metadata.js';
import { writeTag } from './write.js';

export interface DeprecateOptions {
  dir: string;
  name: string;
  message?: string;
  now?: Date;
  env?: NodeJS.ProcessEnv;
}

export async function deprecateModel(o: DeprecateOptions): Promise<{ name: string; tag: string }> {
  const root = await findRepoRoot(o.dir);
  return withRegistryLock(root, async () => {
    const snap = await snapshot(root);
    const m = requireModel(snap, o.name);
    if (m.deprecated) throw new GitmlError('MODEL', `model ${o.name} is deprecated already`, { name: o.name });
    const plain = formatTag({ action: 'deprecate', name: o.name });
    const tag = freeTagName(snap, plain, o.name, (counter) => formatTag({ action: 'deprecate', name: o.name, counter }));
    // GTO tags the commit of the model's latest event.
    const commit = m.history[m.history.length - 1].commit;
    await writeTag({
      dir: root,
      tag,
      commit,
      now: o.now,
      after: lastSecond(snap, o.name),
      env: o.env,
      message: formatMessage(`Deprecate model ${o.name}${o.message ? `: ${o.message}` : ''}`, { gitml: 1, action: 'deprecate', model: o.name, ...(o.message ? { note: o.message } : {}) }),
    });
    return { name: o.name, tag };
  });
}
