import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { quickStages } from '../../core/registry/list.js';

/** The fast path for `stages` must agree with the YAML library whenever it answers. */
describe('quickStages', () => {
  test.each([
    ['kind: Workspace\nname: x\nstages: [dev, staging, production]\n', ['dev', 'staging', 'production']],
    ['kind: Workspace\nstages: [a,b]  # order matters\naccess: {}\n', ['a', 'b']],
    ['kind: Workspace\nstages:\n  - dev\n  - prod   # live\naccess:\n  prod: ["*"]\n', ['dev', 'prod']],
    ['kind: Workspace\nstages:\n- qa\n- live\nname: x\n', ['qa', 'live']],
    ['kind: Workspace\nname: x\n', ['dev', 'staging', 'production']],
    ['kind: Workspace\nstages: ["dev", \'prod\']\n', undefined],
    ['kind: Workspace\nstages: &s [dev]\n', undefined],
    ['kind: Workspace\nstages: [dev, [x]]\n', undefined],
    ['kind: Workspace\nstages: { a: 1 }\n', undefined],
    ['kind: Workspace\n"stages": [x]\n', undefined],
  ])('%j', (text, expected) => {
    const quick = quickStages(text);
    expect(quick).toEqual(expected);
    if (quick && /^stages/m.test(text)) expect(quick).toEqual(parse(text).stages);
  });
});
