/**
 * Model images from runs recorded with the real runs store (no training): the deterministic
 * build context, a python-flavor image whose score.py comes from the source commit and runs in
 * the container, and a build that fails (IMAGE_BUILD with the log).
 */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';
import * as tar from 'tar-stream';
import { Readable } from 'node:stream';
import { buildModelImage, checkRegistry, modelImageTags, packContext } from '../../core/package/image.js';
import { registerModel } from '../../core/registry/register.js';
import { closeRunStore } from '../../core/runs/store.js';
import { isGitmlError } from '../../core/errors.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, gitml } from '../support/repo.js';
import { BASE_IMAGE, describeDocker, dockerClient } from '../support/docker.js';

async function entries(buf: Buffer): Promise<Array<{ name: string; mtime: number; uid: number; gid: number; mode: number }>> {
  const out: Array<{ name: string; mtime: number; uid: number; gid: number; mode: number }> = [];
  const x = tar.extract();
  x.on('entry', (h, stream, next) => {
    out.push({ name: h.name, mtime: h.mtime!.getTime(), uid: h.uid!, gid: h.gid!, mode: h.mode! });
    stream.on('end', next);
    stream.resume();
  });
  await new Promise<void>((res, rej) => {
    x.on('finish', res);
    x.on('error', rej);
    Readable.from(buf).pipe(x);
  });
  return out;
}

describe('build context and names', () => {
  test('the context tar is the same bytes whatever the order of the files; sorted, fixed time, root-owned', async () => {
    const a = await packContext({ 'b/z.txt': 'z', Dockerfile: 'FROM x\n', 'b/a.txt': Buffer.from('a') });
    const b = await packContext({ 'b/a.txt': 'a', Dockerfile: 'FROM x\n', 'b/z.txt': 'z' });
    expect(b.equals(a)).toBe(true);
    const es = await entries(a);
    expect(es.map((e) => e.name)).toEqual(['Dockerfile', 'b/', 'b/a.txt', 'b/z.txt']);
    for (const e of es) {
      expect(e.mtime).toBe(0);
      expect([e.uid, e.gid]).toEqual([0, 0]);
    }
    await expect(packContext({ '../escape': 'x' })).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });

  test.each([
    ['iris', 'v1.2.0', 'gitml-model/iris:v1.2.0'],
    ['Iris_Model', 'v1.0.0+build.7', 'gitml-model/iris_model:v1.0.0_build.7'],
  ])('tags of %s %s', (name, version, tag) => {
    const t = modelImageTags(name, version, 'sha256:' + 'ab'.repeat(32));
    expect(t.version).toBe(tag);
    expect(t.digest).toBe(`${t.repository}:${'ab'.repeat(6)}`);
  });

  test.each(['127.0.0.1:5000', 'registry.example.com/team', 'localhost:5000', 'http://127.0.0.1:5000/'])('registry %s is accepted', (r) => {
    expect(() => checkRegistry(r)).not.toThrow();
  });
  test.each(['', 'a b', 'reg;rm -rf /', '127.0.0.1:5000/UPPER', '-x'])('registry %j is refused', (r) => {
    let code: string | undefined;
    try {
      checkRegistry(r);
    } catch (e) {
      code = isGitmlError(e) ? e.code : 'other';
    }
    expect(code).toBe('USAGE');
  });
});

const SCORE_PY = ['import json, os', 'w = None', 'def init():', '    global w', '    w = json.load(open(os.environ["GITML_MODEL_PATH"]))["w"]', 'def run(data):', '    return [r["n"] * w for r in data]', ''].join('\n');

describeDocker('model images from recorded runs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = makeRegistryRepo({
      'src/score.py': SCORE_PY,
      'gitml/environments/py.yaml': `kind: Environment\nimage: ${BASE_IMAGE}\n`,
      'gitml/environments/missing.yaml': 'kind: Environment\nimage: gitml/no-such-image:1\n',
      'gitml/experiments/scored.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.json', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
      'gitml/models/scored.yaml': 'kind: Model\nexperiment: scored\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\n',
      'gitml/models/broken.yaml': 'kind: Model\nexperiment: scored\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\nenvironment: missing\n',
    });
    for (const name of ['scored', 'broken']) {
      const rec = record({ experiment: 'scored', source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
      await addRun(dir, rec, { 'model.json': '{"w": 3}', 'sample.json': '[{"n": 1}, {"n": 2}]' });
      await registerModel({ dir, name, runId: rec.id, version: 'v0.1.0' });
    }
    return () => closeRunStore();
  });

  test("a python-flavor image runs the source commit's score.py as the non-root user", async () => {
    const r = await buildModelImage({ dir, ref: 'scored@v0.1.0' });
    expect(r.image).toBe('gitml-model/scored:v0.1.0');
    const run = spawnSync('docker', ['run', '--rm', r.id, '--check'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ result: [3, 6] });
    const who = spawnSync('docker', ['run', '--rm', '--entrypoint', 'id', r.id, '-u'], { encoding: 'utf8' });
    expect(who.stdout.trim()).toBe('1000');
    const info = await (await dockerClient()).getImage(r.id).inspect();
    expect(info.Config.Labels['dev.gitml.manifest-digest']).toBe(r.manifestDigest);
  });

  test('a build that cannot succeed fails with IMAGE_BUILD and the log; the CLI exits 1', async () => {
    const err = await buildModelImage({ dir, ref: 'broken@v0.1.0' }).catch((e) => e);
    expect(isGitmlError(err, 'IMAGE_BUILD')).toBe(true);
    expect(typeof err.data.log).toBe('string');
    const cli = gitml(dir, ['image', 'build', 'broken@v0.1.0']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).not.toMatch(/\n\s+at /);
  });
});
