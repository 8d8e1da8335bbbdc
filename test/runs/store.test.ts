import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  artifactPath,
  closeRunStore,
  compareRuns,
  getRun,
  listRuns,
  readArtifact,
  readRunLogs,
  readRunMetrics,
  recordRun,
  runFolder,
  runStoreConfig,
} from '../../core/runs/store.js';
import { clearCatalogMemo } from '../../core/runs/catalog.js';
import { git, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { rec } from './helpers.js';

// No background `git gc --auto` while tests run fsck and delete repositories.
process.env.GITML_AUTO_GC = '0';

const dirs: string[] = [];
const repo = (files: Record<string, string> = { 'README.md': '# project\n' }) => {
  const d = makeRepo(files);
  dirs.push(d);
  return d;
};
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

const code = async (p: Promise<unknown>) => p.then(() => 'no error', (e) => (e as { code?: string }).code);

describe('recording', () => {
  test('a run is one commit on runs; working tree, index and HEAD are untouched; plain git reads it', async () => {
    const dir = repo();
    writeFileSync(path.join(dir, 'dirty.txt'), 'uncommitted\n');
    git(dir, 'add', 'dirty.txt');
    const head = git(dir, 'rev-parse', 'HEAD');
    const status = git(dir, 'status', '--porcelain');
    const r = rec({ params: { C: 0.5, kernel: 'linear' } });
    const out = await recordRun({
      dir,
      record: r,
      metrics: [
        { name: 'loss', value: 0.9, step: 0, timestamp: 1000 },
        { name: 'loss', value: 0.4, step: 1, timestamp: 2000 },
        { name: 'val/acc', value: 0.8, step: 1, timestamp: 2000 },
      ],
      logs: 'epoch 1\nepoch 2\n',
    });
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(dir, 'status', '--porcelain')).toBe(status);
    expect(git(dir, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
    expect(git(dir, 'rev-parse', 'runs')).toBe(out.commit);
    expect(git(dir, 'rev-list', '--count', 'runs')).toBe('1');
    expect(out.record.metrics).toEqual({ loss: 0.4, 'val/acc': 0.8 });
    const folder = runFolder('train', r.id);
    expect(JSON.parse(git(dir, 'show', `runs:${folder}/run.json`)).params).toEqual({ C: 0.5, kernel: 'linear' });
    expect(git(dir, 'show', `runs:${folder}/logs.txt`)).toBe('epoch 1\nepoch 2');
    expect(git(dir, 'show', `runs:${folder}/metrics.tsv`).split('\n')).toEqual(['name\tstep\ttimestamp\tvalue', 'loss\t0\t1000\t0.9', 'loss\t1\t2000\t0.4', 'val/acc\t1\t2000\t0.8']);
    expect(git(dir, 'log', '-1', '--format=%B', 'runs')).toContain(`Gitml-Run: ${r.id}`);
    expect(git(dir, 'fsck', '--strict', '--no-dangling')).toBe('');
    const series = await readRunMetrics({ dir, id: r.id });
    expect(series.loss.map((p) => p.value)).toEqual([0.9, 0.4]);
    expect((await readRunMetrics({ dir, id: r.id, metric: 'val/acc' }))['val/acc']).toEqual([{ name: 'val/acc', step: 1, timestamp: 2000, value: 0.8 }]);
    expect(await readRunLogs({ dir, id: r.id })).toBe('epoch 1\nepoch 2\n');
  });

  test('commit author comes from GITML_* env, else git config, else the default', async () => {
    const dir = repo();
    git(dir, 'config', 'user.name', 'Config Person');
    git(dir, 'config', 'user.email', 'config@example.com');
    const saved = { ...process.env };
    for (const k of ['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL', 'GITML_AUTHOR_NAME', 'GITML_AUTHOR_EMAIL']) delete process.env[k];
    try {
      await recordRun({ dir, record: rec() });
      expect(git(dir, 'log', '-1', '--format=%an <%ae>', 'runs')).toBe('Config Person <config@example.com>');
    } finally {
      process.env = saved;
    }
  });

  test('re-recording a run (running, then completed) adds a commit each time; the latest wins; getRun returns the last recording commit', async () => {
    const dir = repo();
    const r = rec({ status: 'running' });
    const first = await recordRun({ dir, record: r, metrics: [{ name: 'acc', value: 0.5, step: 0, timestamp: 1 }], logs: 'starting\n' });
    const other = await recordRun({ dir, record: rec() });
    const second = await recordRun({ dir, record: { ...r, status: 'completed', exitCode: 0 }, logs: 'starting\ndone\n' });
    expect(git(dir, 'rev-list', '--count', 'runs')).toBe('3');
    const got = await getRun({ dir, id: r.id });
    expect(got.record.status).toBe('completed');
    expect(got.commit).toBe(second.commit);
    expect(got.commit).not.toBe(first.commit);
    expect((await getRun({ dir, id: other.record.id })).commit).toBe(other.commit);
    // metrics not given the second time: the series and final values are kept
    expect(got.record.metrics).toEqual({ acc: 0.5 });
    expect((await readRunMetrics({ dir, id: r.id })).acc).toHaveLength(1);
    expect(await readRunLogs({ dir, id: r.id })).toBe('starting\ndone\n');
    const listed = await listRuns({ dir });
    expect(listed.runs.map((x) => x.status).sort()).toEqual(['completed', 'completed']);
  });

  test('metricsFile: JSON lines, torn or foreign lines skipped, NaN as null', async () => {
    const dir = repo();
    const f = path.join(tmpDir(), 'metrics.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(JSON.stringify({ name: i % 2 ? 'loss' : 'acc', value: i / 5000, step: i, timestamp: 1000 + i }));
    lines.splice(10, 0, 'not json', '{"name": "x"}', '', '{"name":"torn","value":0.5,"step":1,"timestamp":17', '{"timestamp": 9, "step": 3, "value": 2.5e-3, "name": "reordered"}', '{"name": "tab\\tname", "value": 1, "step": 0, "timestamp": 1}', '{"name": "extra", "epoch": 3, "tag": "x", "ok": true, "value": 1.5, "step": 2, "timestamp": 3}', '{"name":"nested","value":0.25,"step":7,"timestamp":5,"meta":{"a":1}}', '{"name":"strnum","value":"0.75","step":1,"timestamp":2}', '{"name":"after","value":1,"step":1,"timestamp":2} trailing');
    lines.push('{"name":"nan","value":null,"step":1,"timestamp":5}', '{"name":"acc","val');
    writeFileSync(f, lines.join('\n'));
    const r = rec();
    const out = await recordRun({ dir, record: r, metricsFile: f });
    expect(out.record.metrics.acc).toBe(4998 / 5000);
    expect(out.record.metrics.loss).toBe(4999 / 5000);
    const s = await readRunMetrics({ dir, id: r.id });
    expect(s.acc).toHaveLength(2500);
    expect(s.loss).toHaveLength(2500);
    expect(Number.isNaN(s.nan[0].value)).toBe(true);
    expect(s.x).toBeUndefined();
    expect(s.torn).toBeUndefined();
    expect(s.reordered).toEqual([{ name: 'reordered', step: 3, timestamp: 9, value: 0.0025 }]);
    expect(s['tab\tname'][0].value).toBe(1);
    expect(s.extra).toEqual([{ name: 'extra', step: 2, timestamp: 3, value: 1.5 }]);
    expect(s.nested).toEqual([{ name: 'nested', step: 7, timestamp: 5, value: 0.25 }]);
    expect(s.strnum[0].value).toBe(0.75);
    expect(s.after).toBeUndefined();
  });

  test('bad records are refused with PARAM', async () => {
    const dir = repo();
    expect(await code(recordRun({ dir, record: rec({ id: 'nope' }) }))).toBe('PARAM');
    expect(await code(recordRun({ dir, record: rec({ experiment: '../evil' }) }))).toBe('PARAM');
    expect(await code(recordRun({ dir, record: rec({ status: 'weird' as never }) }))).toBe('PARAM');
    expect(git(dir, 'branch', '--list', 'runs')).toBe('');
  });
});

test('gitml.yaml decides the branch and the inline threshold, even when another entity file is broken', async () => {
  const dir = repo({
    'gitml.yaml': 'kind: Workspace\nname: demo\nbranches:\n  runs: history\nartifacts:\n  inlineMaxBytes: 10\n',
    'gitml/experiments/broken.yaml': 'kind: Experiment\ncommand: [\n',
  });
  const out = tmpDir();
  dirs.push(out);
  writeFileSync(path.join(out, 'big.txt'), 'more than ten bytes\n');
  const r = rec();
  const res = await recordRun({ dir, record: r, outputsDir: out });
  expect(res.record.artifacts[0].storage).toBe('store');
  expect(git(dir, 'rev-parse', 'history')).toBe(res.commit);
  expect(git(dir, 'branch', '--list', 'runs')).toBe('');
  expect((await listRuns({ dir })).runs.map((x) => x.id)).toEqual([r.id]);
});

test('the runs index (snapshot plus journal) stays true to the branch across processes', async () => {
  const dir = repo();
  const ids = async () => {
    clearCatalogMemo(); // as a new process would: read the cache files
    return (await listRuns({ dir })).runs.map((r) => r.id).sort();
  };
  const a = rec();
  const b = rec();
  const c = rec();
  await recordRun({ dir, record: a });
  expect(await ids()).toEqual([a.id]); // full cache file written
  await recordRun({ dir, record: b });
  expect(await ids()).toEqual([a.id, b.id].sort()); // journal on top of it
  const cacheDir = path.join(dir, '.git/gitml/cache');
  expect(existsSync(path.join(cacheDir, 'runs-index-refs_heads_runs.idx.journal'))).toBe(true);
  await recordRun({ dir, record: { ...a, status: 'failed' } });
  await recordRun({ dir, record: c });
  expect(await ids()).toEqual([a.id, b.id, c.id].sort());
  clearCatalogMemo();
  expect((await listRuns({ dir, status: 'failed' })).runs.map((r) => r.id)).toEqual([a.id]);
  // rewind: runs disappear from the listing, through the journal too
  git(dir, 'update-ref', 'refs/heads/runs', 'runs~3');
  expect(await ids()).toEqual([a.id]);
  clearCatalogMemo();
  expect((await listRuns({ dir })).runs[0].status).toBe('completed');
  // a garbled cache is ignored and rebuilt
  for (const f of ['runs-index-refs_heads_runs.idx', 'runs-index-refs_heads_runs.idx.journal']) writeFileSync(path.join(cacheDir, f), '{ garbage');
  expect(await ids()).toEqual([a.id]);
});

describe('artifacts', () => {
  test('small files inline on the branch, large ones in the content-addressed store, both readable', async () => {
    const dir = repo();
    const out = tmpDir();
    dirs.push(out);
    mkdirSync(path.join(out, 'model'), { recursive: true });
    writeFileSync(path.join(out, 'model', 'model.pkl'), Buffer.alloc(5000, 7));
    writeFileSync(path.join(out, 'sample.json'), '{"x": [1, 2]}\n');
    writeFileSync(path.join(out, 'run.sh'), '#!/bin/sh\n');
    chmodSync(path.join(out, 'run.sh'), 0o755);
    symlinkSync('sample.json', path.join(out, 'link.json')); // inside: stored as the file it points to
    const config = { ...runStoreConfig(undefined, dir), inlineMaxBytes: 1000 };
    const r = rec();
    const res = await recordRun({ dir, record: r, outputsDir: out, config });
    const byPath = Object.fromEntries(res.record.artifacts.map((a) => [a.path, a]));
    expect(Object.keys(byPath).sort()).toEqual(['link.json', 'model/model.pkl', 'run.sh', 'sample.json']);
    expect(byPath['model/model.pkl'].storage).toBe('store');
    expect(byPath['model/model.pkl'].size).toBe(5000);
    expect(byPath['model/model.pkl'].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(byPath['sample.json'].storage).toBe('inline');
    const folder = runFolder('train', r.id);
    expect(git(dir, 'show', `runs:${folder}/artifacts/sample.json`)).toBe('{"x": [1, 2]}');
    expect(git(dir, 'ls-tree', `runs:${folder}/artifacts`)).toMatch(/^100755 blob \S+\trun\.sh$/m);
    expect(git(dir, 'ls-tree', '-r', 'runs')).not.toContain('model.pkl');
    expect((await readArtifact({ dir, id: r.id, path: 'model/model.pkl', config })).equals(Buffer.alloc(5000, 7))).toBe(true);
    expect((await readArtifact({ dir, id: r.id, path: 'sample.json', config })).toString()).toBe('{"x": [1, 2]}\n');
    const p = await artifactPath({ dir, id: r.id, path: 'sample.json', config });
    expect(readFileSync(p, 'utf8')).toBe('{"x": [1, 2]}\n');
    const big = await artifactPath({ dir, id: r.id, path: 'model/model.pkl', config });
    expect(readFileSync(big).length).toBe(5000);
    expect(await code(readArtifact({ dir, id: r.id, path: '../../etc/passwd', config }))).toBe('PATH_ESCAPE');
    expect(await code(readArtifact({ dir, id: r.id, path: 'missing.bin', config }))).toBe('PARAM');
  });

  test('logs larger than the threshold go to the store, with a pointer on the branch', async () => {
    const dir = repo();
    const config = { ...runStoreConfig(undefined, dir), inlineMaxBytes: 100 };
    const r = rec();
    const logs = 'line of output\n'.repeat(50);
    await recordRun({ dir, config, record: r, logs });
    const folder = runFolder('train', r.id);
    expect(JSON.parse(git(dir, 'show', `runs:${folder}/logs.ref.json`)).size).toBe(logs.length);
    expect(await readRunLogs({ dir, id: r.id, config })).toBe(logs);
    await recordRun({ dir, config, record: r, logs: 'short\n' });
    expect(git(dir, 'ls-tree', '--name-only', `runs:${folder}`).split('\n')).toEqual(['logs.txt', 'run.json']);
    expect(await readRunLogs({ dir, id: r.id, config })).toBe('short\n');
  });

  test('a symlink pointing outside the outputs folder is refused and nothing is recorded', async () => {
    const dir = repo();
    const out = tmpDir();
    dirs.push(out);
    writeFileSync(path.join(out, 'ok.txt'), 'fine\n');
    symlinkSync('/etc/passwd', path.join(out, 'steal.txt'));
    expect(await code(recordRun({ dir, record: rec(), outputsDir: out }))).toBe('PATH_ESCAPE');
    expect(git(dir, 'branch', '--list', 'runs')).toBe('');
  });
});

describe('queries', () => {
  test('filters, conditions, sort by metric, limit, compare with deltas', async () => {
    const dir = repo();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = rec({
        experiment: i < 4 ? 'train' : 'tune',
        status: i === 5 ? 'failed' : 'completed',
        params: { C: i, kernel: i % 2 ? 'rbf' : 'linear' },
        metrics: { accuracy: [0.7, 0.9, 0.85, 0.95, 0.6, 0.99][i] },
        source: { commit: (i < 3 ? 'aaa' : 'bbb').padEnd(40, '1'), tree: 't'.padEnd(40, '0'), branch: i < 3 ? 'main' : 'dev' },
      });
      ids.push(r.id);
      await recordRun({ dir, record: r });
    }
    const all = await listRuns({ dir });
    expect(all.runs.map((r) => r.id)).toEqual([...ids].reverse()); // newest first
    expect((await listRuns({ dir, experiment: 'tune' })).runs.map((r) => r.id)).toEqual([ids[5], ids[4]]);
    expect((await listRuns({ dir, status: 'failed' })).runs.map((r) => r.id)).toEqual([ids[5]]);
    expect((await listRuns({ dir, branch: 'dev' })).runs).toHaveLength(3);
    expect((await listRuns({ dir, commit: 'aaa' })).runs).toHaveLength(3);
    const best = await listRuns({ dir, experiment: 'train', where: ['params.C>=1', 'params.kernel=rbf'], sort: '-metrics.accuracy' });
    expect(best.runs.map((r) => r.id)).toEqual([ids[3], ids[1]]);
    const top2 = await listRuns({ dir, sort: '-metrics.accuracy', limit: 2 });
    expect(top2.runs.map((r) => r.metrics.accuracy)).toEqual([0.99, 0.95]);
    expect((await listRuns({ dir, sort: 'metrics.accuracy', limit: 1 })).runs[0].metrics.accuracy).toBe(0.6);
    expect(await code(listRuns({ dir, where: ['no operator here'] }))).toBe('USAGE');
    const cmp = await compareRuns({ dir, ids: [ids[0], ids[3]] });
    expect(cmp.params.find((p) => p.name === 'C')).toEqual({ name: 'C', values: [0, 3], differs: true });
    const acc = cmp.metrics.find((m) => m.name === 'accuracy')!;
    expect(acc.values).toEqual([0.7, 0.95]);
    expect(acc.deltas[0]).toBe(0);
    expect(acc.deltas[1]).toBeCloseTo(0.25);
  });

  test('unique prefixes resolve; unknown ids fail with RUN_NOT_FOUND; no runs branch lists nothing', async () => {
    const dir = repo();
    expect((await listRuns({ dir })).runs).toEqual([]);
    expect(await code(getRun({ dir, id: '01jd3q6k2f7x9m1c4v8r2t5w0n' }))).toBe('RUN_NOT_FOUND');
    const r = rec({ spec: { kind: 'Experiment', command: 'python train.py' } as never });
    await recordRun({ dir, record: r });
    expect((await getRun({ dir, id: r.id.slice(0, 14) })).record.id).toBe(r.id);
    // listings leave the resolved spec out; getRun has the whole record
    expect((await listRuns({ dir })).runs[0].spec).toBeUndefined();
    expect((await getRun({ dir, id: r.id })).record.spec).toEqual({ kind: 'Experiment', command: 'python train.py' });
    expect(await code(getRun({ dir, id: '01jd3q6k2f7x9m1c4v8r2t5w0n' }))).toBe('RUN_NOT_FOUND');
    expect(await code(getRun({ dir, id: 'zzzz' }))).toBe('RUN_NOT_FOUND');
    expect(await code(readRunLogs({ dir, id: '../../x' }))).toBe('USAGE'); // not an id at all
  });
});
