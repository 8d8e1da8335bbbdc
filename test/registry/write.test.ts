/**
 * writeTag orders a model's events as GTO will (by their whole-second time): a tag that
 * follows one stamped in this second, or ahead of this clock (another machine's), is stamped
 * one second after it, at once; otherwise it gets the current time.
 */
import { afterAll, expect, test } from 'vitest';
import { writeTag } from '../../core/registry/write.js';
import { git, removeDir } from '../support/repo.js';
import { makeRegistryRepo } from './fixtures.js';

const dir = makeRegistryRepo();
afterAll(() => removeDir(dir));
const head = () => git(dir, 'rev-parse', 'HEAD').trim();
const stamp = (tag: string) => Number(git(dir, 'for-each-ref', '--format=%(taggerdate:unix)', `refs/tags/${tag}`).trim());

test('after a tag stamped 60 s ahead: stamped just after it, without waiting for the clock', async () => {
  const ahead = Math.floor(Date.now() / 1000) + 60;
  const t = Date.now();
  const r = await writeTag({ dir, tag: 'iris#staging#1', commit: head(), message: 'Promote', after: ahead });
  expect(Date.now() - t).toBeLessThan(10_000);
  expect(stamp(r.tag)).toBe(ahead + 1);
  expect(git(dir, 'rev-parse', `${r.tag}^{commit}`).trim()).toBe(head());
});

test('after a tag of this second: the next second; after an older one: now', async () => {
  const now = Math.floor(Date.now() / 1000);
  await writeTag({ dir, tag: 'iris#staging#2', commit: head(), message: 'Promote', after: now });
  expect(stamp('iris#staging#2')).toBeGreaterThan(now);
  const before = Math.floor(Date.now() / 1000);
  await writeTag({ dir, tag: 'iris#staging#3', commit: head(), message: 'Promote', after: before - 100 });
  expect(stamp('iris#staging#3')).toBeGreaterThanOrEqual(before);
  expect(stamp('iris#staging#3')).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
});
