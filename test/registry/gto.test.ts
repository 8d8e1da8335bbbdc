/**
 * Compatibility with the real GTO (PyPI `gto`, installed in /work/main/.venv): tags written by
 * gitml are read by `gto show` / `gto history` with the same versions and stages, and tags
 * written by `gto register` / `gto assign` are read by gitml. Also checks the grammar table of
 * grammar.test.ts against GTO's own parser.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { demoteModel } from '../../core/registry/demote.js';
import { deprecateModel } from '../../core/registry/deprecate.js';
import { deregisterModel } from '../../core/registry/deregister.js';
import { parseTag } from '../../core/registry/grammar.js';
import { listModels } from '../../core/registry/list.js';
import { promoteModel } from '../../core/registry/promote.js';
import { registerModel } from '../../core/registry/register.js';
import { resolveModelRef } from '../../core/registry/resolve.js';
import { showModel } from '../../core/registry/show.js';
import { GIT_ENV, ROOT, removeDir } from '../support/repo.js';
import { addRun, clock, makeRegistryRepo, record } from './fixtures.js';
import { TAG_TABLE } from './tag-table.js';

const VENV = path.join(ROOT, '.venv/bin');
const GTO = path.join(VENV, 'gto');
const HAVE_GTO = existsSync(GTO);
if (!HAVE_GTO) {
  if (process.env.CI) throw new Error(`GTO is required in CI: ${GTO} is missing (pip install gto into .venv)`);
  process.stderr.write(`\n*** SKIPPING GTO compatibility tests: ${GTO} is missing (.venv/bin/pip install gto) ***\n\n`);
}

const env = { ...process.env, ...GIT_ENV };

function gto(dir: string, args: string[], extraEnv: Record<string, string> = {}): string {
  const r = spawnSync(GTO, args, { cwd: dir, env: { ...env, ...extraEnv, NO_COLOR: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gto ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const gtoJson = (dir: string, args: string[]) => JSON.parse(gto(dir, [...args, '--json']));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!HAVE_GTO)('GTO compatibility', () => {
  test("the grammar table matches GTO's parse_name", () => {
    const script = [
      'import json, sys',
      'from gto.tag import parse_name',
      'out = []',
      'for t in json.load(sys.stdin):',
      '    p = parse_name(t, raise_on_fail=False)',
      "    out.append({k: (v.value if hasattr(v, 'value') else v) for k, v in p.items()} if p and 'action' in p else None)",
      'print(json.dumps(out))',
    ].join('\n');
    const tags = TAG_TABLE.map(([t]) => t);
    const gtoSays = JSON.parse(execFileSync(path.join(VENV, 'python'), ['-c', script], { input: JSON.stringify(tags), encoding: 'utf8' })) as Array<Record<string, unknown> | null>;
    const ours = tags.map((t) => {
      const p = parseTag(t);
      if (!p) return null;
      const { tag: _tag, ...rest } = p;
      return rest;
    });
    expect(ours).toEqual(gtoSays);
  });

  describe('tags written by gitml', () => {
    let dir: string;
    const now = clock();
    const runs = [record(), record(), record()];
    beforeAll(async () => {
      dir = makeRegistryRepo();
      for (const r of runs) await addRun(dir, r);
      await registerModel({ dir, name: 'iris', runId: runs[0].id, now: now(), env });
      await registerModel({ dir, name: 'iris', runId: runs[1].id, bump: 'minor', now: now(), env });
      await registerModel({ dir, name: 'iris', runId: runs[2].id, version: 'v1.0.0', now: now(), env });
      await promoteModel({ dir, name: 'iris', version: 'v0.1.0', stage: 'production', now: now(), env });
      await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'staging', now: now(), env });
      await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'production', now: now(), env });
      await promoteModel({ dir, name: 'iris', version: 'v0.0.1', stage: 'dev', now: now(), env });
      await demoteModel({ dir, name: 'iris', stage: 'production', now: now(), env }); // back to v0.1.0
      await deregisterModel({ dir, name: 'iris', version: 'v0.0.1', now: now(), env }); // dev empties
    });
    afterAll(() => removeDir(dir));

    test('gto show sees the same latest version and stages', async () => {
      const ours = await listModels({ dir });
      const theirs = gtoJson(dir, ['show']);
      expect(ours.models[0]).toMatchObject({ latest: 'v1.0.0', stages: { dev: null, staging: 'v1.0.0', production: 'v0.1.0' } });
      expect(theirs.iris.version).toBe(ours.models[0].latest);
      expect(theirs.iris.registered).toBe(true);
      expect(theirs.iris.active).toBe(true);
      for (const stage of ['dev', 'staging', 'production']) expect(theirs.iris.stage[stage] ?? null).toBe(ours.models[0].stages[stage]);
    });

    test('gto show NAME lists the same active versions with the same stages', async () => {
      const ours = await showModel({ dir, ref: 'iris', lineage: false });
      const theirs = gtoJson(dir, ['show', 'iris']) as Array<{ version: string; stages: Array<{ stage: string }> }>;
      const summarize = (vs: Array<{ version: string; stages: string[] }>) => Object.fromEntries(vs.map((v) => [v.version, [...v.stages].sort()]));
      expect(summarize(theirs.map((v) => ({ version: v.version, stages: v.stages.map((s) => s.stage) })))).toEqual(
        summarize(ours.versions.filter((v) => v.active)),
      );
    });

    test('gto history has the same events, versions, stages and authors', async () => {
      const ours = await showModel({ dir, ref: 'iris', lineage: false });
      const theirs = gtoJson(dir, ['history', 'iris']) as Array<{ event: string; version: string; stage: string | null; author_email: string; ref: string }>;
      const kind: Record<string, string> = { registration: 'register', deregistration: 'deregister', assignment: 'assign', unassignment: 'unassign', deprecation: 'deprecate' };
      const a = theirs.map((e) => `${e.ref} ${kind[e.event]} ${e.version} ${e.stage ?? ''} ${e.author_email}`).sort();
      const b = ours.history.map((e) => `${e.tag} ${e.kind} ${e.version} ${e.stage ?? ''} ${e.by.email}`).sort();
      expect(a).toEqual(b);
      expect(a).toHaveLength(9);
    });

    test('a deprecated model is inactive for GTO too', async () => {
      await deprecateModel({ dir, name: 'iris', now: now(), env });
      expect(gtoJson(dir, ['show'])).toEqual({});
      expect(gtoJson(dir, ['show', '-d']).iris.active).toBe(false);
      expect((await listModels({ dir, all: true })).models[0].deprecated).toBe(true);
    });
  });

  describe('tags written by GTO', () => {
    let dir: string;
    const runs = [record(), record()];
    const commits: string[] = [];
    beforeAll(async () => {
      dir = makeRegistryRepo();
      for (const r of runs) commits.push(await addRun(dir, r));
      const zed = { GIT_COMMITTER_NAME: 'Zed', GIT_COMMITTER_EMAIL: 'zed@example.com' };
      gto(dir, ['register', 'iris', commits[0], '--version', 'v1.0.0'], zed);
      gto(dir, ['register', 'iris', commits[1]], zed); // GTO bumps to v1.0.1
      await sleep(1100); // GTO stamps whole seconds from the wall clock
      gto(dir, ['assign', 'iris', '--version', 'v1.0.0', '--stage', 'prod'], zed);
      await sleep(1100);
      gto(dir, ['assign', 'iris', '--version', 'v1.0.1', '--stage', 'prod'], zed);
      gto(dir, ['assign', 'iris', '--version', 'v1.0.1', '--stage', 'staging'], zed);
    });
    afterAll(() => removeDir(dir));

    test('gitml reads versions, stages and taggers', async () => {
      const list = await listModels({ dir });
      expect(list.models[0]).toMatchObject({ name: 'iris', latest: 'v1.0.1', versions: 2, stages: { prod: 'v1.0.1', staging: 'v1.0.1' } });
      expect(list.stages).toEqual(['dev', 'staging', 'production', 'prod']);
      const d = await showModel({ dir, ref: 'iris#prod' });
      expect(d.stages.find((s) => s.stage === 'prod')).toMatchObject({ version: 'v1.0.1', by: { name: 'Zed', email: 'zed@example.com' } });
      expect(d.history.map((e) => e.tag)).toEqual(['iris@v1.0.0', 'iris@v1.0.1', 'iris#prod#1', 'iris#prod#2', 'iris#staging#3']);
      // GTO's tags carry no gitml metadata: the run is found from the runs commit itself.
      expect(d.selected?.lineage?.run).toBe(runs[1].id);
      const r = await resolveModelRef({ dir, ref: 'iris#prod' });
      expect(r).toMatchObject({ version: 'v1.0.1', runId: runs[1].id, commit: commits[1], artifact: { path: 'model.pkl' } });
    });

    test('gitml continues the #N count after GTO, and GTO agrees with the result', async () => {
      const p = await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'production', env });
      expect(p.tag).toBe('iris#production#4');
      gto(dir, ['deprecate', 'iris', 'v1.0.1']); // GTO's CLI deregisters a version with `deprecate NAME VERSION`
      const ours = (await listModels({ dir })).models[0];
      const theirs = gtoJson(dir, ['show']).iris;
      // with v1.0.1 gone, prod falls back to v1.0.0 and staging empties, for both
      expect(ours).toMatchObject({ latest: 'v1.0.0', stages: { prod: 'v1.0.0', staging: null, production: 'v1.0.0' } });
      expect(theirs.version).toBe('v1.0.0');
      for (const stage of ['prod', 'staging', 'production']) expect(theirs.stage[stage] ?? null).toBe(ours.stages[stage]);
    });
  });
});
