/**
 * Desired state from git (no engine): which versions a service wants from its YAML and the
 * stage tags, with canary sizing, and the typed refusals for what cannot be deployed.
 * Also the rollback choice of the previous version, and the deploy lock.
 */
import { describe, expect, test } from 'vitest';
import { desiredState } from '../../core/services/desired.js';
import { previousVersion } from '../../core/services/rollback.js';
import { withServiceLock } from '../../core/services/reconcile.js';
import { registerModel } from '../../core/registry/register.js';
import { promoteModel } from '../../core/registry/promote.js';
import { addRun, clock, makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, gitml, writeFiles } from '../support/repo.js';

const env = { GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com' };
const SERVICE = (extra = '') => `kind: Service\nmodel: iris\ncompute: box\nport: 18700\n${extra}`;

async function repoWithVersions(n: number, files: Record<string, string> = {}) {
  const dir = makeRegistryRepo({ 'gitml/compute/box.yaml': 'kind: ComputeTarget\ntype: docker\n', 'gitml/services/iris.yaml': SERVICE(), ...files });
  const now = clock();
  const versions: string[] = [];
  for (let i = 0; i < n; i++) {
    const rec = record({ source: { commit: git(dir, 'rev-parse', 'HEAD').trim(), tree: git(dir, 'rev-parse', 'HEAD^{tree}').trim(), branch: 'main' } });
    await addRun(dir, rec, { 'model.pkl': `model ${i}`, 'sample.json': '[{"x": 1}]' });
    versions.push((await registerModel({ dir, name: 'iris', runId: rec.id, now: now(), env })).version);
  }
  return { dir, versions, now };
}

function commit(dir: string, files: Record<string, string>) {
  writeFiles(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'edit');
}

describe('desired state', () => {
  test('a stage resolves to its version and tag; the image is named by the manifest digest', async () => {
    const { dir, versions, now } = await repoWithVersions(2);
    await promoteModel({ dir, name: 'iris', version: versions[0], stage: 'production', now: now(), env });
    const d = await desiredState({ dir });
    const e = d.services.get('iris')!;
    expect(e.ok).toBe(true);
    if (!e.ok) return;
    expect(e.service.versions).toEqual([expect.objectContaining({ version: versions[0], tag: 'iris#production#1', role: 'primary', weight: 100, replicas: 1 })]);
    expect(e.service.versions[0].image).toMatch(/^gitml-model\/iris:[0-9a-f]{12}$/);
    expect(d.revision).toBe(git(dir, 'rev-parse', 'main').trim());

    // A canary at 20 % with 3 primaries: 1 canary replica (the replica ratio Kubernetes uses).
    commit(dir, { 'gitml/services/iris.yaml': SERVICE(`replicas: 3\ncanary: { version: ${versions[1]}, weight: 20 }\n`) });
    const c = (await desiredState({ dir })).services.get('iris')!;
    if (!c.ok) throw c.error;
    expect(c.service.versions.map((v) => [v.version, v.role, v.weight, v.replicas])).toEqual([
      [versions[0], 'primary', 80, 3],
      [versions[1], 'canary', 20, 1],
    ]);
    expect(c.service.versions[0].image).not.toBe(c.service.versions[1].image);
  });

  test('uncommitted YAML is not deployed: git is the desired state', async () => {
    const { dir, versions, now } = await repoWithVersions(1);
    await promoteModel({ dir, name: 'iris', version: versions[0], stage: 'production', now: now(), env });
    writeFiles(dir, { 'gitml/services/iris.yaml': SERVICE('replicas: 5\n') });
    const e = (await desiredState({ dir })).services.get('iris')!;
    if (!e.ok) throw e.error;
    expect(e.service.versions[0].replicas).toBe(1);
  });

  test('refusals: no version registered, a stage with no version, an unknown version', async () => {
    const none = makeRegistryRepo({ 'gitml/compute/box.yaml': 'kind: ComputeTarget\ntype: docker\n', 'gitml/services/iris.yaml': SERVICE() });
    const a = (await desiredState({ dir: none })).services.get('iris')!;
    expect(a.ok ? '' : a.error.code).toBe('UNKNOWN_VERSION');

    const { dir } = await repoWithVersions(1);
    const b = (await desiredState({ dir })).services.get('iris')!;
    expect(b.ok ? '' : b.error.code).toBe('UNKNOWN_VERSION');
    expect(b.ok ? '' : b.error.message).toMatch(/gitml\/services\/iris\.yaml/);

    commit(dir, { 'gitml/services/iris.yaml': SERVICE('version: v9.9.9\n') });
    const c = (await desiredState({ dir })).services.get('iris')!;
    expect(c.ok ? '' : c.error.code).toBe('UNKNOWN_VERSION');
  });

  test('gitml deploy refuses an unknown model or compute, and a local compute, at file:line:col (exit 1)', async () => {
    const { dir } = await repoWithVersions(1);
    for (const [yaml, want] of [
      ['kind: Service\nmodel: nope\ncompute: box\n', /iris\.yaml:2:\d+: .*model/],
      ['kind: Service\nmodel: iris\ncompute: gpu\n', /iris\.yaml:3:\d+: .*compute/],
      ['kind: Service\nmodel: iris\ncompute: local\n', /iris\.yaml:3:\d+: .*docker or kubernetes/],
    ] as const) {
      commit(dir, { 'gitml/services/iris.yaml': yaml });
      const r = gitml(dir, ['deploy', '--dry-run'], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(want);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  test('rollback goes to the version the stage had before the current one', () => {
    const h = (stage: string, version: string) => ({ kind: 'assign', stage, version });
    const active = new Set(['v1', 'v2', 'v3']);
    expect(previousVersion([h('prod', 'v1'), h('dev', 'v3'), h('prod', 'v2')], 'prod', 'v2', active)).toBe('v1');
    // After a rollback to v1, the previous of v1 is v2 (rolling forward again).
    expect(previousVersion([h('prod', 'v1'), h('prod', 'v2'), h('prod', 'v1')], 'prod', 'v1', active)).toBe('v2');
    // A deregistered version is skipped.
    expect(previousVersion([h('prod', 'v1'), h('prod', 'v3'), h('prod', 'v2')], 'prod', 'v2', new Set(['v1', 'v2']))).toBe('v1');
    expect(previousVersion([h('prod', 'v2')], 'prod', 'v2', active)).toBeUndefined();
  });

  test('the deploy lock: a second holder waits for the first, and gives up with LOCK_HELD', async () => {
    const { dir } = await repoWithVersions(0);
    const order: string[] = [];
    let release!: () => void;
    const first = withServiceLock(dir, 'iris', async () => {
      order.push('a-start');
      await new Promise<void>((r) => (release = r));
      order.push('a-end');
    });
    await new Promise((r) => setTimeout(r, 50));
    await expect(withServiceLock(dir, 'iris', async () => undefined, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'LOCK_HELD' });
    const second = withServiceLock(dir, 'iris', async () => void order.push('b'));
    await new Promise((r) => setTimeout(r, 100));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a-start', 'a-end', 'b']);
    // Another service is not blocked.
    await withServiceLock(dir, 'other', async () => undefined, { timeoutMs: 100 });
  });
});
