/**
 * The `getRun` used when none is injected: the runs store's, falling back to reading the runs
 * branch directly (a repository whose runs were written by another gitml version, or tests).
 */
import type { Entities } from '../entities/types.js';
import { branchGetRun, type GetRun } from './runs.js';

export async function defaultGetRun(ents?: Entities): Promise<GetRun> {
  return branchGetRun(ents?.workspace.spec.branches?.runs ?? 'runs');
}
