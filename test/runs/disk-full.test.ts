/**
 * A full disk, for real: the repository lives on a 4 MiB tmpfs that the test fills. Needs root
 * (mount); CI runs as root. Where tmpfs cannot be mounted the test is skipped, loudly.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isGitmlError } from '../../core/errors.js';
import { listRuns } from '../../core/runs/list.js';
import { recordRun } from '../../core/runs/record.js';
import { startDaemon } from '../daemon/support.js';
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

  test('the daemon on a full disk: the run that cannot be recorded is logged, the daemon serves on, history stays valid; with room again that run is recorded failed, its entry settled, and the next commit runs', async () => {
    const d = startDaemon(dir, ['--interval', '1s', '--reconcile', '0']);
    try {
      await d.waitFor((e) => e.event === 'ready');
      // A commit whose run logs ~270 KB: the commit itself fits in what is left, its record does not.
      appendFileSync(path.join(dir, 'src/train.py'), '\nimport base64\nprint(base64.b64encode(os.urandom(200000)).decode())\n');
      fill(96);
      git(dir, 'commit', '-qam', 'train: a big log');
      const done = await d.waitFor((e) => e.event === 'run-error' || e.event === 'run-finished', 120_000);
      expect(done).toMatchObject({ event: 'run-error', error: { code: 'DISK_FULL' } });
      expect(d.child.exitCode).toBeNull();
      expect(fsckClean(dir).status, fsckClean(dir).stderr).toBe(0);
      // Nothing fits: the branch shows it running, as far as it got, and stays valid.
      const head = git(dir, 'rev-parse', 'HEAD');
      const runOf = () => (JSON.parse(gitml(dir, ['runs', '--json']).stdout).runs as Array<{ id: string; status: string; error?: string; source: { commit: string } }>).find((r) => r.source.commit === head);
      expect(runOf()?.status).toBe('running');
      // Room again: the daemon records that run failed, saying why, and settles its queue entry.
      unfill();
      const settled = await d.waitFor((e) => e.event === 'settled' && e.runId !== undefined, 60_000);
      const big = runOf();
      expect(big).toMatchObject({ id: settled.runId, status: 'failed', error: expect.stringMatching(/the disk was full when the run ended/) });
      // And it never stopped: the next commit runs and is recorded.
      const from = d.events.length;
      appendFileSync(path.join(dir, 'src/train.py'), '# room again\n');
      git(dir, 'commit', '-qam', 'train: room again');
      const ok = await d.waitFor((e) => e.event === 'run-finished', 120_000, from);
      expect(ok.status).toBe('completed');
      const q = JSON.parse(gitml(dir, ['queue', 'list', '--json']).stdout) as { entries: Array<{ state: string; runId?: string }> } | Array<{ state: string; runId?: string }>;
      const entries = Array.isArray(q) ? q : q.entries;
      expect(entries.filter((e) => e.state === 'running' || e.state === 'queued')).toEqual([]);
      expect(entries.find((e) => e.runId === big!.id)?.state).toBe('failed');
      expect(fsckClean(dir).status).toBe(0);
    } finally {
      unfill();
      await d.stop();
    }
    expect(d.child.exitCode).toBe(0);
  }, 300_000);
});
