/**
 * A full disk, for real: the repository lives on a 4 MiB tmpfs that the test fills. Needs root
 * (mount); CI runs as root. Where tmpfs cannot be mounted the test is skipped, loudly.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isGitmlError } from '../../core/errors.js';
import { listRuns } from '../../core/runs/list.js';
import { recordRun } from '../../core/runs/record.js';
import { git, gitml, tmpDir } from '../support/repo.js';
import { rec } from './helpers.js';

const mountPoint = tmpDir('gitml-diskfull-');
const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]).status === 0;
if (!mounted) console.warn(`disk-full tests SKIPPED: cannot mount a tmpfs at ${mountPoint} (needs root)`);

/** Fill the file system until `leaveKb` KiB are free. */
function fill(leaveKb: number): void {
  const st = statfsSync(mountPoint);
  const free = st.bavail * st.bsize;
  writeFileSync(path.join(mountPoint, 'fill'), Buffer.alloc(Math.max(0, free - leaveKb * 1024)), { flag: 'a' });
}
const unfill = () => rmSync(path.join(mountPoint, 'fill'), { force: true });
const fsckClean = (dir: string) => spawnSync('git', ['fsck', '--no-dangling'], { cwd: dir, encoding: 'utf8' });

describe.skipIf(!mounted)('a full disk', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(mountPoint, 'repo');
    mkdirSync(dir);
    const r = gitml(mountPoint, ['init', dir, '--template', 'python']);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => {
    spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  test('recording a run that does not fit fails with DISK_FULL and leaves the branch as it was; it records once there is room', async () => {
    const first = await recordRun({ dir, record: rec() });
    fill(16);
    const tip = git(dir, 'rev-parse', 'runs');
    const big = rec();
    const err = await recordRun({ dir, record: big, logs: randomBytes(256 * 1024).toString('base64') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGitmlError(err, 'DISK_FULL'), String(err)).toBe(true);
    expect(git(dir, 'rev-parse', 'runs')).toBe(tip);
    expect(fsckClean(dir).status, fsckClean(dir).stderr).toBe(0);
    unfill();
    await recordRun({ dir, record: big, logs: 'now it fits\n' });
    const ids = (await listRuns({ dir })).runs.map((r) => r.id);
    expect(ids).toEqual(expect.arrayContaining([first.record.id, big.id]));
  });

  test('gitml run on a full disk: one line, exit 3, no stack trace; history intact, and runs go on once there is room', () => {
    fill(0);
    const before = git(dir, 'rev-parse', 'runs');
    const r = gitml(dir, ['run', 'train']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^error: no space left on the device.*free some space and run again/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(git(dir, 'rev-parse', 'runs')).toBe(before);
    expect(fsckClean(dir).status).toBe(0);
    unfill();
    const again = gitml(dir, ['run', 'train', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).status).toBe('completed');
  });
});
