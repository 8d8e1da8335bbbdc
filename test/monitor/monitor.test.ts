// gitml monitor end to end on a real repository: a registered, promoted model whose run wrote a
// training reference, and sample logs in the scoring server's format.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, gitml, removeDir, tmpDir } from '../support/repo.js';

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}
function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

type Row = { sepal_length: number; sepal_width: number; petal_length: number; petal_width: number };
function rows(seed: number, n: number, petalShift = 0): Row[] {
  const u = rand(seed);
  const out: Row[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      sepal_length: +(5.8 + 0.8 * normal(u)).toFixed(2),
      sepal_width: +(3.0 + 0.4 * normal(u)).toFixed(2),
      petal_length: +(3.7 + 1.7 * normal(u) + petalShift).toFixed(2),
      petal_width: +(1.2 + 0.7 * normal(u)).toFixed(2),
    });
  }
  return out;
}

/** Sample-log lines as the scoring server writes them: a few records per request. */
function sampleLog(data: Row[], perRequest = 3): string {
  const lines: string[] = [];
  for (let i = 0; i < data.length; i += perRequest) {
    const inputs = data.slice(i, i + perRequest);
    lines.push(JSON.stringify({ ts: new Date(Date.now() - (data.length - i) * 1000).toISOString(), model: 'iris', version: 'v0.0.1', route: '/score', ms: 1.2, inputs, outputs: inputs.map((r) => (r.petal_length > 4 ? 'virginica' : 'setosa')) }));
  }
  return lines.join('\n') + '\n';
}

describe('gitml monitor', () => {
  let dir: string;
  let logs: string;

  beforeAll(async () => {
    dir = makeRegistryRepo({
      'gitml/experiments/train.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.pkl', '  sample: sample.json', '  reference: reference.jsonl', 'compute: local', 'environment: py', ''].join('\n'),
      'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nsample: sample\nreference: reference\n',
      'gitml/compute/docker.yaml': 'kind: ComputeTarget\ntype: docker\n',
      'gitml/services/iris.yaml': 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\nmonitoring:\n  sampleRate: 1\n',
    });
    const ref = rows(1, 1500).map((r) => ({ ...r, prediction: r.petal_length > 4 ? 'virginica' : 'setosa' }));
    const rec = record();
    await addRun(dir, rec, {
      'model.pkl': 'model bytes',
      'sample.json': JSON.stringify(ref.slice(0, 3)),
      'reference.jsonl': ref.map((r) => JSON.stringify(r)).join('\n') + '\n',
    });
    expect(gitml(dir, ['model', 'register', 'iris', '--run', rec.id]).code).toBe(0);
    expect(gitml(dir, ['model', 'promote', 'iris', 'v0.0.1', 'production']).code).toBe(0);
    logs = tmpDir('gitml-monitor-');
  });
  afterAll(() => {
    if (dir) removeDir(dir);
    if (logs) removeDir(logs);
  });

  test('shifted petal_length: named as the only drifted input column, exit 1', () => {
    const file = path.join(logs, 'shifted.jsonl');
    writeFileSync(file, sampleLog(rows(2, 600, 1.5)));
    const r = gitml(dir, ['monitor', 'iris', '--requests', file, '--json']);
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({ service: 'iris', model: 'iris', version: 'v0.0.1', reference: { output: 'reference', kind: 'reference', rows: 1500 }, current: { rows: 600 } });
    expect(rep.driftedColumns).toEqual(['petal_length']);
    expect(rep.drifted).toBe(true);
    // a reference over 1,000 rows: normed Wasserstein for numeric columns, Jensen-Shannon for the predicted class
    expect(rep.columns.find((c: any) => c.name === 'petal_length')).toMatchObject({ method: 'wasserstein', drifted: true, status: 'ok' });
    expect(rep.prediction).toMatchObject({ name: 'prediction', kind: 'categorical', method: 'js' });
    // human output: one line per column, the verdict at the end
    const h = gitml(dir, ['monitor', 'iris', '--requests', file], { env: { NO_COLOR: '1' } });
    expect(h.code).toBe(1);
    expect(h.stdout).toMatch(/petal_length\s+wasserstein\s+[\d.]+\s+> 0.1\s+drifted/);
    expect(h.stdout).toMatch(/sepal_width\s+wasserstein\s+[\d.]+\s+> 0.1\s+ok/);
    expect(h.stdout).toMatch(/no dataset drift: 1 of 4 input columns drifted \(25 %, threshold 50 %\): petal_length/);
  });

  test('same distribution: nothing drifted, exit 0; --method ks gives p-values', () => {
    const file = path.join(logs, 'same.jsonl');
    writeFileSync(file, sampleLog(rows(3, 600)));
    const r = gitml(dir, ['monitor', 'iris', '--requests', file, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ driftedColumns: [], drifted: false, datasetDrift: false, prediction: { drifted: false } });
    const ks = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--method', 'ks', '--json']).stdout);
    const pl = ks.columns.find((c: any) => c.name === 'petal_length');
    expect(pl.method).toBe('ks');
    expect(pl.pvalue).toBeGreaterThan(0.05);
  });

  test('torn and malformed lines are skipped and counted; --last keeps the newest rows', () => {
    const file = path.join(logs, 'torn.jsonl');
    writeFileSync(file, sampleLog(rows(4, 300)) + 'not json\n{"inputs": 3}\n{"ts": "2026-01-01T00:00:00Z", "inputs": [{"sepal_len');
    const r = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--json']).stdout);
    expect(r.current).toMatchObject({ rows: 300, malformed: 3 });
    const last = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--last', '30', '--json']).stdout);
    expect(last.current).toMatchObject({ rows: 30, outsideWindow: 270 });
  });

  test('no sampled requests yet: says so, nothing drifted, exit 0', () => {
    const file = path.join(logs, 'empty.jsonl');
    writeFileSync(file, '');
    const r = gitml(dir, ['monitor', 'iris', '--requests', file], { env: { NO_COLOR: '1' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no sampled requests in the window yet/);
  });

  test('a column missing from the requests is reported as missing (drift), the others still compared', () => {
    const file = path.join(logs, 'missing.jsonl');
    writeFileSync(file, sampleLog(rows(5, 300).map(({ petal_width: _w, ...rest }) => rest as Row)));
    const r = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--json']).stdout);
    expect(r.columns.find((c: any) => c.name === 'petal_width')).toMatchObject({ status: 'missing', drifted: true, current: { rows: 0, missing: 300 } });
    expect(r.columns.find((c: any) => c.name === 'sepal_length')).toMatchObject({ status: 'ok', drifted: false });
  });

  test('--record: the report on the status branch, readable with plain git; the working tree untouched', () => {
    const file = path.join(logs, 'record.jsonl');
    writeFileSync(file, sampleLog(rows(7, 300, 1.5)));
    const head = git(dir, 'rev-parse', 'HEAD');
    const status = git(dir, 'status', '--porcelain');
    const a = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--record', '--json']).stdout);
    expect(a.recorded).toMatchObject({ branch: 'gitml-status' });
    expect(JSON.parse(git(dir, 'show', `gitml-status:${a.recorded.path}`))).toMatchObject({ id: a.report.id, service: 'iris', driftedColumns: ['petal_length'] });
    expect(JSON.parse(git(dir, 'show', 'gitml-status:monitor/iris/latest.json')).id).toBe(a.report.id);
    writeFileSync(path.join(logs, 'record2.jsonl'), sampleLog(rows(8, 300)));
    const b = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', path.join(logs, 'record2.jsonl'), '--record', '--json']).stdout);
    expect(git(dir, 'log', '--format=%s', 'gitml-status', '--', 'monitor/iris/').split('\n')).toEqual(['monitor iris: no drift (iris@v0.0.1)', 'monitor iris: drift in petal_length, prediction (iris@v0.0.1)']);
    expect(git(dir, 'log', '-1', '--format=%(trailers:key=Gitml-Report,valueonly)', 'gitml-status').trim()).toBe(b.report.id);
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(dir, 'status', '--porcelain')).toBe(status);
    expect(git(dir, 'fsck', '--no-progress', '--no-dangling')).toBe('');
  });

  test('retraining: below the threshold nothing runs; a failing retrain run registers nothing, then backs off', () => {
    const file = path.join(logs, 'retrain.jsonl');
    writeFileSync(file, sampleLog(rows(6, 300, 1.5)));
    const none = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--retrain', '--json']).stdout);
    expect(none.retrain.action).toBe('no-policy');
    writeFileSync(path.join(dir, 'gitml/services/iris.yaml'), 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\nmonitoring:\n  retrain: { experiment: train, threshold: 0.9, promote: production, backoff: 2h }\n');
    git(dir, 'commit', '-qam', 'retrain policy');
    const below = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--retrain', '--json']).stdout);
    expect(below.retrain.action).toBe('below-threshold');
    writeFileSync(path.join(dir, 'gitml/services/iris.yaml'), 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\nmonitoring:\n  retrain: { experiment: train, threshold: 0.2, backoff: 2h }\n');
    git(dir, 'commit', '-qam', 'lower the threshold');
    // train.py does not exist in this repository: the retraining run fails
    const failed = gitml(dir, ['monitor', 'iris', '--requests', file, '--retrain', '--json']);
    expect(failed.code).toBe(1);
    const f = JSON.parse(failed.stdout).retrain;
    expect(f.action).toBe('failed');
    expect(JSON.parse(gitml(dir, ['runs', 'show', f.runId, '--json']).stdout)).toMatchObject({ status: 'failed', trigger: { kind: 'drift' } });
    expect(JSON.parse(gitml(dir, ['models', '--json']).stdout).models[0].latest).toBe('v0.0.1');
    const again = JSON.parse(gitml(dir, ['monitor', 'iris', '--requests', file, '--retrain', '--json']).stdout);
    expect(again.retrain.action).toBe('backing-off');
    expect(again.retrain.message).toMatch(/failed .*next may start in \d+ min/);
  });

  test('bad input: unknown service (exit 1), missing log (exit 3), bad --method and --last (exit 2)', () => {
    const u = gitml(dir, ['monitor', 'nope', '--requests', 'x']);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/no service "nope".*known: iris/);
    const m = gitml(dir, ['monitor', 'iris', '--requests', path.join(logs, 'absent.jsonl')]);
    expect(m.code).toBe(3);
    expect(m.stderr).toMatch(/no sample log at/);
    expect(gitml(dir, ['monitor', 'iris', '--requests', 'x', '--method', 'magic']).code).toBe(2);
    expect(gitml(dir, ['monitor', 'iris', '--requests', 'x', '--last', '-1']).code).toBe(2);
    for (const r of [u, m]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
