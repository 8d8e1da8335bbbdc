/**
 * Keeping the repository packed while runs are recorded. Every record writes about nine loose
 * objects; left alone, 10,000 runs made 42,805 loose objects (215 MiB, 9.2 MiB once packed),
 * and git's own `gc --auto`, started in the background, gave up with `.git/gc.log` ("too many
 * unreachable loose objects") and then skipped automatic gc for a day.
 *
 * Instead, when the loose objects pass a threshold (estimated as git does, from one of the 256
 * fan-out folders), gitml starts `git maintenance run --task=loose-objects
 * --task=incremental-repack` in the background: loose objects already in a pack are deleted,
 * the others go into one new pack, and small packs are consolidated behind a multi-pack-index.
 * That never prunes unreachable objects (so it cannot race a writer that has written objects
 * but not yet moved its ref), takes git's own maintenance lock (a second start while one runs
 * exits at once), never writes gc.log, and git's automatic gc stays as the user configured it.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** Loose objects at which packing starts (GITML_PACK_LOOSE_OBJECTS overrides; git's gc.auto is 6700). */
export function packThreshold(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.GITML_PACK_LOOSE_OBJECTS);
  return Number.isInteger(v) && v > 0 ? v : 2000;
}

/** Loose objects, estimated from the objects/17 fan-out folder as `git gc --auto` estimates them. */
export function estimateLoose(objectsDir: string): number {
  try {
    return readdirSync(path.join(objectsDir, '17')).filter((n) => /^[0-9a-f]{38}$/.test(n)).length * 256;
  } catch {
    return 0;
  }
}

/** Start background packing when it is due; never throws (packing is an optimisation). */
export function maybePack(dir: string, objectsDir: string, opts: { enabled?: boolean; env?: NodeJS.ProcessEnv } = {}): boolean {
  const env = opts.env ?? process.env;
  if (opts.enabled === false || env.GITML_AUTO_GC === '0') return false;
  if (estimateLoose(objectsDir) < packThreshold(env)) return false;
  try {
    const child = spawn('git', ['maintenance', 'run', '--task=loose-objects', '--task=incremental-repack', '--quiet'], { cwd: dir, stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}
