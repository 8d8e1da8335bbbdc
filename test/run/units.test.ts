import { describe, expect, it } from 'vitest';
import { buildArgv, splitCommand } from '../../core/run/command.js';
import { parseMarker } from '../../core/run/metrics.js';
import { resolveParams } from '../../core/run/params.js';
import { parseTimeout } from '../../core/run/timeout.js';

describe('splitCommand', () => {
  it.each([
    ['python train.py --lr 0.1', ['python', 'train.py', '--lr', '0.1']],
    ['python "a b.py" \'c d\'', ['python', 'a b.py', 'c d']],
    ['echo $HOME ~ *.py', ['echo', '$HOME', '~', '*.py']],
    ['python t.py --x ${{params.x}} --y=${{ params.y }}', ['python', 't.py', '--x', '${{params.x}}', '--y=${{ params.y }}']],
  ])('%s', (cmd, words) => expect(splitCommand(cmd)).toEqual(words));

  it.each(['a; b', 'a | b', 'a && b', 'a > out', 'a < in', 'a & ', 'a # comment', 'a $(b)'])('refuses %s', (cmd) => {
    expect(() => splitCommand(cmd)).toThrow(expect.objectContaining({ code: 'INVALID_ENTITIES' }));
  });
});

describe('buildArgv', () => {
  const subs = { params: { x: 'a b;c', n: 3 }, inputs: { d: '/code/data/d.csv' }, outputs: { m: '/out/model.pkl' } };
  it('substitutes inside arguments and keeps values as one argument', () => {
    expect(buildArgv({ command: 'run --x ${{params.x}} --n=${{params.n}} ${{inputs.d}} ${{outputs.m}}', subs })).toEqual([
      'run', '--x', 'a b;c', '--n=3', '/code/data/d.csv', '/out/model.pkl',
    ]);
    expect(buildArgv({ command: ['run', '${{params.x}}${{params.n}}'], subs })).toEqual(['run', 'a b;c3']);
  });
  it.each(['${{params.nope}}', '${{inputs.nope}}', '${{secrets.x}}', '${{params}}', '${{ oops }}'])('refuses the reference %s', (ref) => {
    expect(() => buildArgv({ command: ['run', ref], subs })).toThrow(expect.objectContaining({ code: 'INVALID_ENTITIES' }));
  });
});

describe('resolveParams', () => {
  const experiment = {
    kind: 'Experiment' as const,
    command: 'x',
    params: { lr: 0.1, name: 'a', on: true, k: { type: 'integer' as const, default: 2, minimum: 1, maximum: 5 }, mode: { enum: ['a', 'b'], default: 'a' } },
  };
  it('converts to the declared types and applies defaults', () => {
    expect(resolveParams({ experiment, given: { lr: '1e-3', on: 'no', k: '5' } })).toEqual({ lr: 0.001, name: 'a', on: false, k: 5, mode: 'a' });
  });
  it.each([{ lr: 'fast' }, { on: 'maybe' }, { k: '2.5' }, { k: '9' }, { mode: 'c' }, { undeclared: '1' }, { lr: '' }])('refuses %o', (given) => {
    expect(() => resolveParams({ experiment, given })).toThrow(expect.objectContaining({ code: 'PARAM' }));
  });
  it('requires a value for a param without a default', () => {
    expect(() => resolveParams({ experiment: { kind: 'Experiment', command: 'x', params: { p: { type: 'string' } } } })).toThrow(expect.objectContaining({ code: 'PARAM' }));
  });
});

describe('parseMarker', () => {
  it.each([
    ['::gitml metric name=loss value=0.3 step=2', { name: 'loss', value: 0.3, step: 2 }],
    ['::gitml metric name=acc value=1', { name: 'acc', value: 1 }],
    ['::gitml metric {"name": "f1", "value": 0.5, "step": 1}', { name: 'f1', value: 0.5, step: 1 }],
  ])('%s', (line, point) => expect(parseMarker(line)).toMatchObject(point));
  it.each(['::gitml metric name=loss', '::gitml metric name=loss value=x', '::gitml metric {bad json', '::gitml metric value=1', '::gitml metric name=a value=1 step=1.5'])(
    'reports %s as malformed',
    (line) => expect(typeof parseMarker(line)).toBe('string'),
  );
  it('ignores ordinary lines', () => expect(parseMarker('loss=0.3')).toBeUndefined());
});

describe('parseTimeout', () => {
  it.each([
    [90, 90_000],
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['45', 45_000],
  ])('%s', (t, ms) => expect(parseTimeout(t)).toBe(ms));
  it.each(['soon', '10x', '-5s', 0, -1, '1h 30q'])('refuses %s', (t) => expect(() => parseTimeout(t as string)).toThrow(expect.objectContaining({ code: 'INVALID_ENTITIES' })));
});
