import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitml, removeDir, tmpDir } from '../support/repo.js';

let dir: string;
beforeAll(() => {
  const parent = tmpDir();
  dir = path.join(parent, 'demo');
  const r = gitml(parent, ['init', dir, '--template', 'python']);
  if (r.code !== 0) throw new Error(r.stderr);
});
afterAll(() => removeDir(path.dirname(dir)));

const json = (args: string[]) => {
  const r = gitml(dir, args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe('gitml queue', () => {
  it('add --sweep queues the grid once; list --json shows it; cancel cancels', () => {
    const added = json(['queue', 'add', 'train', '--sweep', 'lr=0.1,0.5', '--sweep', 'epochs=5,10,20', '-p', 'seed=1', '--json']);
    expect(added).toHaveLength(6);
    expect(added.every((e: { added: boolean; state: string }) => e.added && e.state === 'queued')).toBe(true);
    // params typed and complete: the declared defaults are part of the key
    expect(added[0].params).toEqual({ lr: 0.1, epochs: 5, test_size: 0.3, seed: 1 });
    expect(added.map((e: { params: { lr: number; epochs: number } }) => `${e.params.lr}/${e.params.epochs}`)).toEqual(['0.1/5', '0.1/10', '0.1/20', '0.5/5', '0.5/10', '0.5/20']);
    // the same combination again (as strings, another order) adds nothing
    const again = json(['queue', 'add', 'train', '-p', 'epochs=10', '-p', 'seed=1', '-p', 'lr=0.1', '--json']);
    expect(again).toEqual([expect.objectContaining({ id: added[1].id, added: false })]);
    const list = json(['queue', 'list', '--json']);
    expect(list.map((e: { id: string }) => e.id)).toEqual(added.map((e: { id: string }) => e.id));
    const human = gitml(dir, ['queue']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(added[0].id);
    const c = json(['queue', 'cancel', added[0].id, '--json']);
    expect(c.outcome).toBe('canceled');
    expect(json(['queue', 'list', '--json'])[0].state).toBe('canceled');
  });

  it('refuses bad input with usage exit codes and queues nothing', () => {
    const before = json(['queue', 'list', '--json']).length;
    expect(gitml(dir, ['queue', 'add', 'nope']).code).toBe(1); // UNKNOWN_ENTITY
    expect(gitml(dir, ['queue', 'add', 'train', '--sweep', 'lr=']).code).toBe(2);
    expect(gitml(dir, ['queue', 'add', 'train', '--sweep', 'lr=0.1,x']).code).toBe(2); // not a number: PARAM
    expect(gitml(dir, ['queue', 'add', 'train', '-p', 'lr=1', '--sweep', 'lr=2,3']).code).toBe(2);
    expect(gitml(dir, ['queue', 'add', 'train', '--sweep', 'undeclared=1,2']).code).toBe(2);
    expect(gitml(dir, ['queue', 'cancel', 'ffffffffffffffff']).code).toBe(2);
    expect(gitml(dir, ['queue', 'cancel', '../x']).code).toBe(2);
    expect(json(['queue', 'list', '--json']).length).toBe(before);
  });
});
