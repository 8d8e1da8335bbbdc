/**
 * Issue 10, "streaming everywhere" for packaging: a model file far larger than gitml's memory
 * bound goes through the manifest (its digest checked), the serving bundle (copied) and the
 * image build context (packed into the tar) in a separate gitml process whose peak RSS stays
 * under 200 MB. The run is recorded with the real runs store into a `local` artifact store (the
 * git store would spend the test's time compressing the blob); every store hands packaging a
 * file on disk the same way.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { recordRun } from '../../core/runs/record.js';
import { closeRunStore } from '../../core/runs/store.js';
import { registerModel } from '../../core/registry/register.js';
import { makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, removeDir, ROOT, tmpDir } from '../support/repo.js';

const MODEL_BYTES = 640 * 1024 * 1024 + 12345;
const RSS_LIMIT_MB = 200;
const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

/** Write `bytes` of a repeating non-zero pattern in 4 MiB writes; returns its sha256. */
function writeLarge(file: string, bytes: number): string {
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  const h = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const n = Math.min(left, chunk.length);
      writeSync(fd, chunk, 0, n);
      h.update(chunk.subarray(0, n));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

// In the child: the compiled packaging code (what the CLI runs), then its peak RSS.
const CHILD = `
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar-stream';
const [dist, dir, dest] = process.argv.slice(1);
const { buildManifest } = await import(dist + '/core/package/manifest.js');
const { bundleFiles, materializeBundle, bundleArtifactPath } = await import(dist + '/core/package/bundle.js');
const { packContextStream } = await import(dist + '/core/package/image.js');
const built = await buildManifest({ dir, ref: 'big@v0.1.0' });
const folder = await materializeBundle({ dir, manifest: built.manifest, digest: built.digest, dest });
const files = await bundleFiles({ dir, manifest: built.manifest });
const context = { Dockerfile: 'FROM scratch\\n' };
for (const [rel, body] of Object.entries(files)) context['bundle/' + rel] = body;
const modelName = 'bundle/' + bundleArtifactPath(built.manifest);
let tarModel;
const x = tar.extract();
x.on('entry', (h, stream, next) => {
  if (h.name !== modelName) { stream.on('end', next); stream.resume(); return; }
  const hash = createHash('sha256');
  let size = 0;
  stream.on('data', (c) => { hash.update(c); size += c.length; });
  stream.on('end', () => { tarModel = { sha256: hash.digest('hex'), size }; next(); });
});
await new Promise((res, rej) => { x.on('finish', res); x.on('error', rej); packContextStream(context).pipe(x); });
console.log(JSON.stringify({
  manifestSha256: built.manifest.artifact.sha256,
  bundleSize: statSync(path.join(folder, bundleArtifactPath(built.manifest))).size,
  tarModel,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
}));
`;

test(`a ${Math.round(MODEL_BYTES / 2 ** 20)} MiB model: manifest, bundle and image context in one process under ${RSS_LIMIT_MB} MB of RSS`, async () => {
  const dir = makeRegistryRepo({
    'gitml.yaml': ['kind: Workspace', 'name: demo', 'defaults:', '  compute: local', '  environment: py', 'artifacts:', '  inlineMaxBytes: 4096', '  store:', '    type: local', ''].join('\n'),
    'src/score.py': 'def run(data):\n    return [0 for _ in data]\n',
    'gitml/experiments/big.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.bin', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
    'gitml/models/big.yaml': 'kind: Model\nexperiment: big\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\n',
  });
  dirs.push(dir);
  const out = tmpDir('gitml-big-out-');
  dirs.push(out);
  mkdirSync(out, { recursive: true });
  const sha256 = writeLarge(path.join(out, 'model.bin'), MODEL_BYTES);
  writeFileSync(path.join(out, 'sample.json'), '[{"n": 1}, {"n": 2}]');
  const rec = record({ experiment: 'big', source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
  const recorded = await recordRun({ dir, record: rec, outputsDir: out });
  expect(recorded.record.artifacts.find((a) => a.path === 'model.bin')).toMatchObject({ storage: 'store', sha256, size: MODEL_BYTES });
  await registerModel({ dir, name: 'big', runId: rec.id, version: 'v0.1.0' });
  closeRunStore();
  removeDir(out);

  const dest = path.join(tmpDir('gitml-big-bundle-'), 'bundle');
  dirs.push(path.dirname(dest));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, path.join(ROOT, 'dist'), dir, dest], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  expect(r.status, r.stderr).toBe(0);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!);
  expect(got.manifestSha256).toBe(sha256);
  expect(got.bundleSize).toBe(MODEL_BYTES);
  expect(got.tarModel).toEqual({ sha256, size: MODEL_BYTES });
  expect(got.maxRssMb).toBeLessThan(RSS_LIMIT_MB);
}, 400_000);
