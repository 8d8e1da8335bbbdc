/**
 * Registry fixtures: a real repository with a valid workspace and a model, and runs recorded
 * with the real runs store (recordRun) from real output files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../core/runs/types.js';
import { recordRun } from '../../core/runs/record.js';
import { newRunId } from '../../core/runs/id.js';
import { makeRepo, writeFiles } from '../support/repo.js';

export const WORKSPACE_FILES: Record<string, string> = {
  'gitml.yaml': [
    'kind: Workspace',
    'name: demo',
    'defaults:',
    '  compute: local',
    '  environment: py',
    'stages: [dev, staging, production]',
    'access:',
    '  production: [boss@example.com, test@example.com]',
    '  staging: ["*"]',
    '',
  ].join('\n'),
  'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
  'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\n',
  'gitml/experiments/train.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.pkl', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
  'gitml/experiments/other.yaml': ['kind: Experiment', 'command: [python3, other.py]', 'outputs:', '  model: model.pkl', 'compute: local', 'environment: py', ''].join('\n'),
  'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nsample: sample\n',
};

export function makeRegistryRepo(files: Record<string, string> = {}): string {
  return makeRepo({ ...WORKSPACE_FILES, ...files });
}

let seq = 0;

/** A run id in the runs store's format, unique and increasing per call. */
export function fakeRunId(): string {
  return newRunId(() => Date.UTC(2026, 10, 23, 9, 0, 0) + seq++);
}

export function record(over: Partial<RunRecord> = {}): RunRecord {
  const id = over.id ?? fakeRunId();
  return {
    schema: 1,
    id,
    experiment: 'train',
    status: 'completed',
    params: { C: 1 },
    metrics: { accuracy: 0.96 },
    source: { commit: 'a'.repeat(40), tree: 'b'.repeat(40), branch: 'main' },
    inputs: { iris: { path: 'data/iris.csv', sha256: 'c'.repeat(64), size: 4551 } },
    environment: { name: 'py', digest: 'sha256:' + 'd'.repeat(64) },
    compute: { name: 'local', type: 'local' },
    host: 'test',
    startedAt: '2026-11-23T09:00:00.000Z',
    endedAt: '2026-11-23T09:00:05.000Z',
    exitCode: 0,
    artifacts: [],
    ...over,
  };
}

/**
 * Record `rec` with the real runs store; `outputs` are written to a scratch outputs folder
 * and collected as artifacts (default: model.pkl and sample.json). Returns the runs commit.
 */
export async function addRun(dir: string, rec: RunRecord, outputs: Record<string, string> = { 'model.pkl': `model of ${rec.id}`, 'sample.json': '[{"x": 1}]' }): Promise<string> {
  const out = mkdtempSync(path.join(tmpdir(), 'gitml-out-'));
  try {
    writeFiles(out, outputs);
    const r = await recordRun({ dir, record: rec, outputsDir: out });
    rec.artifacts = r.record.artifacts;
    return r.commit;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * Seconds-resolution clock for exact tagger times: start + i seconds per call. The default
 * start is a minute ahead, so tags are later than the runs commits they point at (as in life;
 * GTO counts commit times as events too).
 */
export function clock(start = Math.ceil(Date.now() / 1000) * 1000 + 60_000): () => Date {
  let i = 0;
  return () => new Date(start + 1000 * i++);
}
