/**
 * Service status in git: after each reconcile the conditions (Ready / Reconciling / Stalled,
 * with reason and message), the revision attempted and the revision last applied, and one
 * history entry per deploy that changed something or failed. Written on the status branch
 * (`branches.status`, default `gitml-status`) as git objects, readable with plain `git show`:
 *
 *   git show gitml-status:services/iris/status.json
 *   git ls-tree -r gitml-status services/iris/history
 */
import { createHash } from 'node:crypto';
import { listStatusDir, readStatusFile, writeStatus } from '../status/branch.js';
import type { Condition } from './apply.js';

export interface DeployRecord {
  service: string;
  /** The commit whose YAML was deployed, and the tag(s) that chose the versions. */
  revision: string;
  ref: string;
  tags: string[];
  versions: Array<{ version: string; role: string; replicas: number; weight: number; image: string }>;
  compute: string;
  /** Who ran the deploy (git identity) and when (ISO time). */
  by: { name: string; email: string };
  at: string;
  /** Human lines of the steps carried out, and the one that failed. */
  steps: string[];
  failed?: { step: string; code: string; message: string };
  conditions: Condition[];
  url?: string;
  /** What triggered it: `deploy`, `rollback`, `delete`, the daemon. */
  trigger: string;
}

export interface ServiceStatus {
  service: string;
  /** The versions git asks for, and the ones the last successful deploy applied (as text: `v2`, `v2, canary v3 10%`). */
  desired: string;
  running?: string;
  conditions: Condition[];
  lastAttemptedRevision: string;
  lastAppliedRevision?: string;
  /** The last deploy that applied, and the last one attempted (may be the same). */
  lastApplied?: DeployRecord;
  lastAttempted: DeployRecord;
}

const statusFile = (service: string) => `services/${service}/status.json`;

export async function readServiceStatus(dir: string, service: string): Promise<ServiceStatus | undefined> {
  const b = await readStatusFile(dir, statusFile(service)).catch(() => undefined);
  if (!b) return undefined;
  try {
    return JSON.parse(b.toString('utf8')) as ServiceStatus;
  } catch {
    return undefined;
  }
}

/** Names of services with a status (including deleted ones). */
export async function statusServices(dir: string): Promise<string[]> {
  return listStatusDir(dir, 'services').catch(() => []);
}

/** History entries of a service, newest first (at most `limit`). */
export async function readHistory(dir: string, service: string, limit = 20): Promise<DeployRecord[]> {
  const months = (await listStatusDir(dir, `services/${service}/history`)).sort().reverse();
  const out: DeployRecord[] = [];
  for (const m of months) {
    const files = (await listStatusDir(dir, `services/${service}/history/${m}`)).sort().reverse();
    for (const f of files) {
      const b = await readStatusFile(dir, `services/${service}/history/${m}/${f}`);
      if (b) out.push(JSON.parse(b.toString('utf8')) as DeployRecord);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

/**
 * Record one reconcile of a service: status.json, and a history entry unless `noop`. `by` is
 * asked for only when this record is kept: a no-op over a status that stays the same needs no
 * identity (that is one `git var` less on every deploy with nothing to change).
 */
export async function recordDeploy(dir: string, draft: Omit<DeployRecord, 'by'>, opts: { noop: boolean; by: () => Promise<DeployRecord['by']> }): Promise<{ commit: string } | undefined> {
  const prev = await readServiceStatus(dir, draft.service);
  const keepsPrevious = opts.noop && prev?.lastApplied && prev.lastAttempted && !prev.lastAttempted.failed && !draft.failed;
  const rec: DeployRecord = keepsPrevious ? { ...draft, by: prev.lastAttempted.by } : { ...draft, by: await opts.by() };
  const ok = !rec.failed;
  const fmt = (r?: DeployRecord) => r?.versions.map((v) => (v.role === 'canary' ? `canary ${v.version} ${v.weight}%` : v.version)).join(', ');
  const lastApplied = ok ? (opts.noop && prev?.lastApplied ? prev.lastApplied : rec) : prev?.lastApplied;
  const status: ServiceStatus = {
    service: rec.service,
    desired: fmt(rec) ?? '',
    running: rec.trigger === 'delete' ? undefined : fmt(lastApplied),
    conditions: rec.conditions,
    lastAttemptedRevision: rec.revision,
    lastAppliedRevision: ok ? rec.revision : prev?.lastAppliedRevision,
    lastApplied,
    lastAttempted: opts.noop && prev?.lastAttempted && !prev.lastAttempted.failed ? prev.lastAttempted : rec,
  };
  // A no-op that changes nothing in the status writes nothing (deploy stays a read).
  if (opts.noop && prev && JSON.stringify(prev) === JSON.stringify(status)) return undefined;
  const files: Record<string, string> = { [statusFile(rec.service)]: JSON.stringify(status, null, 2) + '\n' };
  if (!opts.noop) {
    const id = createHash('sha256').update(JSON.stringify(rec)).digest('hex').slice(0, 8);
    const t = rec.at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    files[`services/${rec.service}/history/${rec.at.slice(0, 7)}/${t}-${id}.json`] = JSON.stringify(rec, null, 2) + '\n';
  }
  const state = rec.failed ? `Stalled (${rec.failed.code})` : opts.noop ? 'Ready (no change)' : 'Ready';
  const message = [
    `${rec.trigger} ${rec.service}: ${state}`,
    '',
    `Gitml-Service: ${rec.service}`,
    `Gitml-Revision: ${rec.revision}`,
    ...rec.versions.map((v) => `Gitml-Version: ${v.version} (${v.role}, ${v.weight}%)`),
  ].join('\n');
  const r = await writeStatus({ dir, files, message });
  return { commit: r.commit };
}
