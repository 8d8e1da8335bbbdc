import { execFileSync } from 'node:child_process';
import { afterAll, expect, test } from 'vitest';
import { decodeTree, encodeTree, hashObject, type TreeEntry } from '../../core/runs/git/objects.js';
import { makeRepo, removeDir } from '../support/repo.js';

const dir = makeRepo();
afterAll(() => removeDir(dir));

test('trees written in-process are byte-identical to git mktree (entry order, modes, non-ASCII names)', () => {
  const blob = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
  const tree = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
  const entries: TreeEntry[] = [
    { mode: '100644', name: 'a.txt', oid: blob },
    { mode: '40000', name: 'a', oid: tree },
    { mode: '100644', name: 'a-b', oid: blob },
    { mode: '100755', name: 'zé', oid: blob },
    { mode: '100644', name: 'z', oid: blob },
    { mode: '40000', name: 'é', oid: tree },
    { mode: '120000', name: 'link', oid: blob },
  ];
  const input = entries.map((e) => `${e.mode === '40000' ? '040000 tree' : `${e.mode} blob`} ${e.oid}\t${e.name}`).join('\n') + '\n';
  const theirs = execFileSync('git', ['mktree', '--missing'], { input, cwd: dir, encoding: 'utf8' }).trim();
  const buf = encodeTree(entries);
  expect(hashObject('tree', buf).oid).toBe(theirs);
  expect(decodeTree(buf).map((e) => e.name).sort()).toEqual(entries.map((e) => e.name).sort());
});
