/**
 * Registry tags are written by anyone with push access, by gitml, by GTO or by hand: a tag's
 * `#N` counter and the JSON line of its message are untrusted. A huge counter must not make
 * later promotions write tags the registry cannot read (they were silently ignored), and a
 * message with fields of the wrong shape must not crash `gitml model show` or the manifest.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, test } from 'vitest';
import { promoteModel } from '../../core/registry/promote.js';
import { registerModel } from '../../core/registry/register.js';
import { showModel } from '../../core/registry/show.js';
import { parseTag } from '../../core/registry/grammar.js';
import { parseMessage } from '../../core/registry/metadata.js';
import { closeRunStore } from '../../core/runs/store.js';
import { GIT_ENV, git, gitml, removeDir } from '../support/repo.js';
import { addRun, makeRegistryRepo, record } from './fixtures.js';

process.env.GITML_AUTO_GC = '0';

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

async function registered(): Promise<{ dir: string; commit: string; runId: string }> {
  const dir = makeRegistryRepo();
  dirs.push(dir);
  const rec = record({ source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}') } });
  await addRun(dir, rec);
  const r = await registerModel({ dir, name: 'iris', runId: rec.id, version: 'v1.0.0' });
  return { dir, commit: r.commit, runId: rec.id };
}

function tag(dir: string, name: string, commit: string, message = 'pushed by someone'): void {
  execFileSync('git', ['tag', '-a', '-m', message, name, commit], { cwd: dir, env: { ...process.env, ...GIT_ENV } });
}

describe('forged registry tags', () => {
  test('a counter past 2^53 (iris#dev#99999999999999999999999): the next promotion is a readable tag and takes effect', async () => {
    const { dir, commit } = await registered();
    tag(dir, 'iris#dev#99999999999999999999999', commit);
    const p = await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'staging' });
    expect(p.tag).toBe('iris#staging#100000000000000000000000');
    expect(parseTag(p.tag!)).not.toBeNull();
    const s = await showModel({ dir, ref: 'iris' });
    expect(s.stages.map((x) => [x.stage, x.version])).toContainEqual(['staging', 'v1.0.0']);
  });

  test('message fields of the wrong shape are dropped, not trusted (and crash nothing)', async () => {
    const meta = parseMessage(`x\n\n${JSON.stringify({ gitml: 1, action: 'register', model: 'iris', version: 'v2.0.0', run: 7, artifact: { output: '__proto__', path: '../../x', sha256: 5, size: 'big' }, metrics: { ok: 1, bad: 'x', [`n\x1b`]: 2 } })}`);
    expect(meta?.artifact).toBeUndefined();
    expect(meta?.run).toBeUndefined();
    expect(meta?.metrics).toEqual({ ok: 1, 'n\x1b': 2 });
  });

  test('gitml model show and gitml manifest on such a tag answer with an error of gitml, never a crash', async () => {
    const { dir, commit, runId } = await registered();
    const msg = (over: Record<string, unknown>) => `Register\n\n${JSON.stringify({ gitml: 1, action: 'register', model: 'iris', run: runId, ...over })}`;
    tag(dir, 'iris@v2.0.0', commit, msg({ version: 'v2.0.0', artifact: { output: '__proto__', path: '../../x', sha256: 5, size: 'big' } }));
    tag(dir, 'iris@v3.0.0', commit, msg({ version: 'v3.0.0', run: '../../../etc' }));
    const show = gitml(dir, ['model', 'show', 'iris@v2.0.0']);
    expect(show.stderr).not.toMatch(/unexpected/);
    expect(show.code).toBe(0);
    for (const ref of ['iris@v2.0.0', 'iris@v3.0.0']) {
      const m = gitml(dir, ['manifest', ref]);
      expect(m.stderr).not.toMatch(/unexpected/);
    }
    // A run id that is no run id is dropped: the version resolves by its commit, as a GTO tag does.
    const v3 = gitml(dir, ['manifest', 'iris@v3.0.0', '--json']);
    expect(v3.code).toBe(0);
    expect(JSON.parse(v3.stdout).manifest.run.id).toBe(runId);
  });
});
