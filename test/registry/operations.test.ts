import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isGitmlError } from '../../core/errors.js';
import { demoteModel } from '../../core/registry/demote.js';
import { deprecateModel } from '../../core/registry/deprecate.js';
import { deregisterModel } from '../../core/registry/deregister.js';
import { listModels } from '../../core/registry/list.js';
import { promoteModel } from '../../core/registry/promote.js';
import { readRegistryTags } from '../../core/registry/read.js';
import { registerModel } from '../../core/registry/register.js';
import { resolveModelRef } from '../../core/registry/resolve.js';
import { showModel } from '../../core/registry/show.js';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { GIT_ENV, git, removeDir, tmpDir, writeFiles } from '../support/repo.js';
import { addRun, clock, makeRegistryRepo, record } from './fixtures.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    if (isGitmlError(e)) return e.code;
    throw e;
  }
  return undefined;
}

const env = { ...process.env, ...GIT_ENV };
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('registry operations on a real repository', () => {
  let dir: string;
  const t0 = Math.ceil(Date.now() / 1000) * 1000 + 60_000;
  const now = clock(t0);
  const runs = [record({ metrics: { accuracy: 0.9 } }), record({ metrics: { accuracy: 0.95 } }), record({ metrics: { accuracy: 0.97 } })];
  const commits: string[] = [];

  beforeAll(async () => {
    dir = makeRegistryRepo();
    for (const r of runs) commits.push(await addRun(dir, r));
  });
  afterAll(() => removeDir(dir));

  test('register tags the runs commit with metadata; the default version is v0.0.1, then bumps', async () => {
    const a = await registerModel({ dir, name: 'iris', runId: runs[0].id, now: now(), env });
    expect(a).toMatchObject({ name: 'iris', version: 'v0.0.1', tag: 'iris@v0.0.1', commit: commits[0], runId: runs[0].id });
    expect(git(dir, 'rev-parse', 'iris@v0.0.1^{commit}')).toBe(commits[0]);
    expect(git(dir, 'cat-file', '-t', 'iris@v0.0.1')).toBe('tag');
    const [tag] = await readRegistryTags({ dir });
    expect(tag.meta).toMatchObject({ action: 'register', run: runs[0].id, experiment: 'train', metrics: { accuracy: 0.9 }, artifact: { output: 'model', path: 'model.pkl', sha256: sha256(`model of ${runs[0].id}`), size: `model of ${runs[0].id}`.length }, source: 'a'.repeat(40) });
    expect(tag.tagger.email).toBe('test@example.com');

    const b = await registerModel({ dir, name: 'iris', runId: runs[1].id, bump: 'minor', now: now(), env });
    expect(b.version).toBe('v0.1.0');
    const c = await registerModel({ dir, name: 'iris', runId: runs[2].id, version: 'v1.0.0', now: now(), env });
    expect(c.tag).toBe('iris@v1.0.0');
  });

  test('promote writes NAME#STAGE#N with N counted over all tags of the model', async () => {
    const p1 = await promoteModel({ dir, name: 'iris', version: 'v0.1.0', stage: 'production', now: now(), env });
    expect(p1).toMatchObject({ tag: 'iris#production#1', created: true, by: { email: 'test@example.com' } });
    const p2 = await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'staging', now: now(), env });
    expect(p2.tag).toBe('iris#staging#2');
    const p3 = await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'production', now: now(), env });
    expect(p3.tag).toBe('iris#production#3');
    expect(git(dir, 'rev-parse', 'iris#production#3^{commit}')).toBe(commits[2]);
    // promoting the current version again changes nothing
    const same = await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'production', now: now(), env });
    expect(same.created).toBe(false);
    const list = await listModels({ dir });
    expect(list.stages).toEqual(['dev', 'staging', 'production']);
    expect(list.models).toEqual([expect.objectContaining({ name: 'iris', latest: 'v1.0.0', versions: 3, stages: { dev: null, staging: 'v1.0.0', production: 'v1.0.0' } })]);
  });

  test('demote falls back to the previous version still assigned, then empties the stage', async () => {
    const d1 = await demoteModel({ dir, name: 'iris', stage: 'production', now: now(), env });
    expect(d1).toMatchObject({ tag: 'iris#production!#4', version: 'v1.0.0', current: 'v0.1.0' });
    const d2 = await demoteModel({ dir, name: 'iris', stage: 'production', now: now(), env });
    expect(d2).toMatchObject({ tag: 'iris#production!#5', version: 'v0.1.0', current: undefined });
    expect(await codeOf(demoteModel({ dir, name: 'iris', stage: 'production', now: now(), env }))).toBe('UNKNOWN_VERSION');
  });

  test('show: versions, stage history with who and when, lineage from the run record', async () => {
    const d = await showModel({ dir, ref: 'iris#staging' });
    expect(d.selected?.version).toBe('v1.0.0');
    expect(d.versions.map((v) => v.version)).toEqual(['v1.0.0', 'v0.1.0', 'v0.0.1']);
    expect(d.history.map((e) => `${e.kind}:${e.version}:${e.stage ?? ''}`)).toEqual([
      'register:v0.0.1:',
      'register:v0.1.0:',
      'register:v1.0.0:',
      'assign:v0.1.0:production',
      'assign:v1.0.0:staging',
      'assign:v1.0.0:production',
      'unassign:v1.0.0:production',
      'unassign:v0.1.0:production',
    ]);
    expect(d.history[3]).toMatchObject({ by: { name: 'Test User', email: 'test@example.com' }, time: new Date(t0 + 3000).toISOString() });
    expect(d.selected?.lineage).toMatchObject({ run: runs[2].id, commit: commits[2], source: { commit: 'a'.repeat(40) }, inputs: { iris: { path: 'data/iris.csv' } }, environment: { name: 'py' } });
  });

  test('resolveModelRef finds the run, its commit and the model file', async () => {
    const r = await resolveModelRef({ dir, ref: 'iris#staging' });
    expect(r).toMatchObject({ name: 'iris', version: 'v1.0.0', runId: runs[2].id, commit: commits[2], output: 'model', artifact: { path: 'model.pkl' }, sample: { path: 'sample.json' } });
    expect(r.record.id).toBe(runs[2].id);
    expect((await resolveModelRef({ dir, ref: 'iris' })).version).toBe('v1.0.0');
    expect((await resolveModelRef({ dir, ref: 'iris@v0.0.1' })).commit).toBe(commits[0]);
    expect(await codeOf(resolveModelRef({ dir, ref: 'iris#production' }))).toBe('UNKNOWN_VERSION');
  });

  test('deregister removes the version from its stages and keeps its number taken', async () => {
    const r = await deregisterModel({ dir, name: 'iris', version: 'v1.0.0', now: now(), env });
    expect(r).toMatchObject({ tag: 'iris@v1.0.0!', stages: ['staging'] });
    const list = await listModels({ dir });
    expect(list.models[0]).toMatchObject({ latest: 'v0.1.0', versions: 2, stages: { staging: null } });
    expect(await codeOf(deregisterModel({ dir, name: 'iris', version: 'v1.0.0', env }))).toBe('UNKNOWN_VERSION');
    expect(await codeOf(promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'dev', env }))).toBe('UNKNOWN_VERSION');
    const run = record();
    await addRun(dir, run);
    expect(await codeOf(registerModel({ dir, name: 'iris', runId: run.id, version: 'v1.0.0', env }))).toBe('VERSION_EXISTS');
    // the default bump skips the deregistered number
    const next = await registerModel({ dir, name: 'iris', runId: run.id, now: now(), env });
    expect(next.version).toBe('v1.0.1');
  });

  test('deprecate hides the model from the listing; a second deprecate is refused', async () => {
    const r = await deprecateModel({ dir, name: 'iris', now: now(), env });
    expect(r.tag).toBe('iris@deprecated');
    expect((await listModels({ dir })).models.filter((m) => m.registered)).toEqual([]);
    expect((await listModels({ dir, all: true })).models[0]).toMatchObject({ name: 'iris', deprecated: true });
    expect(await codeOf(deprecateModel({ dir, name: 'iris', env }))).toBe('MODEL');
    expect(await codeOf(promoteModel({ dir, name: 'iris', version: 'v1.0.1', stage: 'dev', env }))).toBe('MODEL');
  });
});

describe('bad input', () => {
  let dir: string;
  const ok = record();
  const failed = record({ status: 'failed', error: 'exit code 1' });
  const noModel = record();
  const otherExperiment = record({ experiment: 'other' });
  const emptyModel = record();

  beforeAll(async () => {
    dir = makeRegistryRepo();
    for (const r of [ok, failed, otherExperiment]) await addRun(dir, r);
    await addRun(dir, noModel, { 'sample.json': '[]' });
    await addRun(dir, emptyModel, { 'model.pkl': '', 'sample.json': '[{"x": 1}]' });
    await registerModel({ dir, name: 'iris', runId: ok.id, version: 'v1.0.0', env });
  });
  afterAll(() => removeDir(dir));

  test.each([
    ['a failed run', () => registerModel({ dir, name: 'iris', runId: failed.id, env }), 'RUN_NOT_COMPLETED'],
    ['a run without the model output', () => registerModel({ dir, name: 'iris', runId: noModel.id, env }), 'MODEL_OUTPUT_MISSING'],
    ['a run whose model file is empty', () => registerModel({ dir, name: 'iris', runId: emptyModel.id, env }), 'MODEL_OUTPUT_MISSING'],
    ['a run of another experiment', () => registerModel({ dir, name: 'iris', runId: otherExperiment.id, env }), 'MODEL'],
    ['an unknown run', () => registerModel({ dir, name: 'iris', runId: 'zzzzzzzzzzzzzzzzzzzzzzzzzz', env }), 'RUN_NOT_FOUND'],
    ['an unknown model', () => registerModel({ dir, name: 'wine', runId: ok.id, env }), 'UNKNOWN_ENTITY'],
    ['a version that exists', () => registerModel({ dir, name: 'iris', runId: noModel.id === '' ? '' : ok.id, version: 'v1.0.0', env }), 'VERSION_EXISTS'],
    ['a run registered already', () => registerModel({ dir, name: 'iris', runId: ok.id, version: 'v2.0.0', env }), 'VERSION_EXISTS'],
    ['a non-semver version', () => registerModel({ dir, name: 'iris', runId: ok.id, version: '1.0', env }), 'INVALID_VERSION'],
    ['--version with --bump', () => registerModel({ dir, name: 'iris', runId: ok.id, version: 'v2.0.0', bump: 'major', env }), 'USAGE'],
    ['promoting an unknown version', () => promoteModel({ dir, name: 'iris', version: 'v9.9.9', stage: 'dev', env }), 'UNKNOWN_VERSION'],
    ['promoting a non-semver version', () => promoteModel({ dir, name: 'iris', version: 'latest', stage: 'dev', env }), 'INVALID_VERSION'],
    ['promoting an unregistered model', () => promoteModel({ dir, name: 'wine', version: 'v1.0.0', stage: 'dev', env }), 'UNKNOWN_VERSION'],
    ['a stage not in gitml.yaml', () => promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'qa', env }), 'STAGE_NOT_ALLOWED'],
    [
      'a tagger the access policy keeps out',
      () => promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'production', env: { ...env, GIT_COMMITTER_EMAIL: 'intern@example.com', GIT_COMMITTER_NAME: 'Intern' } }),
      'ACCESS_DENIED',
    ],
    [
      'demoting as someone the policy keeps out',
      () => demoteModel({ dir, name: 'iris', stage: 'production', env: { ...env, GIT_COMMITTER_EMAIL: 'intern@example.com', GIT_COMMITTER_NAME: 'Intern' } }),
      'ACCESS_DENIED',
    ],
    ['showing an unknown version', () => showModel({ dir, ref: 'iris@v3.0.0' }), 'UNKNOWN_VERSION'],
  ] as const)('%s', async (_, call, code) => {
    expect(await codeOf(call())).toBe(code);
    // nothing was written by a refused operation
    expect(git(dir, 'tag', '--list').split('\n')).toEqual(['iris@v1.0.0']);
  });

  test('errors carry what the CLI needs for the right hint', async () => {
    const wine = await promoteModel({ dir, name: 'wine', version: 'v1.0.0', stage: 'dev', env }).catch((e) => e);
    expect(wine.data).toMatchObject({ name: 'wine', known: ['iris'], defined: false }); // no "register one" for a typo
    const iris = await demoteModel({ dir, name: 'iris', stage: 'production', env: { ...env, GIT_COMMITTER_EMAIL: 'intern@example.com', GIT_COMMITTER_NAME: 'Intern' } }).catch((e) => e);
    expect(iris.data).toMatchObject({ stage: 'production', action: 'unassign' });
    const unknown = await showModel({ dir, ref: 'iris@v3.0.0' }).catch((e) => e);
    expect(unknown.data.known).toEqual(['v1.0.0']);
  });

  test('a model name that cannot be a GTO tag is refused', async () => {
    writeFiles(dir, { 'gitml/models/ir.is.yaml': 'kind: Model\nexperiment: train\nartifact: model\n' });
    try {
      expect(await codeOf(registerModel({ dir, name: 'ir.is', runId: ok.id, env }))).toBe('MODEL');
    } finally {
      rmSync(path.join(dir, 'gitml/models/ir.is.yaml'));
    }
  });

  test('show still answers without the runs branch, saying why lineage is missing', async () => {
    const clone = tmpDir();
    try {
      git(clone, 'clone', '-q', '--no-local', dir, '.');
      git(clone, 'fetch', '-q', 'origin', 'refs/tags/*:refs/tags/*');
      const d = await showModel({ dir: clone, ref: 'iris@v1.0.0' });
      expect(d.versions.map((v) => v.version)).toEqual(['v1.0.0']);
      expect(d.selected?.lineage).toBeUndefined();
      expect(d.selected?.lineageError).toBeTruthy();
      expect(await codeOf(resolveModelRef({ dir: clone, ref: 'iris@v1.0.0' }))).toBe('RUN_NOT_FOUND');
    } finally {
      removeDir(clone);
    }
  });

  test('the access list accepts a listed email, and `*` anyone', async () => {
    const other = { ...env, GIT_COMMITTER_EMAIL: 'boss@example.com', GIT_COMMITTER_NAME: 'Boss' };
    const r = await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'production', env: other });
    expect(r.by.email).toBe('boss@example.com');
    const anyone = { ...env, GIT_COMMITTER_EMAIL: 'intern@example.com', GIT_COMMITTER_NAME: 'Intern' };
    expect((await promoteModel({ dir, name: 'iris', version: 'v1.0.0', stage: 'staging', env: anyone })).created).toBe(true);
    const tags = await readRegistryTags({ dir });
    expect(tags.find((t) => t.tag === 'iris#production#1')?.tagger.email).toBe('boss@example.com');
  });
});

describe('concurrent promotions', () => {
  let dir: string;
  beforeAll(async () => {
    dir = makeRegistryRepo();
    const runs = Array.from({ length: 3 }, () => record());
    for (const r of runs) await addRun(dir, r);
    for (const r of runs) await registerModel({ dir, name: 'iris', runId: r.id, env });
  });
  afterAll(() => removeDir(dir));

  test('never produce the same #N', async () => {
    const jobs = [];
    for (let i = 0; i < 12; i++) {
      const version = `v0.0.${(i % 3) + 1}`;
      const stage = ['dev', 'staging', 'production'][i % 3];
      jobs.push(promoteModel({ dir, name: 'iris', version, stage, env }).catch((e) => e));
    }
    const results = await Promise.all(jobs);
    const tags = results.filter((r) => !(r instanceof Error) && r.created).map((r) => r.tag as string);
    const counters = tags.map((t) => Number(t.split('#').at(-1)));
    expect(new Set(counters).size).toBe(counters.length);
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
  });
});

describe('tags not written by gitml', () => {
  let dir: string;
  const runs = [record(), record()];
  beforeAll(async () => {
    dir = makeRegistryRepo();
    for (const r of runs) await addRun(dir, r);
    await registerModel({ dir, name: 'iris', runId: runs[0].id, env });
  });
  afterAll(() => removeDir(dir));

  test("a lightweight tag's #N is counted (as GTO counts it) and its name is never overwritten", async () => {
    git(dir, 'tag', 'iris#dev#7', 'runs');
    git(dir, 'tag', 'iris@v0.0.2', 'runs');
    const p = await promoteModel({ dir, name: 'iris', version: 'v0.0.1', stage: 'dev', env });
    expect(p.tag).toBe('iris#dev#8');
    const r = await registerModel({ dir, name: 'iris', runId: runs[1].id, env });
    expect(r).toMatchObject({ version: 'v0.0.2', tag: 'iris@v0.0.2#9' });
    expect((await listModels({ dir })).models[0]).toMatchObject({ latest: 'v0.0.2', stages: { dev: 'v0.0.1' } });
  });
});

describe('register: warnings', () => {
  let dir: string;
  const noSample = record();
  beforeAll(async () => {
    dir = makeRegistryRepo();
    await addRun(dir, noSample, { 'model.pkl': 'weights' });
  });
  afterAll(() => removeDir(dir));

  test('a run without the sample output registers, with a warning that the manifest will need it', async () => {
    const r = await registerModel({ dir, name: 'iris', runId: noSample.id, version: 'v1.5.0', env });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('"sample"');
    const complete = record();
    await addRun(dir, complete);
    expect((await registerModel({ dir, name: 'iris', runId: complete.id, env })).warnings).toEqual([]);
    // deregistered versions are not offered as registered ones
    await deregisterModel({ dir, name: 'iris', version: 'v1.5.0', env });
    const e = await showModel({ dir, ref: 'iris@v9.0.0' }).catch((x) => x);
    expect(e.data.known).not.toContain('v1.5.0');
  });
});
