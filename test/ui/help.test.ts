import { expect, test } from 'vitest';
import { gitml } from '../support/repo.js';

/** The contract of `gitml ui --help`, visible in review. */
test('gitml ui --help', () => {
  const r = gitml(process.cwd(), ['ui', '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatchSnapshot();
});
