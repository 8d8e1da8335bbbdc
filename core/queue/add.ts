/**
 * `gitml queue add`: enqueue an experiment at a commit, once per params combination. The
 * experiment, its compute target and every combination's params are checked against the
 * commit's entities before anything is queued, so a typo queues nothing.
 *
 * @example
 *   await addToQueue({ dir, experiment: 'train', params: { epochs: '5' }, sweep: { lr: ['0.1', '0.5'] } });
 *   // two entries: lr=0.1 and lr=0.5, each with epochs=5
 */
import { GitmlError } from '../errors.js';
import { prepareRun } from '../run/run-experiment.js';
import { resolveParams } from '../run/params.js';
import type { Entities } from '../entities/types.js';
import type { ParamValue } from '../runs/types.js';
import { enqueue } from './enqueue.js';
import type { QueueEntry } from './types.js';

/** The largest grid one `queue add` may enqueue (a typo in a sweep should not queue a million runs). */
export const MAX_SWEEP = 1000;

/**
 * Pure: every combination of the swept values over `base`, in a stable order (the first
 * swept name varies slowest).
 *
 * @example sweepGrid({ e: '1' }, { lr: ['0.1', '0.5'], d: ['2', '3'] }).length // 4
 */
export function sweepGrid(base: Record<string, string>, sweep: Record<string, string[]>): Array<Record<string, string>> {
  let grid: Array<Record<string, string>> = [{ ...base }];
  for (const [name, values] of Object.entries(sweep)) {
    if (Object.prototype.hasOwnProperty.call(base, name)) throw new GitmlError('USAGE', `${name} is given both with --param and with --sweep: keep one`, { param: name });
    const uniq = [...new Set(values)];
    if (!uniq.length || uniq.some((v) => v === '')) throw new GitmlError('USAGE', `--sweep ${name}= needs a comma-separated list of values`, { param: name });
    grid = grid.flatMap((g) => uniq.map((v) => ({ ...g, [name]: v })));
    if (grid.length > MAX_SWEEP) throw new GitmlError('USAGE', `the sweep has more than ${MAX_SWEEP} combinations: narrow it`, { max: MAX_SWEEP });
  }
  return grid;
}

export interface AddToQueueOptions {
  dir: string;
  experiment: string;
  /** Commit, branch or tag (default HEAD). */
  rev?: string;
  params?: Record<string, string>;
  sweep?: Record<string, string[]>;
  trigger?: QueueEntry['trigger'];
  /** A retraining on drift: registered (and promoted) by the worker when its run completes. */
  retrain?: QueueEntry['retrain'];
  /** Branch to record (default: the current branch when rev is HEAD). */
  branch?: string;
  /**
   * The entities already read at `rev`, a full commit id (the daemon has them from deciding
   * what the commit affects): the entry is made from them without preparing a run, which
   * reads the working tree's state and the entities again. Checked again when the run starts.
   */
  entities?: Entities;
}

export async function addToQueue(o: AddToQueueOptions): Promise<Array<{ entry: QueueEntry; added: boolean }>> {
  const grid = sweepGrid(o.params ?? {}, o.sweep ?? {});
  if (o.entities && o.rev && /^[0-9a-f]{40,64}$/.test(o.rev) && o.entities.dir) return fromEntities(o, o.entities, o.rev, grid);
  // The first combination checks everything else (revision, experiment, compute, command).
  const prep = await prepareRun({ dir: o.dir, experiment: o.experiment, rev: o.rev ?? 'HEAD', params: grid[0] as Record<string, ParamValue> });
  const combos = grid.map((g) => resolveParams({ experiment: prep.experiment.spec, given: g, experimentName: prep.experiment.name }));
  const branch = o.branch ?? (o.rev === undefined || o.rev === 'HEAD' ? await currentBranch(prep.repoDir) : undefined);
  const out: Array<{ entry: QueueEntry; added: boolean }> = [];
  for (const params of combos) {
    out.push(
      await enqueue({
        dir: prep.repoDir,
        experiment: prep.experiment.name,
        commit: prep.commit,
        branch,
        params,
        compute: prep.compute.name,
        concurrency: prep.compute.spec.concurrency ?? 1,
        trigger: o.trigger ?? { kind: 'queue' },
        ...(o.retrain ? { retrain: o.retrain } : {}),
      }),
    );
  }
  return out;
}

async function fromEntities(o: AddToQueueOptions, ents: Entities, commit: string, grid: Array<Record<string, string>>): Promise<Array<{ entry: QueueEntry; added: boolean }>> {
  const { resolveExperiment } = await import('../entities/load.js');
  const r = resolveExperiment(ents, o.experiment);
  const compute = r.compute ? ents.compute.get(r.compute) : undefined;
  if (!compute) {
    throw new GitmlError('UNKNOWN_ENTITY', `experiment ${r.experiment.name} names no compute target gitml/compute/ defines (${JSON.stringify(r.compute ?? null)})`, { kind: 'ComputeTarget', name: r.compute });
  }
  const out: Array<{ entry: QueueEntry; added: boolean }> = [];
  for (const g of grid) {
    const params = resolveParams({ experiment: r.experiment.spec, given: g, experimentName: r.experiment.name });
    out.push(await enqueue({ dir: o.dir, experiment: r.experiment.name, commit, branch: o.branch, params, compute: compute.name, concurrency: compute.spec.concurrency ?? 1, trigger: o.trigger ?? { kind: 'queue' } }));
  }
  return out;
}

async function currentBranch(dir: string): Promise<string | undefined> {
  const { runGit } = await import('../git.js');
  const r = await runGit(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}
