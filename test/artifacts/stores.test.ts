/**
 * The `git` and `local` stores on their own (a real repository, no network): the contract both
 * keep (content-addressed, verified on every read, nothing partial under a final name), and
 * `gitml artifacts ls|get|gc` over them: gc removes what no run references, keeps every
 * registered version's artifacts, and --dry-run removes nothing.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { artifactStoreFor } from '../../core/artifacts/index.js';
import { cacheFile } from '../../core/artifacts/cache.js';
import { planGc, type InventoryEntry } from '../../core/artifacts/inventory.js';
import { isGitmlError } from '../../core/errors.js';
import { registerModel } from '../../core/registry/register.js';
import { closeRunStore } from '../../core/runs/store.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, gitml, makeRepo, removeDir, tmpDir } from '../support/repo.js';

process.env.GITML_AUTO_GC = '0';
const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});
const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isGitmlError(e) ? e.code : String(e)));
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function src(bytes: string): string {
  const d = tmpDir('gitml-art-src-');
  dirs.push(d);
  const f = path.join(d, 'model.bin');
  writeFileSync(f, bytes);
  return f;
}

describe.each(['git', 'local'] as const)('%s store contract', (kind) => {
  function open() {
    const dir = makeRepo({ 'README.md': '# p\n' });
    dirs.push(dir);
    const cache = path.join(dir, '.git', 'gitml', 'cache', 'artifacts');
    const config = kind === 'git' ? { type: 'git' as const, dir, cache } : { type: 'local' as const, path: path.join(dir, '.git', 'gitml', 'artifacts') };
    return { dir, cache, store: artifactStoreFor(config) };
  }

  test('put, has, read, localPath, list, remove; the same bytes twice are one object', async () => {
    const { store } = open();
    const bytes = 'weights '.repeat(100_000);
    const put = await store.putFile(src(bytes));
    expect(put).toEqual({ sha256: sha(bytes), size: bytes.length });
    expect(await store.putFile(src(bytes))).toEqual(put);
    expect(await store.has(put.sha256)).toBe(true);
    expect((await store.read(put.sha256)).toString()).toBe(bytes);
    expect(readFileSync(await store.localPath(put.sha256), 'utf8')).toBe(bytes);
    const small = await store.putBuffer(Buffer.from('log lines\n'));
    const listed: Array<{ sha256: string; size?: number }> = [];
    for await (const a of store.list()) listed.push(a);
    expect(listed.sort((a, b) => a.sha256.localeCompare(b.sha256))).toEqual([put, small].map(({ sha256, size }) => ({ sha256, size })).sort((a, b) => a.sha256.localeCompare(b.sha256)));
    await store.remove(small.sha256);
    expect(await store.has(small.sha256)).toBe(false);
    expect(await codeOf(store.read(small.sha256))).toBe('ARTIFACT_MISSING');
    expect(await codeOf(store.read('../../etc/passwd'))).toBe('PARAM');
  });

  test('a corrupted object is refused and named', async () => {
    const { dir, cache, store } = open();
    const bytes = 'model bytes';
    const { sha256 } = await store.putFile(src(bytes));
    if (kind === 'local') {
      const f = path.join(dir, '.git', 'gitml', 'artifacts', 'sha256', sha256.slice(0, 2), sha256.slice(2));
      chmodSync(f, 0o644);
      writeFileSync(f, 'tampered');
      const err = await store.read(sha256).catch((e) => e);
      expect(isGitmlError(err, 'ARTIFACT_CORRUPT')).toBe(true);
      expect(err.data.sha256).toBe(sha256);
      expect(await codeOf(store.localPath(sha256))).toBe('ARTIFACT_CORRUPT');
    } else {
      // A damaged working copy is dropped and rebuilt from the blob.
      const f = await store.localPath(sha256);
      chmodSync(f, 0o644);
      writeFileSync(f, 'tampered');
      expect((await store.read(sha256)).toString()).toBe(bytes);
      // The ref leads to other bytes than its name says (no remote to take another copy from).
      const oid = git(dir, 'hash-object', '-w', src('other bytes'));
      const { execFileSync } = await import('node:child_process');
      const t = execFileSync('git', ['mktree'], { cwd: dir, input: `100644 blob ${oid}\t${sha256}\n` }).toString().trim();
      const c = execFileSync('git', ['commit-tree', t, '-m', 'forged'], { cwd: dir, env: { ...process.env, GIT_AUTHOR_NAME: 'x', GIT_AUTHOR_EMAIL: 'x@x', GIT_COMMITTER_NAME: 'x', GIT_COMMITTER_EMAIL: 'x@x' } }).toString().trim();
      git(dir, 'update-ref', `refs/gitml/artifacts/${sha256}`, c);
      const { rmSync } = await import('node:fs');
      rmSync(cacheFile(cache, sha256), { force: true });
      const err = await store.localPath(sha256).catch((e) => e);
      expect(isGitmlError(err, 'ARTIFACT_CORRUPT'), String(err)).toBe(true);
      expect(err.data.sha256).toBe(sha256);
      expect(existsSync(cacheFile(cache, sha256))).toBe(false);
    }
  });
});

test('planGc: a registered version keeps its artifact even when no run references it any more', () => {
  const e = (sha256: string, over: Partial<InventoryEntry>): InventoryEntry => ({ sha256, stored: true, cached: false, runs: [], registered: [], size: 10, ...over });
  const use = { run: 'r', experiment: 'train', path: 'm', size: 10 };
  const plan = planGc({
    store: { type: 'git', where: '' },
    artifacts: [e('a'.repeat(64), { registered: ['iris@v1.0.0'] }), e('b'.repeat(64), { runs: [use] }), e('c'.repeat(64), {}), e('d'.repeat(64), { stored: false, cached: true })],
    strayCache: ['f'.repeat(64)],
  });
  expect(plan.remove).toEqual([{ sha256: 'c'.repeat(64), size: 10 }]);
  expect(plan.dropCache.sort()).toEqual(['d'.repeat(64), 'f'.repeat(64)]);
  expect(plan).toMatchObject({ kept: 2, bytes: 10 });
});

describe('gitml artifacts ls | get | gc (git store)', () => {
  test("gc removes what no run references and keeps the registered version's; --dry-run removes nothing; ls and get", async () => {
    const dir = makeRegistryRepo({ 'gitml.yaml': 'kind: Workspace\nname: demo\nartifacts:\n  inlineMaxBytes: 16\n' });
    dirs.push(dir);
    const r1 = record();
    await addRun(dir, r1, { 'model.pkl': 'registered model bytes', 'sample.json': '[{"x": 1}, {"x": 2}]' });
    await registerModel({ dir, name: 'iris', runId: r1.id, version: 'v1.0.0' });
    const r2 = record();
    await addRun(dir, r2, { 'model.pkl': 'another model, unregistered', 'sample.json': '[{"x": 1}, {"x": 2}]' });
    // An orphan: stored, referenced by no run (e.g. a run recorded on a branch since rewritten).
    const store = artifactStoreFor({ type: 'git', dir, cache: path.join(dir, '.git', 'gitml', 'cache', 'artifacts') });
    const orphan = await store.putBuffer(Buffer.from('orphaned bytes, nobody uses me'));

    const ls = gitml(dir, ['artifacts', 'ls', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    const inv = JSON.parse(ls.stdout);
    expect(inv.store.type).toBe('git');
    expect(inv.artifacts).toHaveLength(4);
    const reg = inv.artifacts.find((a: { sha256: string }) => a.sha256 === sha('registered model bytes'));
    expect(reg).toMatchObject({ stored: true, registered: ['iris@v1.0.0'], runs: [{ run: r1.id, path: 'model.pkl' }] });
    expect(inv.artifacts.find((a: { sha256: string }) => a.sha256 === orphan.sha256)).toMatchObject({ stored: true, runs: [], registered: [] });
    const human = gitml(dir, ['artifacts', 'ls']);
    expect(human.stdout).toContain('iris@v1.0.0');

    const dry = gitml(dir, ['artifacts', 'gc', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ remove: [{ sha256: orphan.sha256 }], applied: false });
    expect(await store.has(orphan.sha256)).toBe(true);

    const gc = gitml(dir, ['artifacts', 'gc', '--json']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(JSON.parse(gc.stdout)).toMatchObject({ remove: [{ sha256: orphan.sha256 }], kept: 3, applied: true });
    expect(await store.has(orphan.sha256)).toBe(false);
    expect(await store.has(sha('registered model bytes'))).toBe(true);

    // get: to a file and to stdout; an unknown path is a usage error of the run, not a crash.
    const out = path.join(tmpDir('gitml-get-'), 'm.pkl');
    dirs.push(path.dirname(out));
    expect(gitml(dir, ['artifacts', 'get', r2.id, 'model.pkl', '-o', out]).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('another model, unregistered');
    expect(readdirSync(path.dirname(out))).toEqual(['m.pkl']);
    expect(gitml(dir, ['artifacts', 'get', r2.id, 'model.pkl']).stdout).toBe('another model, unregistered');
    const bad = gitml(dir, ['artifacts', 'get', r2.id, 'nope.bin']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
  });
});
