import { describe, expect, test } from 'vitest';
import { isGitmlError } from '../../core/errors.js';
import { TAG_TABLE } from './tag-table.js';
import { bumpVersion, compareVersions, formatTag, isValidVersion, parseModelRef, parseTag } from '../../core/registry/grammar.js';

describe('GTO tag grammar', () => {
  test.each(TAG_TABLE)('%s', (tag, expected) => {
    const p = parseTag(tag);
    if (expected === null) expect(p).toBeNull();
    else expect(p).toEqual({ tag, ...expected });
  });

  test('format then parse gives the same parts, for every accepted tag', () => {
    for (const [tag, expected] of TAG_TABLE) {
      if (!expected || expected.counter === 1) continue; // `#01` formats as `#1`
      const p = parseTag(tag)!;
      expect(formatTag(p as Parameters<typeof formatTag>[0])).toBe(tag);
    }
  });

  test.each([
    ['name with a dot', { action: 'register', name: 'ir.is', version: 'v1.0.0' }, 'MODEL'],
    ['version without v', { action: 'register', name: 'iris', version: '1.0.0' }, 'INVALID_VERSION'],
    ['partial version', { action: 'deregister', name: 'iris', version: 'v1.0' }, 'INVALID_VERSION'],
    ['stage ending in -', { action: 'assign', name: 'iris', stage: 'prod-' }, 'STAGE_NOT_ALLOWED'],
    ['stage with a space', { action: 'unassign', name: 'iris', stage: 'pro d' }, 'STAGE_NOT_ALLOWED'],
  ] as const)('formatTag refuses a %s', (_, parts, code) => {
    let err: unknown;
    try {
      formatTag(parts as Parameters<typeof formatTag>[0]);
    } catch (e) {
      err = e;
    }
    expect(isGitmlError(err) && err.code).toBe(code);
  });

  test('folder names become dir=name in tags', () => {
    expect(formatTag({ action: 'assign', name: 'models:iris', stage: 'prod', counter: 2 })).toBe('models=iris#prod#2');
  });
});

describe('versions', () => {
  test.each([
    ['v1.0.0', 'v1.0.1', -1],
    ['v1.10.0', 'v1.9.0', 1],
    ['v1.0.0-rc.1', 'v1.0.0', -1],
    ['v1.0.0-alpha', 'v1.0.0-alpha.1', -1],
    ['v1.0.0-alpha.1', 'v1.0.0-alpha.beta', -1],
    ['v1.0.0-beta.2', 'v1.0.0-beta.11', -1],
    ['v1.0.0-rc.1', 'v1.0.0-beta.11', 1],
    ['v1.0.0+build.1', 'v1.0.0+build.2', 0],
    ['v2.0.0', 'v2.0.0', 0],
  ])('%s vs %s', (a, b, sign) => {
    expect(compareVersions(a, b)).toBe(sign);
  });

  test.each([
    [undefined, 'patch', 'v0.0.1'],
    [undefined, 'minor', 'v0.1.0'],
    [undefined, 'major', 'v1.0.0'],
    ['v1.2.3', 'patch', 'v1.2.4'],
    ['v1.2.3', 'minor', 'v1.3.0'],
    ['v1.2.3', 'major', 'v2.0.0'],
    ['v1.2.3-rc.1+b', 'patch', 'v1.2.4'],
  ] as const)('bump %s %s', (v, part, next) => {
    expect(bumpVersion(v, part)).toBe(next);
  });

  test('valid versions', () => {
    expect(['v1.2.3', 'v0.0.0', 'v1.0.0-0.3.7', 'v1.0.0-x-y-z.--', 'v1.0.0+001'].every(isValidVersion)).toBe(true);
    expect(['1.2.3', 'v1.2', 'v1.2.3.4', 'v01.2.3', 'v1.2.3-00', 'v', ''].some(isValidVersion)).toBe(false);
  });
});

describe('model references', () => {
  test.each([
    ['iris', { name: 'iris' }],
    ['iris@v1.2.0', { name: 'iris', version: 'v1.2.0' }],
    ['iris@latest', { name: 'iris', latest: true }],
    ['iris#production', { name: 'iris', stage: 'production' }],
    ['a/b#prod', { name: 'a/b', stage: 'prod' }],
  ])('%s', (ref, expected) => {
    expect(parseModelRef(ref)).toEqual(expected);
  });

  test.each([
    ['iris@1.2', 'INVALID_VERSION'],
    ['ir.is', 'USAGE'],
    ['iris#', 'USAGE'],
    ['#prod', 'USAGE'],
  ])('%s is refused', (ref, code) => {
    let err: unknown;
    try {
      parseModelRef(ref);
    } catch (e) {
      err = e;
    }
    expect(isGitmlError(err) && err.code).toBe(code);
  });
});
