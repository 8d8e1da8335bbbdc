import { describe, expect, test } from 'vitest';
import { parseTag } from '../../core/registry/grammar.js';
import type { RegistryTag } from '../../core/registry/read.js';
import { replay } from '../../core/registry/state.js';

const C = (n: number) => String(n).repeat(40).slice(0, 40);

/** A tag as read from git: name, commit, tagger time (seconds). Commits are at time 0. */
function tag(name: string, commit: string, time: number, email = 'a@example.com'): RegistryTag {
  const p = parseTag(name);
  if (!p) throw new Error(`bad tag ${name}`);
  return { ...p, commit, commitTime: 0, object: 'f'.repeat(40), tagger: { name: 'A', email }, time, tz: '+0000', message: '' };
}

const iris = (tags: RegistryTag[]) => replay(tags).models.get('iris')!;

describe('replay (GTO semantics)', () => {
  test('the latest still-active assignment holds the stage; demoting falls back', () => {
    const base = [tag('iris@v1.0.0', C(1), 1), tag('iris@v2.0.0', C(2), 2), tag('iris#prod#1', C(1), 3), tag('iris#prod#2', C(2), 4)];
    expect(iris(base).stages.prod.version).toBe('v2.0.0');
    const demoted = [...base, tag('iris#prod!#3', C(2), 5)];
    expect(iris(demoted).stages.prod.version).toBe('v1.0.0');
    const both = [...demoted, tag('iris#prod!#4', C(1), 6)];
    expect(iris(both).stages.prod).toBeUndefined();
    // rollback: promoting the older version again makes it current
    const rollback = [...base, tag('iris#prod#3', C(1), 5)];
    expect(iris(rollback).stages.prod.version).toBe('v1.0.0');
    expect(iris(rollback).versions.find((v) => v.version === 'v1.0.0')!.stages).toEqual(['prod']);
  });

  test('within one second the #N counter orders events', () => {
    const tags = [tag('iris@v1.0.0', C(1), 1), tag('iris#prod!#2', C(1), 5), tag('iris#prod#3', C(1), 5), tag('iris#prod#1', C(1), 5)];
    expect(iris(tags).stages.prod?.version).toBe('v1.0.0');
    const undone = [tag('iris@v1.0.0', C(1), 1), tag('iris#prod#1', C(1), 5), tag('iris#prod!#2', C(1), 5)];
    expect(iris(undone).stages.prod).toBeUndefined();
  });

  test('a deregistered version leaves its stages and is no longer latest', () => {
    const m = iris([tag('iris@v1.0.0', C(1), 1), tag('iris@v1.1.0', C(2), 2), tag('iris#dev#1', C(2), 3), tag('iris@v1.1.0!', C(2), 4)]);
    expect(m.latest).toBe('v1.0.0');
    expect(m.stages.dev).toBeUndefined();
    expect(m.versions.map((v) => [v.version, v.active])).toEqual([
      ['v1.1.0', false],
      ['v1.0.0', true],
    ]);
  });

  test('re-registering after a deregistration reactivates the version', () => {
    const m = iris([tag('iris@v1.0.0', C(1), 1), tag('iris@v1.0.0!', C(1), 2), tag('iris@v1.0.0#3', C(1), 3)]);
    expect(m.latest).toBe('v1.0.0');
    expect(m.maxCounter).toBe(3);
  });

  test('an assignment at a commit with no registration is a commit "version" (GTO allows it)', () => {
    const m = iris([tag('iris#prod#1', C(7), 1)]);
    expect(m.stages.prod.version).toBe(C(7));
    expect(m.latest).toBeUndefined();
    expect(m.versions[0]).toMatchObject({ registered: false, active: true });
  });

  test('deprecation holds until a later event; it must also be later than the version commits', () => {
    const dep = [tag('iris@v1.0.0', C(1), 1), tag('iris@deprecated', C(1), 2)];
    expect(iris(dep).deprecated).toBe(true);
    expect(iris([...dep, tag('iris@v1.1.0', C(2), 3)]).deprecated).toBe(false);
    const early = dep.map((t) => ({ ...t, commitTime: 10 }));
    expect(iris(early).deprecated).toBe(false);
  });

  test('latest is by semantic version, not by time; prereleases rank below releases', () => {
    const m = iris([tag('iris@v1.10.0', C(1), 1), tag('iris@v1.9.0', C(2), 2), tag('iris@v2.0.0-rc.1', C(3), 3)]);
    expect(m.latest).toBe('v2.0.0-rc.1');
    expect(m.versions.map((v) => v.version)).toEqual(['v2.0.0-rc.1', 'v1.10.0', 'v1.9.0']);
    const m2 = iris([tag('iris@v2.0.0', C(1), 1), tag('iris@v2.0.0-rc.1', C(2), 2)]);
    expect(m2.latest).toBe('v2.0.0');
  });

  test('models are independent, and tags outside the grammar were never read', () => {
    const s = replay([tag('iris@v1.0.0', C(1), 1), tag('wine@v3.0.0', C(2), 1), tag('wine#prod#9', C(2), 2)]);
    expect([...s.models.keys()].sort()).toEqual(['iris', 'wine']);
    expect(s.models.get('iris')!.maxCounter).toBe(0);
    expect(s.models.get('wine')!.maxCounter).toBe(9);
  });
});
