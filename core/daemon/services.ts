/**
 * Tags deploy: the daemon hands services to the reconciler (`core/services/reconcile.ts`)
 * when a model's version or stage tags change (the services that follow that model), and
 * every service on a timer (a killed replica comes back). Deploys run one at a time in the
 * background, so a deploy never waits for a training run and a run never waits for a build.
 *
 * @example
 *   const d = new ServiceReconciler({ dir, log, rev: () => 'refs/remotes/origin/main' });
 *   d.request('all', 'periodic'); await d.idle();
 */
import { isGitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { loadEntities } from '../entities/load.js';
import { parseTag } from '../registry/grammar.js';
import { defaultBranch } from '../services/desired.js';
import type { DaemonEvent } from './daemon.js';

/** Model tags (GTO's grammar) by name → object id. */
export async function modelTags(dir: string): Promise<Record<string, string>> {
  const r = await runGit(dir, ['for-each-ref', '--format=%(objectname) %(refname:strip=2)', 'refs/tags/']);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0 && parseTag(line.slice(sp + 1))) out[line.slice(sp + 1)] = line.slice(0, sp);
  }
  return out;
}

/** The models whose tags were created, moved or deleted between two snapshots. */
export function changedModels(before: Record<string, string>, after: Record<string, string>): { models: string[]; tags: string[] } {
  const tags = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((t) => before[t] !== after[t]).sort();
  return { models: [...new Set(tags.map((t) => parseTag(t)!.name))].sort(), tags };
}

const errInfo = (e: unknown) => (isGitmlError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) });

export interface ReconcilerOptions {
  dir: string;
  log: (e: DaemonEvent) => void;
  /** The revision whose services YAML is deployed (undefined: the reconciler's default, the default branch). */
  rev: () => Promise<string | undefined>;
  env?: NodeJS.ProcessEnv;
}

type Want = { all: boolean; models: Set<string>; reasons: Set<string> };

export class ServiceReconciler {
  private want: Want | undefined;
  private running: Promise<void> | undefined;
  /** The last error per service, so a periodic pass says a lasting failure once, not every time. */
  private lastError = new Map<string, string>();

  constructor(private readonly o: ReconcilerOptions) {}

  /** Reconcile the services following `models` (or all of them); requests made while one deploys are merged into the next. */
  request(models: string[] | 'all', reason: string): void {
    const w = (this.want ??= { all: false, models: new Set(), reasons: new Set() });
    if (models === 'all') w.all = true;
    else for (const m of models) w.models.add(m);
    w.reasons.add(reason);
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async loop(): Promise<void> {
    while (this.want) {
      const w = this.want;
      this.want = undefined;
      await this.once(w).catch((e: unknown) => this.o.log({ event: 'deploy-failed', reason: [...w.reasons].join(','), error: errInfo(e) }));
    }
  }

  private async once(w: Want): Promise<void> {
    const rev = await this.o.rev();
    const loaded = await loadEntities({ dir: this.o.dir, rev: rev ?? (await defaultBranch(this.o.dir)) });
    // Invalid YAML at the revision: the commit scan reports it; nothing to deploy from it.
    if (!loaded.value) return;
    const names = [...loaded.value.services.values()].filter((s) => w.all || w.models.has(s.spec.model)).map((s) => s.name).sort();
    if (!names.length) return;
    const periodicOnly = w.reasons.size === 1 && w.reasons.has('periodic');
    const reason = [...w.reasons].join(',');
    if (!periodicOnly) this.o.log({ event: 'deploy', services: names, reason });
    const { deploy } = await import('../services/reconcile.js');
    const r = await deploy({ dir: this.o.dir, services: names, rev, trigger: 'daemon', env: this.o.env });
    for (const s of r.services) {
      if (s.error) {
        const msg = `${s.error.code}: ${s.error.message}`;
        if (!periodicOnly || this.lastError.get(s.name) !== msg) this.o.log({ event: 'deploy-failed', service: s.name, reason, error: s.error });
        this.lastError.set(s.name, msg);
        continue;
      }
      this.lastError.delete(s.name);
      const ready = s.outcome?.conditions.find((c) => c.type === 'Ready');
      if (!s.noop || !periodicOnly) this.o.log({ event: 'deployed', service: s.name, reason, noop: s.noop, plan: s.plan, ready: ready?.status ?? null, ...(s.url ? { url: s.url } : {}) });
    }
  }
}
