/**
 * The fast paths of `gitml runs` give the answers of the plain ones:
 * - numberRange (list.ts: numeric --where conditions tested inline over a column) decides
 *   every number as compileCondition (query.ts) does;
 * - writeJsonListing (output.ts: pretty-printing the index's stored JSON text without parsing
 *   it) writes the bytes printJson writes for the same records, whatever they hold.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { compileCondition, parseWhere, type Op } from '../../core/runs/query.js';
import { inRange, numberRange } from '../../core/runs/list.js';
import { printJson, writeJsonListing } from '../../cli/output.js';

describe('numberRange decides numbers as compileCondition does', () => {
  const OPS: Op[] = ['=', '!=', '>', '>=', '<', '<=', '~'];
  const VALUES = ['0', '-0', '1', '0.5', '-2.5', '1e3', ' 7 ', '0x10', 'abc', '1.0', '9007199254740993'];
  const NUMBERS = [0, -0, 1, 0.5, 0.4999999, 0.5000001, -2.5, 1000, 7, 16, 1.0, 9007199254740992, NaN, Infinity, -Infinity, Number.MIN_VALUE, -1e300];

  test.each(OPS)('op %s', (op) => {
    for (const value of VALUES) {
      const key = 'params.x';
      const c = parseWhere(`${key}${op}${value}`);
      const f = compileCondition(c);
      const r = numberRange(c);
      // Only comparisons with a numeric value have a range; the rest keep compileCondition.
      if (op === '~' || !Number.isFinite(Number(c.value)) || c.value.trim() === '') {
        expect(r).toBeUndefined();
        continue;
      }
      expect(r).toBeDefined();
      for (const a of NUMBERS) expect({ c, a, fast: inRange(r!, a) }).toEqual({ c, a, fast: f(a) });
    }
  });
});

describe('writeJsonListing writes what printJson writes', () => {
  let out: string[] = [];
  afterEach(() => vi.restoreAllMocks());
  function capture(fn: () => void): string {
    out = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write);
    fn();
    vi.restoreAllMocks();
    return out.join('');
  }

  const tricky = (i: number): Record<string, unknown> => ({
    id: `run-${i}`,
    text: 'braces {} [] , : and "quotes" \\ backslash \\" \n newline \t tab \u0001 ctl',
    unicode: 'é 日本 🎉 \u2028 \u202e',
    empty: {},
    none: [],
    nested: { a: [1, [2, [3, {}]], { b: null, c: [[]] }], d: { e: { f: { g: 'deep' } } } },
    numbers: [0, -1.5, 1e21, 1e-7, 123456789012345680000, Number.MAX_SAFE_INTEGER],
    bools: [true, false, null],
    '': 'empty key',
    'key with "quote"': i,
  });

  function check(records: Record<string, unknown>[], problems: unknown[] = []): void {
    const want = capture(() => printJson({ runs: records, problems, total: records.length + 3 }));
    const got = capture(() => writeJsonListing({ runs: records.map((r) => Buffer.from(JSON.stringify(r))), problems, total: records.length + 3 }));
    expect(got).toBe(want);
  }

  test('no runs, a few (the parsing path), many (the copying path), with problems', () => {
    check([]);
    check([tricky(0)], [{ path: 'train/x', message: 'run.json is "bad"' }]);
    check(Array.from({ length: 300 }, (_, i) => tricky(i)));
    check(Array.from({ length: 300 }, (_, i) => tricky(i)), [{ path: 'a', message: 'b' }, { path: 'c', message: 'd' }]);
  });

  test('rows bigger than a chunk, and nested deeper than its slack, still come out right', () => {
    const big = (i: number) => ({ ...tricky(i), blob: 'x'.repeat(3 << 20), list: Array.from({ length: 40_000 }, (_, k) => ({ k })) });
    let deep: unknown = 'bottom';
    for (let d = 0; d < 1500; d++) deep = [deep];
    check([...Array.from({ length: 70 }, (_, i) => tricky(i)), big(1), tricky(71), { id: 'deep', deep }, big(2)]);
  });
});
