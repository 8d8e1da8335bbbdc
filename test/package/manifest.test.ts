/**
 * Manifests and bundles over a real repository and runs recorded with the real runs store
 * (no Python, no Docker): determinism, what changes the digest, the errors, and a bundle the
 * real scoring server accepts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { buildManifest } from '../../core/package/manifest.js';
import { bundleFiles, materializeBundle } from '../../core/package/bundle.js';
import { registerModel } from '../../core/registry/register.js';
import { closeRunStore } from '../../core/runs/store.js';
import { isGitmlError } from '../../core/errors.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { ROOT, git, gitml } from '../support/repo.js';

const SAMPLE = '[{"x": 1.5, "n": 2, "s": "a"}, {"x": 2.0, "n": 3, "s": "b"}]';
const SCORE_PY = 'def init():\n    pass\n\ndef run(data):\n    return [r["n"] * 2 for r in data]\n';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isGitmlError(e) ? e.code : `not a GitmlError: ${String(e)}`;
  }
  return undefined;
}

/** Record a completed run of `experiment` from HEAD and register it; returns the run id. */
async function registeredRun(dir: string, name: string, outputs: Record<string, string>, version?: string, experiment = 'train'): Promise<string> {
  const head = git(dir, 'rev-parse', 'HEAD');
  const rec = record({ experiment, source: { commit: head, tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
  await addRun(dir, rec, outputs);
  await registerModel({ dir, name, runId: rec.id, version });
  return rec.id;
}

describe('buildManifest', () => {
  let dir: string;
  beforeAll(async () => {
    dir = makeRegistryRepo({
      'src/score.py': SCORE_PY,
      'gitml/experiments/scored.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.json', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
      'gitml/models/scored.yaml': 'kind: Model\nexperiment: scored\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\n',
      'gitml/models/nosample.yaml': 'kind: Model\nexperiment: other\nartifact: model\n',
      'gitml/models/lost.yaml': 'kind: Model\nexperiment: train\nartifact: model\nsample: sample\n',
    });
    await registeredRun(dir, 'iris', { 'model.pkl': 'weights one', 'sample.json': SAMPLE }, 'v1.0.0');
    await registeredRun(dir, 'iris', { 'model.pkl': 'weights two', 'sample.json': SAMPLE }, 'v1.1.0');
    await registeredRun(dir, 'scored', { 'model.json': '{"w": 2}', 'sample.json': SAMPLE }, 'v0.1.0', 'scored');
    return () => closeRunStore();
  });

  test('two builds give byte-identical manifests; the digest is the sha256 of the bytes', async () => {
    const a = await buildManifest({ dir, ref: 'iris@v1.0.0' });
    const b = await buildManifest({ dir, ref: 'iris@v1.0.0' });
    expect(b.json).toBe(a.json);
    expect(b.digest).toBe(a.digest);
    const { createHash } = await import('node:crypto');
    expect(a.digest).toBe(`sha256:${createHash('sha256').update(a.json).digest('hex')}`);
    // canonical: sorted keys at every level, no absolute paths of this machine
    const keys = Object.keys(JSON.parse(a.json));
    expect(keys).toEqual([...keys].sort());
    expect(a.json).not.toContain(dir);
    expect(a.json).not.toContain(ROOT);
    const m = a.manifest;
    expect(m.model).toEqual({ name: 'iris', version: 'v1.0.0', flavor: 'sklearn', method: 'predict' });
    expect(m.artifact.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.schema.inputs).toEqual([
      { name: 'x', type: 'double' },
      { name: 'n', type: 'long' },
      { name: 's', type: 'string' },
    ]);
    expect(m.schema.outputs).toEqual([{ name: 'prediction', type: 'long' }]);
    expect(m.sample.records).toEqual([
      { x: 1.5, n: 2, s: 'a' },
      { x: 2, n: 3, s: 'b' },
    ]);
    expect(m.scoring).toEqual({ kind: 'builtin', loader: 'sklearn' });
    expect(m.environment.name).toBe('py');
    expect(m.environment.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(m.image.base).toBe('gitml/python:bookworm');
    expect(m.server.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.source.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  test('a stage or the latest version resolves to the same manifest as its version', async () => {
    const v = await buildManifest({ dir, ref: 'iris@v1.1.0' });
    const latest = await buildManifest({ dir, ref: 'iris' });
    expect(latest.digest).toBe(v.digest);
  });

  test('a different model file changes the digest (and nothing else of the recipe but run and version)', async () => {
    const a = await buildManifest({ dir, ref: 'iris@v1.0.0' });
    const b = await buildManifest({ dir, ref: 'iris@v1.1.0' });
    expect(b.digest).not.toBe(a.digest);
    expect(b.manifest.artifact.sha256).not.toBe(a.manifest.artifact.sha256);
    expect(b.manifest.environment).toEqual(a.manifest.environment);
    expect(b.manifest.schema).toEqual(a.manifest.schema);
    expect(b.manifest.server).toEqual(a.manifest.server);
  });

  test('a scoring script is named by its blob id in the source commit', async () => {
    const r = await buildManifest({ dir, ref: 'scored@v0.1.0' });
    expect(r.manifest.scoring).toEqual({ kind: 'script', path: 'src/score.py', blob: git(dir, 'rev-parse', 'HEAD:src/score.py') });
    expect(r.manifest.schema.outputs).toEqual([]);
  });

  test('the CLI prints the same bytes, writes them with --output, and --json carries the digest', async () => {
    const r = await buildManifest({ dir, ref: 'iris@v1.0.0' });
    const out = gitml(dir, ['manifest', 'iris@v1.0.0']);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(r.json);
    const j = gitml(dir, ['manifest', 'iris@v1.0.0', '--json']);
    expect(JSON.parse(j.stdout).digest).toBe(r.digest);
    const file = path.join(dir, '..', `manifest-${path.basename(dir)}.json`);
    expect(gitml(dir, ['manifest', 'iris@v1.0.0', '--output', file]).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(r.json);
    rmSync(file);
  });

  test('errors: unknown version, no sample output, a Model without sample, a script missing from the source commit, a lost artifact', async () => {
    expect(await codeOf(buildManifest({ dir, ref: 'iris@v9.9.9' }))).toBe('UNKNOWN_VERSION');
    expect(gitml(dir, ['manifest', 'iris@v9.9.9']).code).toBe(1);

    // a run that wrote the model but no sample data
    await registeredRun(dir, 'lost', { 'model.pkl': 'no sample here' }, 'v0.0.1');
    expect(await codeOf(buildManifest({ dir, ref: 'lost@v0.0.1' }))).toBe('MANIFEST');

    // a Model that names no sample output at all
    await registeredRun(dir, 'nosample', { 'model.pkl': 'other model' }, 'v0.0.1', 'other');
    expect(await codeOf(buildManifest({ dir, ref: 'nosample@v0.0.1' }))).toBe('MANIFEST');

    // the scoring script is not in the run's source commit
    git(dir, 'rm', '-q', 'src/score.py');
    git(dir, 'commit', '-q', '-m', 'drop the scoring script');
    await registeredRun(dir, 'scored', { 'model.json': '{"w": 3}', 'sample.json': SAMPLE }, 'v0.2.0', 'scored');
    expect(await codeOf(buildManifest({ dir, ref: 'scored@v0.2.0' }))).toBe('MANIFEST');

    // an artifact kept in the (git) artifact store that is gone from this clone, which has no remote to fetch it from
    const big = 'x'.repeat(2 * 1024 * 1024);
    await registeredRun(dir, 'iris', { 'model.pkl': big, 'sample.json': SAMPLE }, 'v2.0.0');
    for (const ref of git(dir, 'for-each-ref', '--format=%(refname)', 'refs/gitml/artifacts/').split('\n').filter(Boolean)) git(dir, 'update-ref', '-d', ref);
    rmSync(path.join(dir, '.git', 'gitml', 'cache', 'artifacts'), { recursive: true, force: true });
    expect(await codeOf(buildManifest({ dir, ref: 'iris@v2.0.0' }))).toBe('ARTIFACT_MISSING');
  });
});

describe('serving bundle', () => {
  let dir: string;
  beforeAll(async () => {
    dir = makeRegistryRepo({
      'src/score.py': SCORE_PY,
      'gitml/experiments/scored.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.json', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
      'gitml/models/scored.yaml': 'kind: Model\nexperiment: scored\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\n',
    });
    await registeredRun(dir, 'scored', { 'model.json': '{"w": 2}', 'sample.json': SAMPLE }, 'v0.1.0', 'scored');
    await registeredRun(dir, 'iris', { 'model.pkl': 'pickle bytes', 'sample.json': SAMPLE }, 'v1.0.0');
    return () => closeRunStore();
  });

  test('server.json follows schemas/serving-bundle.schema.json and the files match the manifest', async () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'schemas/serving-bundle.schema.json'), 'utf8')));
    for (const ref of ['iris@v1.0.0', 'scored@v0.1.0']) {
      const { manifest } = await buildManifest({ dir, ref });
      const files = await bundleFiles({ dir, manifest });
      const server = JSON.parse(files['server.json'].toString());
      expect(validate(server), JSON.stringify(validate.errors)).toBe(true);
      // The model comes as a file on disk (streamed into images and bundles), not in memory.
      const model = files[server.artifact] as { file: string; size: number };
      expect(Buffer.isBuffer(model)).toBe(false);
      expect(readFileSync(model.file, 'utf8')).toBe(ref.startsWith('iris') ? 'pickle bytes' : '{"w": 2}');
      expect(model.size).toBe(manifest.artifact.size);
      expect(JSON.parse(files['schema.json'].toString())).toEqual({ inputs: manifest.schema.inputs, outputs: manifest.schema.outputs });
      expect(JSON.parse(files['sample.json'].toString())).toEqual(manifest.sample.records);
      if (ref.startsWith('scored')) expect(files['score.py'].toString()).toBe(SCORE_PY);
      else expect(files['score.py']).toBeUndefined();
    }
  });

  test('the real scoring server loads the materialised bundle and scores its sample (--check)', async () => {
    const built = await buildManifest({ dir, ref: 'scored@v0.1.0' });
    const folder = await materializeBundle({ dir, manifest: built.manifest, digest: built.digest });
    expect(folder).toBe(path.join(dir, '.git', 'gitml', 'cache', 'bundles', built.digest.slice(7)));
    // written once: a second call reuses the folder
    expect(await materializeBundle({ dir, manifest: built.manifest, digest: built.digest })).toBe(folder);
    const r = spawnSync('python3', [path.join(ROOT, 'templates/server/gitml_server.py'), '--model-dir', folder, '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ result: [4, 6] });
  });
});
