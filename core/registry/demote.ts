/**
 * `gitml model demote NAME STAGE`: unassigns the stage from its current version with a tag
 * `NAME#STAGE!#N`. As in GTO, the stage then falls back to the most recently assigned version
 * whose assignment is still active (a rollback), or is left empty.
 */
import { GitmlError } from '../errors.js';
import { requireEntities } from '../entities/load.js';
import { lastSecond, nextCounter, requireModel, snapshot } from './context.js';
import { formatTag, isValidStage } from './grammar.js';
import { taggerIdentity } from './identity.js';
import { withRegistryLock } from './lock.js';
import { formatMessage } from './metadata.js';
import { checkAccess } from './policy.js';
import type { StageChangeResult } from './promote.js';
import { replay } from './state.js';
import { readRegistryTags } from './read.js';
import { writeTag } from './write.js';

export interface DemoteOptions {
  dir: string;
  name: string;
  stage: string;
  message?: string;
  now?: Date;
  env?: NodeJS.ProcessEnv;
}

export async function demoteModel(o: DemoteOptions): Promise<StageChangeResult> {
  if (!isValidStage(o.stage)) throw new GitmlError('STAGE_NOT_ALLOWED', `${JSON.stringify(o.stage)} is not a valid stage name`, { stage: o.stage });
  const ents = await requireEntities({ dir: o.dir });
  const root = ents.dir;
  // Demoting is allowed for a stage no longer listed in `stages` (to clean it up), but not
  // to someone the access policy keeps out of that stage.
  const who = await taggerIdentity(root, o.env);
  checkAccess(ents.workspace.spec, o.stage, who, 'unassign');
  return withRegistryLock(root, async () => {
    const snap = await snapshot(root);
    const m = requireModel(snap, o.name);
    const cur = m.stages[o.stage];
    if (!cur) throw new GitmlError('UNKNOWN_VERSION', `no version of ${o.name} is in stage ${JSON.stringify(o.stage)}`, { name: o.name, stage: o.stage });
    const tag = formatTag({ action: 'unassign', name: o.name, stage: o.stage, counter: nextCounter(snap, o.name) });
    await writeTag({
      dir: root,
      tag,
      commit: cur.commit,
      now: o.now,
      after: lastSecond(snap, o.name),
      env: o.env,
      message: formatMessage(`Demote model ${o.name} ${cur.version} from ${o.stage}${o.message ? `: ${o.message}` : ''}`, {
        gitml: 1,
        action: 'unassign',
        model: o.name,
        version: cur.version,
        stage: o.stage,
        ...(o.message ? { note: o.message } : {}),
      }),
    });
    const after = replay(await readRegistryTags({ dir: root })).models.get(o.name);
    return { name: o.name, stage: o.stage, version: cur.version, tag, created: true, by: who, current: after?.stages[o.stage]?.version };
  });
}
