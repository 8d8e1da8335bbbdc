import { afterEach, describe, expect, it } from 'vitest';
import { affectedExperiments, matchExperiments } from '../../core/triggers/affected.js';
import type { Experiment, Loaded } from '../../core/entities/types.js';
import { git, makeRepo, removeDir, writeFiles } from '../support/repo.js';

const WS = 'kind: Workspace\nname: demo\ndefaults: { compute: local }\n';
const LOCAL = 'kind: ComputeTarget\ntype: local\n';
const exp = (extra: string) => `kind: Experiment\ncommand: [python3, train.py]\n${extra}`;

function fixture(): string {
  return makeRepo({
    'gitml.yaml': WS,
    'gitml/compute/local.yaml': LOCAL,
    'gitml/experiments/train.yaml': exp('code: src\ntriggers: { branches: [main, release/*], paths: [data/**] }\n'),
    'gitml/experiments/docs.yaml': exp('code: docs\ntriggers: { paths: ["*.md"] }\n'),
    'gitml/experiments/manual.yaml': exp('code: src\n'),
    'src/train.py': 'print(1)\n',
    'docs/a.txt': 'a\n',
    'data/x.csv': 'a\n1\n',
    'README.md': '# r\n',
  });
}

function commit(dir: string, files: Record<string, string>, msg = 'change'): string {
  writeFiles(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', msg);
  return git(dir, 'rev-parse', 'HEAD');
}

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

describe('matchExperiments (pure)', () => {
  const e = (name: string, spec: Partial<Experiment>): Loaded<Experiment> => ({ name, file: `gitml/experiments/${name}.yaml`, spec: { kind: 'Experiment', command: 'x', ...spec } as Experiment });
  const table: Array<[string, Loaded<Experiment>, string, string[], boolean]> = [
    ['no triggers never runs', e('a', { code: 'src' }), 'main', ['src/a.py'], false],
    ['code folder counts', e('a', { code: 'src', triggers: {} }), 'main', ['src/a.py'], true],
    ['other folder does not', e('a', { code: 'src', triggers: {} }), 'main', ['lib/a.py'], false],
    ['folder name prefix is not the folder', e('a', { code: 'src', triggers: {} }), 'main', ['src2/a.py'], false],
    ['own YAML counts', e('a', { code: 'src', triggers: {} }), 'main', ['gitml/experiments/a.yaml'], true],
    ['another YAML does not', e('a', { code: 'src', triggers: {} }), 'main', ['gitml/experiments/b.yaml'], false],
    ['paths glob', e('a', { code: 'src', triggers: { paths: ['data/**'] } }), 'main', ['data/deep/x.csv'], true],
    ['code "." means everything', e('a', { triggers: {} }), 'main', ['anything/at/all'], true],
    ['branches default to the default branch', e('a', { triggers: {} }), 'dev', ['x'], false],
    ['branch glob', e('a', { triggers: { branches: ['release/*'] } }), 'release/1.0', ['x'], true],
    ['branch glob does not cross /', e('a', { triggers: { branches: ['release/*'] } }), 'release/1/x', ['x'], false],
    ['dot files match', e('a', { triggers: { paths: ['conf/**'] }, code: 'src' }), 'main', ['conf/.env.example'], true],
    ['nothing changed', e('a', { triggers: {} }), 'main', [], false],
  ];
  it.each(table)('%s', (_t, ex, branch, changed, want) => {
    expect(matchExperiments([ex], branch, changed, 'main').map((x) => x.name)).toEqual(want ? ['a'] : []);
  });
});

describe('affectedExperiments on real repositories', () => {
  it('compares with the last processed commit on the branch', async () => {
    const dir = fixture();
    dirs.push(dir);
    const c0 = git(dir, 'rev-parse', 'HEAD');
    const c1 = commit(dir, { 'src/train.py': 'print(2)\n' });
    const r = await affectedExperiments({ dir, branch: 'main', commit: c1, previous: c0 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.baseKind).toBe('previous');
    expect(r.base).toBe(c0);
    expect(r.changed).toEqual(['src/train.py']);
    // manual.yaml has code: src too but no triggers
    expect(r.experiments.map((e) => e.name)).toEqual(['train']);

    const c2 = commit(dir, { 'README.md': '# new\n' });
    const r2 = await affectedExperiments({ dir, branch: 'main', commit: c2, previous: c1 });
    expect(r2.ok && r2.experiments.map((e) => e.name)).toEqual(['docs']);

    // several commits at once: everything since the previous one counts
    commit(dir, { 'data/x.csv': 'a\n2\n' });
    const c4 = commit(dir, { 'docs/a.txt': 'b\n' });
    const r3 = await affectedExperiments({ dir, branch: 'main', commit: c4, previous: c2 });
    expect(r3.ok && r3.experiments.map((e) => e.name)).toEqual(['docs', 'train']);

    // the same commit again: nothing changed
    const r4 = await affectedExperiments({ dir, branch: 'main', commit: c4, previous: c4 });
    expect(r4.ok && r4.experiments).toEqual([]);
  });

  it('a new branch is compared with its merge-base with the default branch', async () => {
    const dir = fixture();
    dirs.push(dir);
    git(dir, 'checkout', '-q', '-b', 'release/1');
    commit(dir, { 'data/x.csv': 'a\n3\n' });
    const tip = commit(dir, { 'notes.txt': 'n\n' });
    git(dir, 'checkout', '-q', 'main');
    commit(dir, { 'src/train.py': 'print(9)\n' }); // main moves on: not part of the branch's change
    const r = await affectedExperiments({ dir, branch: 'release/1', commit: tip });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.baseKind).toBe('merge-base');
    expect(r.changed.sort()).toEqual(['data/x.csv', 'notes.txt']);
    expect(r.experiments.map((e) => e.name)).toEqual(['train']);
    // a branch not listed in triggers.branches
    git(dir, 'branch', 'feature', tip);
    const f = await affectedExperiments({ dir, branch: 'feature', commit: tip });
    expect(f.ok && f.experiments).toEqual([]);
  });

  it('a force-push (previous no longer an ancestor) is compared with the merge-base', async () => {
    const dir = fixture();
    dirs.push(dir);
    git(dir, 'checkout', '-q', '-b', 'release/2');
    const old = commit(dir, { 'src/train.py': 'print(3)\n' });
    git(dir, 'reset', '-q', '--hard', 'main');
    const rewritten = commit(dir, { 'README.md': '# rewritten\n' });
    const r = await affectedExperiments({ dir, branch: 'release/2', commit: rewritten, previous: old });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.baseKind).toBe('merge-base');
    // src/train.py was changed by the dropped commit only: it does not count
    expect(r.changed).toEqual(['README.md']);
    expect(r.experiments).toEqual([]);
  });

  it('a previous commit that no longer exists (gc after a force-push) falls back to the merge-base', async () => {
    const dir = fixture();
    dirs.push(dir);
    const tip = commit(dir, { 'src/train.py': 'print(4)\n' });
    const r = await affectedExperiments({ dir, branch: 'main', commit: tip, previous: 'f'.repeat(40) });
    // main is the default branch: its merge-base with itself is the tip, nothing to compare
    expect(r.ok && r.baseKind).toBe('merge-base');
    expect(r.ok && r.experiments).toEqual([]);
  });

  it('an orphan branch with no common history counts every file', async () => {
    const dir = fixture();
    dirs.push(dir);
    git(dir, 'checkout', '-q', '--orphan', 'release/orphan');
    const tip = commit(dir, {}, 'orphan');
    const r = await affectedExperiments({ dir, branch: 'release/orphan', commit: tip });
    expect(r.ok && r.baseKind).toBe('none');
    expect(r.ok && r.experiments.map((e) => e.name)).toEqual(['train']);
  });

  it('invalid gitml YAML at the commit is a result listing the problems, not a throw', async () => {
    const dir = fixture();
    dirs.push(dir);
    const c0 = git(dir, 'rev-parse', 'HEAD');
    const bad = commit(dir, { 'gitml/experiments/train.yaml': 'kind: Experiment\ncommand: [\n', 'gitml/experiments/docs.yaml': 'kind: Experiment\nnope: 1\n' });
    const r = await affectedExperiments({ dir, branch: 'main', commit: bad, previous: c0 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.commit).toBe(bad);
    const codes = r.problems.map((p) => `${p.file}:${p.code}`).sort();
    expect(codes).toContain('gitml/experiments/train.yaml:yaml');
    expect(codes).toContain('gitml/experiments/docs.yaml:schema');
  });
});
