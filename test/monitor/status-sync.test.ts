// The status branch travels with gitml push / gitml pull: two clones of one bare remote each
// record reports, and both end with every report (union merge), the newer latest.json winning.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeStatus } from '../../core/status/branch.js';
import { git, gitml, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { WORKSPACE_FILES } from '../registry/fixtures.js';

describe('status branch sync', () => {
  const dirs: string[] = [];
  let remote: string;
  let a: string;
  let b: string;

  beforeAll(() => {
    a = makeRepo(WORKSPACE_FILES);
    remote = tmpDir('gitml-status-remote-');
    git(remote, 'init', '-q', '--bare');
    git(a, 'remote', 'add', 'origin', remote);
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    b = tmpDir('gitml-status-b-');
    git(b, 'clone', '-q', remote, '.');
    dirs.push(a, b, remote);
  });
  afterAll(() => dirs.forEach(removeDir));

  test('push, pull, concurrent reports on both sides merged; a remote without the branch is fine', async () => {
    // Nothing yet on either side.
    const none = JSON.parse(gitml(b, ['pull', '--json']).stdout);
    expect(none.status).toMatchObject({ branch: 'gitml-status', action: 'none' });

    await writeStatus({ dir: a, files: { 'monitor/iris/reports/2026-12/a1.json': '{"id":"a1"}\n', 'monitor/iris/latest.json': '{"id":"a1"}\n' }, message: 'monitor iris: a1', clock: () => 1_000_000 });
    const pa = JSON.parse(gitml(a, ['push', '--json']).stdout);
    expect(pa.status).toMatchObject({ pushed: true });
    expect(git(remote, 'show', 'gitml-status:monitor/iris/latest.json')).toBe('{"id":"a1"}');

    const pb = JSON.parse(gitml(b, ['pull', '--json']).stdout);
    expect(pb.status.action).toBe('fast-forward');
    expect(git(b, 'show', 'gitml-status:monitor/iris/reports/2026-12/a1.json')).toBe('{"id":"a1"}');

    // Diverge: a records a2 (older), b records b1 (newer); b pushes first, a's push merges.
    await writeStatus({ dir: a, files: { 'monitor/iris/reports/2026-12/a2.json': '{"id":"a2"}\n', 'monitor/iris/latest.json': '{"id":"a2"}\n' }, message: 'monitor iris: a2', clock: () => 2_000_000 });
    await writeStatus({ dir: b, files: { 'monitor/iris/reports/2026-12/b1.json': '{"id":"b1"}\n', 'monitor/iris/latest.json': '{"id":"b1"}\n' }, message: 'monitor iris: b1', clock: () => 3_000_000 });
    expect(JSON.parse(gitml(b, ['push', '--json']).stdout).status.pushed).toBe(true);
    const again = JSON.parse(gitml(a, ['push', '--json']).stdout);
    expect(again.status).toMatchObject({ pushed: true, action: 'merge' });
    const files = git(remote, 'ls-tree', '-r', '--name-only', 'gitml-status').split('\n');
    expect(files).toEqual(['monitor/iris/latest.json', 'monitor/iris/reports/2026-12/a1.json', 'monitor/iris/reports/2026-12/a2.json', 'monitor/iris/reports/2026-12/b1.json']);
    expect(git(remote, 'show', 'gitml-status:monitor/iris/latest.json')).toBe('{"id":"b1"}');
    // b catches up by fast-forward onto the merge
    expect(JSON.parse(gitml(b, ['pull', '--json']).stdout).status.action).toBe('fast-forward');
    expect(git(b, 'rev-parse', 'gitml-status')).toBe(git(remote, 'rev-parse', 'gitml-status'));
    // the user's branch and working tree were never touched
    expect(git(a, 'status', '--porcelain')).toBe('');
    expect(git(a, 'rev-parse', '--abbrev-ref', 'HEAD')).not.toBe('gitml-status');
  });
});
