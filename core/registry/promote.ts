/**
 * `gitml model promote NAME VERSION STAGE`: assigns a stage to a registered version with a tag
 * `NAME#STAGE#N` on the version's commit. The stage must be listed in gitml.yaml `stages`, and
 * the tagger (git's committer identity) must be allowed by `access`. Promoting the version
 * that is already current in the stage writes nothing; promoting an older version again is a
 * rollback (it becomes current, as the latest assignment).
 *
 * @example
 *   await promoteModel({ dir: '/repo', name: 'iris', version: 'v1.2.0', stage: 'production' });
 */
import { GitmlError } from '../errors.js';
import { requireEntities } from '../entities/load.js';
import { lastSecond, nextCounter, requireModel, snapshot } from './context.js';
import { formatTag, invalidVersion, isValidVersion } from './grammar.js';
import { taggerIdentity, type Identity } from './identity.js';
import { withRegistryLock } from './lock.js';
import { formatMessage } from './metadata.js';
import { checkAccess, checkStage } from './policy.js';
import { writeTag } from './write.js';

export interface PromoteOptions {
  dir: string;
  name: string;
  version: string;
  stage: string;
  message?: string;
  now?: Date;
  env?: NodeJS.ProcessEnv;
}

export interface StageChangeResult {
  name: string;
  stage: string;
  version: string;
  /** The tag written, or undefined when nothing had to change. */
  tag?: string;
  created: boolean;
  by: Identity;
  /** The version current in the stage afterwards (demote may fall back to an earlier one). */
  current?: string;
}

export async function promoteModel(o: PromoteOptions): Promise<StageChangeResult> {
  if (!isValidVersion(o.version)) throw invalidVersion(o.version);
  const ents = await requireEntities({ dir: o.dir });
  const root = ents.dir;
  const ws = ents.workspace.spec;
  checkStage(ws, o.stage);
  const who = await taggerIdentity(root, o.env);
  checkAccess(ws, o.stage, who);
  return withRegistryLock(root, async () => {
    const snap = await snapshot(root);
    const m = requireModel(snap, o.name);
    const v = m.versions.find((x) => x.version === o.version && x.registered);
    if (!v || !v.active) {
      const known = m.versions.filter((x) => x.registered && x.active).map((x) => x.version);
      throw new GitmlError('UNKNOWN_VERSION', `${o.name}@${o.version} ${v ? 'was deregistered' : 'is not registered'}; registered versions: ${known.join(', ') || 'none'}`, { name: o.name, version: o.version, known });
    }
    if (m.deprecated) throw new GitmlError('MODEL', `model ${o.name} is deprecated; register a new version to use it again`, { name: o.name });
    if (m.stages[o.stage]?.version === o.version) {
      return { name: o.name, stage: o.stage, version: o.version, created: false, by: who, current: o.version };
    }
    const tag = formatTag({ action: 'assign', name: o.name, stage: o.stage, counter: nextCounter(snap, o.name) });
    const subject = `Promote model ${o.name} ${o.version} to ${o.stage}${o.message ? `: ${o.message}` : ''}`;
    await writeTag({
      dir: root,
      tag,
      commit: v.commit,
      now: o.now,
      after: lastSecond(snap, o.name),
      env: o.env,
      message: formatMessage(subject, { gitml: 1, action: 'assign', model: o.name, version: o.version, stage: o.stage, run: v.meta?.run, ...(o.message ? { note: o.message } : {}) }),
    });
    return { name: o.name, stage: o.stage, version: o.version, tag, created: true, by: who, current: o.version };
  });
}
