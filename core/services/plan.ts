/**
 * The pure heart of the reconciler: from what git wants and what runs, the ordered steps
 * that close the gap. Start-first: new replicas are started and waited for before traffic
 * moves, and old ones are removed only after. An empty plan means nothing changed (no-op).
 */
import type { ActualReplica, ActualService, DesiredService, Step } from './types.js';

export interface PlanOptions {
  /** remove a service whose YAML is gone (desired null). */
  prune?: boolean;
}

function sameWeights(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a).filter((k) => a[k] !== 0).sort();
  const kb = Object.keys(b).filter((k) => b[k] !== 0).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/**
 * The settings of a replica besides its version and image (resources, request sampling), as
 * one string: a replica started with other settings is replaced like one of another version.
 */
export function replicaSpec(d: DesiredService): string {
  return JSON.stringify({ cpu: d.resources.cpu ?? null, memory: d.resources.memory ?? null, sampleRate: d.sampleRate ?? 0 });
}

export function plan(name: string, desired: DesiredService | null, actual: ActualService | null, opts: PlanOptions = {}): Step[] {
  if (!desired) return actual && opts.prune ? [{ kind: 'delete-service', service: name }] : [];
  const steps: Step[] = [];
  const replicas = actual?.replicas ?? [];
  if (!actual || actual.port !== desired.port) steps.push({ kind: 'ensure-front', service: name, port: desired.port });

  const spec = replicaSpec(desired);
  const keep = new Set<ActualReplica>();
  const starts: Step[] = [];
  const waits: Step[] = [];
  for (const v of desired.versions) {
    const matching = replicas.filter((r) => r.version === v.version && r.image === v.image && r.role === v.role && r.ready && (r.spec === undefined || r.spec === spec));
    matching.slice(0, v.replicas).forEach((r) => keep.add(r));
    const missing = v.replicas - Math.min(matching.length, v.replicas);
    if (missing > 0) {
      starts.push({ kind: 'start-replicas', service: name, version: v.version, image: v.image, role: v.role, count: missing });
      waits.push({ kind: 'wait-ready', service: name, version: v.version, count: missing });
    }
  }
  steps.push(...starts, ...waits);

  const weights: Record<string, number> = {};
  for (const v of desired.versions) weights[v.version] = (weights[v.version] ?? 0) + v.weight;
  if (starts.length > 0 || !sameWeights(weights, actual?.weights ?? {})) steps.push({ kind: 'switch-traffic', service: name, weights });

  const stale = replicas.filter((r) => !keep.has(r));
  if (stale.length > 0) {
    steps.push({ kind: 'remove-replicas', service: name, ids: stale.map((r) => r.id), reason: 'not desired, surplus or not ready' });
  }
  return steps;
}

/** Human text for one step (`--dry-run`, progress). */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'ensure-front': return `${s.service}: proxy publishing port ${s.port}`;
    case 'start-replicas': return `${s.service}: start ${s.count} ${s.role} replica(s) of ${s.version} (${s.image})`;
    case 'wait-ready': return `${s.service}: wait until ${s.count} replica(s) of ${s.version} answer /v2/health/ready`;
    case 'switch-traffic': return `${s.service}: traffic ${Object.entries(s.weights).map(([v, w]) => `${v}=${w}%`).join(', ')}`;
    case 'remove-replicas': return `${s.service}: drain and remove ${s.ids.length} replica(s) (${s.reason})`;
    case 'delete-service': return `${s.service}: delete (its YAML is gone, --prune)`;
  }
}
