// The README's "Monitoring" walk-through, for real: the sklearn template trains on local
// (scikit-learn in the test venv), the version is promoted, `gitml serve` samples requests,
// requests with petal_length shifted arrive, and `gitml monitor` names that column alone.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { git, gitml, removeDir, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { serveJson } from '../support/serve.js';
import { shiftedIrisBatches } from './shifted.js';

describe('monitoring walk-through (sklearn template, local serve)', () => {
  let dir: string;
  let logDir: string;
  const env = { PATH: `${path.dirname(testPython())}${path.delimiter}${process.env.PATH}` };

  beforeAll(() => {
    dir = tmpDir('gitml-monitor-walk-');
    logDir = tmpDir('gitml-monitor-log-');
    expect(gitml(dir, ['init', '.', '--template', 'sklearn']).code).toBe(0);
    const run = gitml(dir, ['run', 'train', '--json'], { env });
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(run.stdout).id;
    expect(gitml(dir, ['model', 'register', 'iris', '--run', id]).code).toBe(0);
    expect(gitml(dir, ['model', 'promote', 'iris', 'v0.0.1', 'production']).code).toBe(0);
  });
  afterAll(() => {
    if (dir) removeDir(dir);
    if (logDir) removeDir(logDir);
  });

  test('shifted petal_length through the scoring server: gitml monitor names it, and no other input column', async () => {
    const log = path.join(logDir, 'requests.jsonl');
    const s = await serveJson(dir, ['iris#production', '--port', '0', '--sample-log', log, '--sample-rate', '1'], env);
    try {
      for (const data of shiftedIrisBatches(dir).batches) {
        const res = await fetch(`${s.info.url}/score`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ data }) });
        expect(res.status, await res.clone().text()).toBe(200);
      }
      // Health from the live replica's /metrics, and a replica that is down.
      const free = createServer();
      await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
      const deadPort = (free.address() as AddressInfo).port;
      await new Promise((r) => free.close(r));
      const hm = gitml(dir, ['monitor', 'iris', '--requests', log, '--metrics', `${s.info.url}/metrics`, '--metrics', `http://127.0.0.1:${deadPort}/metrics`, '--json']);
      const health = JSON.parse(hm.stdout).health;
      expect(health).toMatchObject({ up: 1, down: 1, requests: 15, byCode: { '200': 15 }, errorRate: { client: 0, server: 0 } });
      expect(health.replicas[1]).toMatchObject({ up: false, error: 'ECONNREFUSED' });
      expect(health.latency.p50).toBeGreaterThan(0);
      expect(health.latency.p99).toBeGreaterThanOrEqual(health.latency.p50);
      expect(health.rate).toBeGreaterThan(0);
    } finally {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
    const m = gitml(dir, ['monitor', 'iris', '--requests', log, '--json']);
    expect(m.code, m.stderr).toBe(1);
    const rep = JSON.parse(m.stdout);
    expect(rep.reference).toMatchObject({ output: 'reference', kind: 'reference' });
    expect(rep.reference.rows).toBeGreaterThan(100);
    expect(rep.current.rows).toBe(150);
    expect(rep.driftedColumns).toEqual(['petal_length']);
    const human = gitml(dir, ['monitor', 'iris', '--requests', log]);
    expect(human.stdout).toMatch(/petal_length .* drifted/);

    // The retraining policy: a quarter of the input columns drifted is enough; promote when better.
    const svcFile = path.join(dir, 'gitml/services/iris.yaml');
    writeFileSync(svcFile, readFileSync(svcFile, 'utf8') + '  retrain: { experiment: train, threshold: 0.25, promote: production }\n');
    git(dir, 'commit', '-qam', 'retrain iris on drift');
    const rt = gitml(dir, ['monitor', 'iris', '--requests', log, '--retrain', '--json'], { env });
    expect(rt.code, rt.stderr).toBe(1);
    const { report, retrain } = JSON.parse(rt.stdout);
    // Same code, data and seed: the new model is registered, and it does not beat production.
    expect(retrain).toMatchObject({ action: 'registered', version: 'v0.0.2', metric: { name: 'accuracy', goal: 'maximize' } });
    expect(retrain.metric.new).toBe(retrain.metric.current);
    const run = JSON.parse(gitml(dir, ['runs', 'show', retrain.runId, '--json']).stdout);
    expect(run.trigger).toEqual({ kind: 'drift', ref: report.id });
    const models = JSON.parse(gitml(dir, ['models', '--json']).stdout);
    expect(models.models[0]).toMatchObject({ name: 'iris', latest: 'v0.0.2', stages: { production: 'v0.0.1' } });
  });
});
