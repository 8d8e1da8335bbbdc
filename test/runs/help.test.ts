import { expect, test } from 'vitest';
import { gitml } from '../support/repo.js';

/** The runs, push and pull help is their contract: a snapshot, so a change to it shows in review. */
test.each([['runs'], ['runs', 'list'], ['runs', 'show'], ['runs', 'compare'], ['runs', 'logs'], ['runs', 'metrics'], ['push'], ['pull']])(
  'gitml %s --help',
  (...args: string[]) => {
    const r = gitml(process.cwd(), [...args, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatchSnapshot();
  },
);
