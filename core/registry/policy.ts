/**
 * The stage policy from gitml.yaml: which stages exist (`stages`, in promotion order) and who
 * may assign each (`access`: stage -> git emails or names, `*` for everyone; stages not listed
 * are open to everyone). Pure functions over the Workspace spec.
 */
import { GitmlError } from '../errors.js';
import type { Workspace } from '../entities/types.js';
import { isValidStage } from './grammar.js';
import type { Identity } from './identity.js';

/** The schema's default for `stages`. */
export const DEFAULT_STAGES = ['dev', 'staging', 'production'];

export function allowedStages(ws: Workspace | undefined): string[] {
  return ws?.stages ?? DEFAULT_STAGES;
}

export function checkStage(ws: Workspace | undefined, stage: string): void {
  const allowed = allowedStages(ws);
  if (!allowed.includes(stage) || !isValidStage(stage)) {
    throw new GitmlError('STAGE_NOT_ALLOWED', `stage ${JSON.stringify(stage)} is not allowed: gitml.yaml \`stages\` lists ${allowed.map((s) => JSON.stringify(s)).join(', ') || 'none'}`, {
      stage,
      allowed,
    });
  }
}

/** True when `who` may assign or unassign `stage`. */
export function mayAssign(ws: Workspace | undefined, stage: string, who: Identity): boolean {
  const list = ws?.access?.[stage];
  if (list === undefined) return true;
  const email = who.email.toLowerCase();
  return list.some((p) => p === '*' || p.toLowerCase() === email || p === who.name);
}

export function checkAccess(ws: Workspace | undefined, stage: string, who: Identity, action: 'assign' | 'unassign' = 'assign'): void {
  if (mayAssign(ws, stage, who)) return;
  throw new GitmlError(
    'ACCESS_DENIED',
    `${who.name} <${who.email}> may not ${action} stage ${JSON.stringify(stage)}: gitml.yaml \`access.${stage}\` allows ${(ws?.access?.[stage] ?? []).join(', ') || 'nobody'}`,
    { stage, who, action, allowed: ws?.access?.[stage] ?? [] },
  );
}
