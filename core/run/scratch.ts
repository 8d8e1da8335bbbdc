/**
 * Where a run's scratch files live on the host: the exported commit tree, the outputs folder
 * and the metrics file. Local and Spark targets run the process right there, so their
 * layout is this; container targets copy `code` into their own filesystem.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ComputeTarget, Loaded } from '../entities/types.js';

export interface RunScratch {
  /** Folder of this run's scratch files (removed after the run is recorded). */
  base: string;
  code: string;
  outputs: string;
  metrics: string;
}

/** Scratch folders for `runId`: under the local compute's `workdir` (relative to the repository) or the system temp folder. */
export function runScratch(opts: { runId: string; compute?: Loaded<ComputeTarget>; repoDir?: string; baseDir?: string }): RunScratch {
  let root = opts.baseDir ?? path.join(tmpdir(), 'gitml-runs');
  const spec = opts.compute?.spec;
  if (!opts.baseDir && spec && spec.type === 'local' && spec.workdir) root = path.resolve(opts.repoDir ?? process.cwd(), spec.workdir);
  const base = path.join(root, opts.runId);
  return { base, code: path.join(base, 'code'), outputs: path.join(base, 'outputs'), metrics: path.join(base, 'metrics.jsonl') };
}
