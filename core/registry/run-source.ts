/**
 * The `getRun` used when none is injected: the runs store's (core/runs/get.ts), which finds a
 * run by id (or unique prefix) and the runs-branch commit that last recorded it.
 */
import type { Entities } from '../entities/types.js';
import type { GetRun } from './runs.js';

export async function defaultGetRun(_ents?: Entities): Promise<GetRun> {
  const { getRun } = await import('../runs/get.js');
  return (o) => getRun(o);
}
