// The repository stays packed while runs are recorded through recordRun: background geometric
// `git repack` keeps the loose objects and the number of packs bounded,
// never writes gc.log, and leaves every run readable and git fsck clean.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { recordRun } from '../../core/runs/record.js';
import { estimateLoose, packLockFile, startPack } from '../../core/runs/pack.js';
import { listRuns } from '../../core/runs/list.js';
import { pidAlive } from '../../core/pid.js';
import { newRunId } from '../../core/runs/id.js';
import { record, WORKSPACE_FILES } from '../registry/fixtures.js';
import { git, makeRepo, removeDir } from '../support/repo.js';

function looseCount(dir: string): number {
  const line = git(dir, 'count-objects', '-v').split('\n').find((l) => l.startsWith('count:'))!;
  return Number(line.split(':')[1]);
}

describe('packing while recording', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));

  test('600 runs with a low threshold: loose objects stay bounded, no gc.log, every run kept, fsck clean', async () => {
    const dir = makeRepo(WORKSPACE_FILES);
    dirs.push(dir);
    const prev = process.env.GITML_PACK_LOOSE_OBJECTS;
    process.env.GITML_PACK_LOOSE_OBJECTS = '512';
    delete process.env.GITML_AUTO_GC;
    const ids: string[] = [];
    try {
      for (let i = 0; i < 600; i++) {
        const id = newRunId();
        ids.push(id);
        await recordRun({ dir, record: record({ id, params: { i } }) });
      }
    } finally {
      if (prev === undefined) delete process.env.GITML_PACK_LOOSE_OBJECTS;
      else process.env.GITML_PACK_LOOSE_OBJECTS = prev;
    }
    // A background pass may still be finishing: wait for its lock to go.
    const lock = packLockFile(path.join(dir, '.git/objects'));
    for (let i = 0; i < 100 && existsSync(lock); i++) await new Promise((r) => setTimeout(r, 100));
    // About nine objects a run: unpacked, 600 runs would leave over 5,000 loose objects.
    expect(looseCount(dir)).toBeLessThan(2500);
    const packs = Number(git(dir, 'count-objects', '-v').match(/packs: (\d+)/)![1]);
    expect(packs).toBeGreaterThan(0);
    // Geometric: each pack at least twice the next smaller, so a handful, not one per pass.
    expect(packs).toBeLessThanOrEqual(8);
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(path.join(dir, '.git/gc.log'))).toBe(false);
    expect(git(dir, 'fsck', '--no-progress', '--no-dangling')).toBe('');
    const recorded = git(dir, 'log', '--format=%(trailers:key=Gitml-Run,valueonly)', 'runs').split('\n').filter(Boolean);
    expect(new Set(recorded)).toEqual(new Set(ids));
    expect(estimateLoose(path.join(dir, '.git/objects'))).toBeGreaterThanOrEqual(0);
  });

  test('a packing pass killed with SIGKILL at any point: the repository stays valid, fsck clean, no run lost; the next pass clears its lock and packs', async () => {
    const dir = makeRepo(WORKSPACE_FILES);
    dirs.push(dir);
    const prev = process.env.GITML_AUTO_GC;
    process.env.GITML_AUTO_GC = '0';
    const ids: string[] = [];
    try {
      for (let i = 0; i < 150; i++) {
        const id = newRunId();
        ids.push(id);
        await recordRun({ dir, record: record({ id, params: { i } }) });
      }
    } finally {
      if (prev === undefined) delete process.env.GITML_AUTO_GC;
      else process.env.GITML_AUTO_GC = prev;
    }
    const objects = path.join(dir, '.git/objects');
    const lock = packLockFile(objects);
    const before = looseCount(dir);
    expect(before).toBeGreaterThan(1000);
    const check = async () => {
      expect(git(dir, 'fsck', '--no-progress', '--no-dangling')).toBe('');
      const recorded = git(dir, 'log', '--format=%(trailers:key=Gitml-Run,valueonly)', 'runs').split('\n').filter(Boolean);
      expect(new Set(recorded)).toEqual(new Set(ids));
      expect((await listRuns({ dir })).recorded).toBe(ids.length);
    };
    for (const delay of [0, 40, 150, 400]) {
      const pid = startPack(dir, objects);
      expect(pid).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, delay));
      try {
        process.kill(-pid!, 'SIGKILL'); // the shell, git repack and git pack-objects
      } catch {
        /* the pass had already ended */
      }
      for (let i = 0; i < 100 && pidAlive(pid!); i++) await new Promise((r) => setTimeout(r, 20));
      await check();
    }
    // A pass left a lock naming a dead process: the next one clears it, runs and removes it.
    const pid = startPack(dir, objects);
    expect(pid).toBeGreaterThan(0);
    for (let i = 0; i < 600 && existsSync(lock); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(lock)).toBe(false);
    expect(looseCount(dir)).toBeLessThan(before / 4);
    await check();
  });
});
