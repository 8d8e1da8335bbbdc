import { expect, test } from 'vitest';
import { gitml } from '../support/repo.js';

/** The artifacts commands' help is their contract: a snapshot, so a change to it shows in review. */
test.each([['artifacts'], ['artifacts', 'ls'], ['artifacts', 'get'], ['artifacts', 'gc']])('gitml %s --help', (...args: string[]) => {
  const r = gitml(process.cwd(), [...args, '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatchSnapshot();
});
