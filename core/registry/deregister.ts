/**
 * `gitml model deregister NAME VERSION`: withdraws a version with a tag `NAME@vX.Y.Z!` on its
 * commit. The version leaves every stage (GTO ignores deregistered versions there); its
 * number stays taken so it is never reused for another run.
 */
import { GitmlError } from '../errors.js';
import { findRepoRoot } from '../git.js';
import { freeTagName, lastSecond, requireModel, snapshot } from './context.js';
import { formatTag, invalidVersion, isValidVersion } from './grammar.js';
import { withRegistryLock } from './lock.js';
import { formatMessage } from './metadata.js';
import { writeTag } from './write.js';

export interface DeregisterOptions {
  dir: string;
  name: string;
  version: string;
  message?: string;
  now?: Date;
  env?: NodeJS.ProcessEnv;
}

export async function deregisterModel(o: DeregisterOptions): Promise<{ name: string; version: string; tag: string; stages: string[] }> {
  if (!isValidVersion(o.version)) throw invalidVersion(o.version);
  const root = await findRepoRoot(o.dir);
  return withRegistryLock(root, async () => {
    const snap = await snapshot(root);
    const m = requireModel(snap, o.name);
    const v = m.versions.find((x) => x.version === o.version && x.registered);
    if (!v || !v.active) {
      throw new GitmlError('UNKNOWN_VERSION', `${o.name}@${o.version} ${v ? 'was deregistered already' : 'is not registered'}`, { name: o.name, version: o.version });
    }
    const plain = formatTag({ action: 'deregister', name: o.name, version: o.version });
    const tag = freeTagName(snap, plain, o.name, (counter) => formatTag({ action: 'deregister', name: o.name, version: o.version, counter }));
    await writeTag({
      dir: root,
      tag,
      commit: v.commit,
      now: o.now,
      after: lastSecond(snap, o.name),
      env: o.env,
      message: formatMessage(`Deregister model ${o.name} ${o.version}${o.message ? `: ${o.message}` : ''}`, { gitml: 1, action: 'deregister', model: o.name, version: o.version, ...(o.message ? { note: o.message } : {}) }),
    });
    return { name: o.name, version: o.version, tag, stages: v.stages };
  });
}
