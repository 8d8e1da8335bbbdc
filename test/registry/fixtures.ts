/**
 * Registry fixtures: a real repository with a valid workspace and a model, and run records
 * committed on the `runs` branch by hand with git plumbing (a commit holding run.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../core/runs/types.js';
import { GIT_ENV, makeRepo } from '../support/repo.js';

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

function run(dir: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): string {
  return execFileSync('git', args, { cwd: dir, env: { ...process.env, ...GIT_ENV, ...opts.env }, input: opts.input, encoding: 'utf8' }).trim();
}

let seq = 0;

/** A run id in the runs store's format (26 characters of lowercase base32), unique per call. */
export function fakeRunId(): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  let n = Date.now() * 1000 + seq++;
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = alphabet[n % 32] + s;
    n = Math.floor(n / 32);
  }
  for (let i = 0; i < 16; i++) s += alphabet[Math.floor(Math.random() * 32)];
  return s;
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
    artifacts: [
      { path: 'model.pkl', size: 1234, sha256: 'e'.repeat(64), storage: 'inline' },
      { path: 'sample.json', size: 100, sha256: 'f'.repeat(64), storage: 'inline' },
    ],
    ...over,
  };
}

/** Commit `rec` as `<experiment>/<month>/<bucket>/<id>/run.json` on the runs branch; returns the commit. */
export function addRun(dir: string, rec: RunRecord): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'gitml-idx-'));
  const env = { GIT_INDEX_FILE: path.join(tmp, 'index') };
  try {
    let parent: string | undefined;
    try {
      parent = run(dir, ['rev-parse', '--verify', '--quiet', 'refs/heads/runs']);
    } catch {
      parent = undefined;
    }
    if (parent) run(dir, ['read-tree', parent], { env });
    const blob = run(dir, ['hash-object', '-w', '--stdin'], { input: JSON.stringify(rec, null, 2) + '\n' });
    const file = `${rec.experiment}/2026-11/${rec.id.slice(10, 12)}/${rec.id}/run.json`;
    run(dir, ['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], { env });
    const tree = run(dir, ['write-tree'], { env });
    const commit = run(dir, ['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', `run ${rec.id}`]);
    run(dir, ['update-ref', 'refs/heads/runs', commit, ...(parent ? [parent] : [''])]);
    return commit;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Seconds-resolution clock for exact tagger times: t0 + i seconds per call. */
export function clock(start = Date.UTC(2026, 10, 23, 9, 0, 0)): () => Date {
  let i = 0;
  return () => new Date(start + 1000 * i++);
}
