// Which models a change of tags concerns: created, moved and deleted registry tags count;
// tags outside the registry's grammar (a release tag) never deploy anything.
import { describe, expect, it } from 'vitest';
import { changedModels } from '../../core/daemon/services.js';

describe('changedModels', () => {
  const before = { 'iris@v0.0.1': 'a1', 'iris#production#1': 'a1', 'churn@v1.0.0': 'c1' };
  it('a new stage tag concerns its model only', () => {
    expect(changedModels(before, { ...before, 'iris#production#2': 'a2' })).toEqual({ models: ['iris'], tags: ['iris#production#2'] });
  });
  it('a moved tag and a deleted one count; nothing changed is nothing', () => {
    const { 'churn@v1.0.0': _gone, ...rest } = before;
    expect(changedModels(before, { ...rest, 'iris@v0.0.1': 'b9' })).toEqual({ models: ['churn', 'iris'], tags: ['churn@v1.0.0', 'iris@v0.0.1'] });
    expect(changedModels(before, { ...before })).toEqual({ models: [], tags: [] });
  });
  it('folder-prefixed model names are kept whole', () => {
    expect(changedModels({}, { 'models=iris#staging#1': 'x' }).models).toEqual(['models:iris']);
  });
});
