/**
 * A demo repository for the UI tests, built with the real stores: the registry fixture's
 * workspace with `train` ranked by accuracy, three runs of it recorded by recordRun (params,
 * final metrics, a loss series, logs, artifacts), one run of `other`, iris@v0.0.1 registered
 * from the best run and promoted to staging. Services are added per test on the status branch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { recordRun } from '../../core/runs/record.js';
import type { MetricPoint, RunRecord } from '../../core/runs/types.js';
import { registerModel } from '../../core/registry/register.js';
import { promoteModel } from '../../core/registry/promote.js';
import { GIT_ENV, writeFiles } from '../support/repo.js';
import { clock, makeRegistryRepo, record } from '../registry/fixtures.js';

export const env = { ...process.env, ...GIT_ENV };

export const TRAIN = ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.pkl', '  sample: sample.json', 'compute: local', 'environment: py', 'metrics:', '  primary: accuracy', '  goal: maximize', ''].join('\n');

export interface Demo {
  dir: string;
  runs: RunRecord[];
  best: RunRecord;
}

export function lossSeries(n: number, scale = 1): MetricPoint[] {
  return Array.from({ length: n }, (_, i) => ({ name: 'loss', step: i, timestamp: 1_700_000_000_000 + i, value: scale / (i + 1) }));
}

export async function record1(dir: string, rec: RunRecord, o: { metrics?: MetricPoint[]; logs?: string } = {}): Promise<string> {
  const out = mkdtempSync(path.join(tmpdir(), 'gitml-ui-out-'));
  try {
    writeFiles(out, { 'model.pkl': `model of ${rec.id}`, 'sample.json': '[{"x": 1}]' });
    const r = await recordRun({ dir, record: rec, outputsDir: out, metrics: o.metrics, logs: o.logs });
    rec.artifacts = r.record.artifacts;
    return r.commit;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function makeDemo(): Promise<Demo> {
  const dir = makeRegistryRepo({ 'gitml/experiments/train.yaml': TRAIN });
  const runs = [
    record({ params: { C: 1, kernel: 'rbf' }, metrics: { accuracy: 0.91, loss: 0.3 } }),
    record({ params: { C: 10, kernel: 'rbf' }, metrics: { accuracy: 0.97, loss: 0.1 } }),
    record({ params: { C: 10, kernel: 'linear' }, metrics: { accuracy: 0.93, loss: 0.2 }, status: 'failed', exitCode: 1, error: 'exit status 1' }),
    record({ experiment: 'other', params: { depth: 3 }, metrics: { f1: 0.5 } }),
  ];
  for (const [i, r] of runs.entries()) await record1(dir, r, { metrics: lossSeries(20, i + 1), logs: `run ${r.id}\nepoch 1 loss=0.5\nepoch 2 loss=0.2\ndone\n` });
  const now = clock();
  await registerModel({ dir, name: 'iris', runId: runs[1].id, now: now(), env });
  await promoteModel({ dir, name: 'iris', version: 'v0.0.1', stage: 'staging', now: now(), env });
  return { dir, runs, best: runs[1] };
}
