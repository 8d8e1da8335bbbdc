/**
 * Keeping the repository packed while runs are recorded. Every record writes about nine loose
 * objects; left alone, 10,000 runs made 42,805 loose objects (215 MiB, 9.2 MiB once packed),
 * and git's own `gc --auto`, started in the background, gave up with `.git/gc.log` ("too many
 * unreachable loose objects") and then skipped automatic gc for a day.
 *
 * Instead, when the loose objects pass a threshold (estimated as git does, from one of the 256
 * fan-out folders), gitml starts `git repack -d --geometric=2 --write-midx` in the background:
 * loose objects and the small packs go into one new pack so that each pack holds at least twice
 * the objects of the next smaller one; big packs are left alone, so a pass costs what was added
 * lately, not the whole history. `git maintenance run --task=incremental-repack`, used before,
 * repacks every pack but the largest on each pass: at 60,000 runs each pass rewrote an 83 MB
 * pack (every ~220 runs), so packing cost grew with the history and slowed recording down.
 * Geometric repacking never prunes unreachable objects (loose ones are rolled up whatever their
 * reachability), so it cannot race a writer that has written objects but not yet moved its ref;
 * it never writes gc.log, and git's automatic gc stays as the user configured it. One pass at a
 * time per repository: `objects/gitml-pack.lock`, taken exclusively here and removed by the
 * shell that runs the repack when it ends; the lock names that shell's pid, so one a killed pass
 * leaves is cleared as soon as that process is gone (or after 10 minutes, whatever it says).
 */
import { closeSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { pidAlive } from '../pid.js';
import { childProcess } from './git/builtins.js';
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

/** The lock of a packing pass in `objectsDir`. */
export const packLockFile = (objectsDir: string) => path.join(objectsDir, 'gitml-pack.lock');

const STALE_LOCK_MS = 10 * 60_000;

function takeLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false;
      try {
        const pid = Number(readFileSync(file, 'utf8').trim());
        const dead = Number.isInteger(pid) && pid > 0 && !pidAlive(pid);
        if (!dead && Date.now() - statSync(file).mtimeMs < STALE_LOCK_MS) return false;
        unlinkSync(file);
      } catch {
        /* removed meanwhile: try again */
      }
    }
  }
  return false;
}

// A fixed script; the lock path is its only argument ("$1"), never part of the script.
const REPACK = 'git repack -d -q --geometric=2 --write-midx; rm -f -- "$1"';

/** Start background packing when it is due; never throws (packing is an optimisation). */
export function maybePack(dir: string, objectsDir: string, opts: { enabled?: boolean; env?: NodeJS.ProcessEnv } = {}): boolean {
  const env = opts.env ?? process.env;
  if (opts.enabled === false || env.GITML_AUTO_GC === '0') return false;
  if (estimateLoose(objectsDir) < packThreshold(env)) return false;
  return startPack(dir, objectsDir) !== undefined;
}

/**
 * Start one packing pass in the background unless one is running; returns the pid of its process
 * group (the shell, git repack and git pack-objects), or undefined.
 */
export function startPack(dir: string, objectsDir: string): number | undefined {
  const lock = packLockFile(objectsDir);
  if (!takeLock(lock)) return undefined;
  try {
    const child = childProcess().spawn('sh', ['-c', REPACK, 'gitml-pack', lock], { cwd: dir, stdio: 'ignore', detached: true });
    // The shell owns the lock from here (had its pass already ended, the lock now names a dead
    // process, and the next pass clears it).
    if (child.pid) writeFileSync(lock, `${child.pid}\n`);
    child.on('error', () => {
      try {
        unlinkSync(lock);
      } catch {
        /* gone */
      }
    });
    child.unref();
    return child.pid;
  } catch {
    try {
      unlinkSync(lock);
    } catch {
      /* gone */
    }
    return undefined;
  }
}
