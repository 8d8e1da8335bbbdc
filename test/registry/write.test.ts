/**
 * writeTag's wait for the next second (GTO orders events by their whole-second time): it is
 * bounded, also when the last tag is stamped in the future (a clock that was ahead, a tag
 * from another machine), and the tag is then written.
 */
import { afterAll, expect, test } from 'vitest';
import { writeTag } from '../../core/registry/write.js';
import { git, removeDir } from '../support/repo.js';
import { makeRegistryRepo } from './fixtures.js';

const dir = makeRegistryRepo();
afterAll(() => removeDir(dir));

test('a last tag 60 s in the future delays the next one by at most about 2 s, not until then', async () => {
  const head = git(dir, 'rev-parse', 'HEAD').trim();
  const t = Date.now();
  const r = await writeTag({ dir, tag: 'iris#staging#1', commit: head, message: 'Promote', after: Math.floor(Date.now() / 1000) + 60 });
  const waited = Date.now() - t;
  expect(waited).toBeGreaterThanOrEqual(1900);
  expect(waited).toBeLessThan(20_000);
  expect(git(dir, 'rev-parse', `${r.tag}^{commit}`).trim()).toBe(head);
});

test('a last tag in this second: the new one waits for the next second', async () => {
  const head = git(dir, 'rev-parse', 'HEAD').trim();
  const now = Math.floor(Date.now() / 1000);
  await writeTag({ dir, tag: 'iris#staging#2', commit: head, message: 'Promote', after: now });
  const stamp = Number(git(dir, 'for-each-ref', '--format=%(taggerdate:unix)', 'refs/tags/iris#staging#2').trim());
  expect(stamp).toBeGreaterThan(now);
});
