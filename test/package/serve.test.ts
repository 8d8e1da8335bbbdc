/**
 * `gitml serve` as a local process (no Docker): a python-flavor model whose score.py needs
 * only the standard library, over a real repository and runs recorded with the real runs
 * store. What a user sees when the model cannot load, the printed examples when the sample
 * is too large to sit in the manifest, and stopping on SIGHUP (a closed terminal).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerModel } from '../../core/registry/register.js';
import { closeRunStore } from '../../core/runs/store.js';
import { MAX_INLINE_SAMPLE_BYTES } from '../../core/package/manifest.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, gitml, removeDir } from '../support/repo.js';
import { serveJson } from '../support/serve.js';

const GOOD_PY = 'def init():\n    pass\n\n\ndef run(data):\n    return [r["n"] * 2 for r in data]\n';
const BAD_INIT_PY = 'def init():\n    raise RuntimeError("cannot open the feature store")\n\n\ndef run(data):\n    return data\n';

function experiment(): string {
  return ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.json', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n');
}
const model = (exp: string, script: string) => `kind: Model\nexperiment: ${exp}\nartifact: model\nflavor: python\nscoring: ${script}\nsample: sample\n`;

/** Record a completed run of `experiment` from HEAD and register it as `name` v0.1.0. */
async function registeredRun(dir: string, name: string, experimentName: string, sample: string): Promise<void> {
  const rec = record({ experiment: experimentName, source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
  await addRun(dir, rec, { 'model.json': '{"w": 2}', 'sample.json': sample });
  await registerModel({ dir, name, runId: rec.id, version: 'v0.1.0' });
}

const serveJsonAt0 = (dir: string, args: string[]) => serveJson(dir, [...args, '--port', '0']);

describe('gitml serve (local process)', () => {
  let dir: string;
  // Over MAX_INLINE_SAMPLE_BYTES: the manifest carries the sample's digest, not its rows.
  const bigSample = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ n: i, label: `row number ${i} of a sample too large to be inline` })));

  beforeAll(async () => {
    expect(bigSample.length).toBeGreaterThan(MAX_INLINE_SAMPLE_BYTES);
    dir = makeRegistryRepo({
      'src/good.py': GOOD_PY,
      'src/bad_init.py': BAD_INIT_PY,
      'gitml/experiments/doubler.yaml': experiment(),
      'gitml/models/doubler.yaml': model('doubler', 'src/good.py'),
      'gitml/models/broken.yaml': model('doubler', 'src/bad_init.py'),
    });
    await registeredRun(dir, 'doubler', 'doubler', bigSample);
    await registeredRun(dir, 'broken', 'doubler', '[{"n": 1, "label": "a"}]');
    closeRunStore();
  });
  afterAll(() => removeDir(dir));

  test('a score.py raising in init(): exit 1, one line saying where, the log shown once, no stack trace', () => {
    const r = gitml(dir, ['serve', 'broken@v0.1.0', '--port', '0', '--quiet']);
    expect(r.code, r.stderr).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toEqual(['error: model broken v0.1.0 failed to load: init() in score.py raised RuntimeError: cannot open the feature store']);
    // --quiet hid the server's log while starting: its end (with the traceback) comes with the error
    expect(r.stderr.match(/Traceback \(most recent call last\)/g)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('examples come from the sample when it is too large for the manifest; SIGHUP stops the server (exit 0)', async () => {
    const s = await serveJsonAt0(dir, ['doubler@v0.1.0']);
    try {
      expect(s.info.mode).toBe('process');
      expect(s.info.examples.map((e: { protocol: string }) => e.protocol)).toEqual(['azure', 'mlflow', 'v2']);
      const azure = s.info.examples[0];
      expect(azure.body).toEqual({ data: [{ n: 0, label: 'row number 0 of a sample too large to be inline' }, { n: 1, label: 'row number 1 of a sample too large to be inline' }] });
      for (const e of s.info.examples) {
        const res = await fetch(`${s.info.url}${e.path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(e.body) });
        expect(res.status, await res.clone().text()).toBe(200);
      }
      s.proc.kill('SIGHUP'); // the terminal closed
      expect(await s.exited).toBe(0);
      await expect(fetch(`${s.info.url}/v2/health/live`)).rejects.toThrow();
    } finally {
      if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    }
  });
});

describe('gitml serve: a Python that lacks what the built-in loader needs', () => {
  test('the server finds out while loading (nothing imports scikit-learn before it): exit 1, the library and the fix named', async () => {
    const { irisBundle } = await import('../server/helpers.js');
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const iris = irisBundle();
    // Debian's own python3, without scikit-learn (the venv has it).
    const dir = makeRegistryRepo({
      'gitml/environments/bare.yaml': 'kind: Environment\nimage: gitml/python:bookworm\npython: /usr/bin/python3\n',
      'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nflavor: sklearn\nsample: sample\nenvironment: bare\n',
    });
    try {
      const rec = record({ experiment: 'train', source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
      const files = { 'model.pkl': readFileSync(path.join(iris.dir, 'model/model.pkl')), 'sample.json': readFileSync(path.join(iris.dir, 'sample.json'), 'utf8') };
      await addRun(dir, rec, files as unknown as Record<string, string>);
      await registerModel({ dir, name: 'iris', runId: rec.id, version: 'v0.1.0' });
      closeRunStore();
      const r = gitml(dir, ['serve', 'iris@v0.1.0', '--port', '0', '--quiet']);
      expect(r.code, r.stderr).toBe(1);
      const line = r.stderr.split('\n').find((l) => l.startsWith('error: '));
      expect(line).toMatch(/the Python of environment bare \(\/usr\/bin\/python3\) cannot import scikit-learn/);
      expect(line).toMatch(/gitml\/environments\/bare\.yaml/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      removeDir(dir);
      removeDir(iris.dir);
    }
  }, 120_000);
});
