import { expect, test } from 'vitest';
import { isRunId, newRunId, runIdTime } from '../../core/runs/id.js';

test('run ids encode their time, sort by it, and stay strictly increasing within a millisecond', () => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const a = newRunId(clock);
  const b = newRunId(clock); // same millisecond
  now += 1;
  const c = newRunId(clock);
  now -= 5; // clock stepped back
  const d = newRunId(clock);
  for (const id of [a, b, c, d]) expect(isRunId(id)).toBe(true);
  expect(runIdTime(a)).toBe(1_700_000_000_000);
  expect(runIdTime(c)).toBe(1_700_000_000_001);
  expect([a, b, c, d]).toEqual([a, b, c, d].slice().sort());
  expect(new Set([a, b, c, d]).size).toBe(4);
  expect(a.slice(0, 10)).toBe(b.slice(0, 10));
});

test('2,000 ids in one millisecond are unique and ordered; bad ids are refused', () => {
  const ids = new Set<string>();
  const fixed = () => 1_800_000_000_000;
  for (let i = 0; i < 2000; i++) ids.add(newRunId(fixed));
  expect(ids.size).toBe(2000);
  expect([...ids]).toEqual([...ids].sort());
  expect(() => runIdTime('not-an-id')).toThrow();
});
