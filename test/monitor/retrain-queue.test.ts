/**
 * Retraining through the daemon's queue (core/monitor/retrain.ts queueRetraining): a drift
 * report past the threshold queues the retrain experiment at HEAD with `trigger: drift:<id>`
 * and what the worker must do after it; never a second one per service while one waits or
 * runs; a later report, once that one is done, is a new entry at the same commit; a failed
 * retraining backs off; `gitml monitor --retrain` queues instead of running while a daemon
 * holds the repository.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { daemonDir } from '../../core/daemon/state.js';
import { queueRetraining, settleRetraining } from '../../core/monitor/retrain.js';
import type { MonitorReport } from '../../core/monitor/report.js';
import { listEntries, queuePaths, writeEntry } from '../../core/queue/store.js';
import type { RunRecord } from '../../core/runs/types.js';
import { git, gitml, removeDir, tmpDir } from '../support/repo.js';

let dir = '';
const report = (id: string): MonitorReport & { id: string } => ({ id, service: 'iris', model: 'iris', driftShare: 0.5, noData: false, driftedColumns: ['petal_length'] }) as unknown as MonitorReport & { id: string };

describe('retraining through the queue', () => {
  beforeAll(() => {
    dir = path.join(tmpDir('gitml-retrain-q-'), 'repo');
    expect(gitml(path.dirname(dir), ['init', dir, '--template', 'sklearn']).code).toBe(0);
    const f = path.join(dir, 'gitml/services/iris.yaml');
    writeFileSync(f, 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\nmonitoring:\n  sampleRate: 0.1\n  retrain: { experiment: train, threshold: 0.25, backoff: 2h }\n');
    git(dir, 'commit', '-qam', 'retrain policy');
  });
  afterAll(() => {
    if (dir) removeDir(path.dirname(dir));
  });

  test('queued once per service at HEAD, a new entry for a later report, backing off after a failure', async () => {
    const head = git(dir, 'rev-parse', 'HEAD').trim();
    const q = await queueRetraining({ dir, service: 'iris', report: report('aaaaaaaaaaaaaaaa') });
    expect(q).toMatchObject({ action: 'queued', entry: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const p = await queuePaths(dir);
    let entries = listEntries(p);
    expect(entries).toEqual([expect.objectContaining({ id: q.entry, experiment: 'train', commit: head, state: 'queued', trigger: { kind: 'drift', ref: 'aaaaaaaaaaaaaaaa' }, retrain: { service: 'iris', model: 'iris', report: 'aaaaaaaaaaaaaaaa' } })]);

    const again = await queueRetraining({ dir, service: 'iris', report: report('bbbbbbbbbbbbbbbb') });
    expect(again).toMatchObject({ action: 'in-flight', entry: q.entry });
    expect(listEntries(p)).toHaveLength(1);

    // Done: the next report queues again, at the same commit and params, as a new entry.
    writeEntry(p, { ...entries[0], state: 'completed' });
    const next = await queueRetraining({ dir, service: 'iris', report: report('bbbbbbbbbbbbbbbb') });
    expect(next.action).toBe('queued');
    expect(next.entry).not.toBe(q.entry);
    entries = listEntries(p);
    expect(entries.map((e) => e.commit)).toEqual([head, head]);

    // The worker's run failed: nothing registered, and the next report backs off.
    writeEntry(p, { ...entries.find((e) => e.id === next.entry)!, state: 'failed' });
    const failed = await settleRetraining({ dir, service: 'iris', model: 'iris', report: 'bbbbbbbbbbbbbbbb', runId: 'r1', record: { status: 'failed', experiment: 'train', error: 'exit 1' } as RunRecord });
    expect(failed).toMatchObject({ action: 'failed', runId: 'r1' });
    expect(failed.message).toMatch(/nothing registered; the next report may retry after 2h/);
    expect((await queueRetraining({ dir, service: 'iris', report: report('cccccccccccccccc') })).action).toBe('backing-off');
    expect(listEntries(p)).toHaveLength(2);
  });

  test('gitml monitor --retrain queues for a running daemon instead of running', async () => {
    const r2 = path.join(tmpDir('gitml-retrain-q2-'), 'repo');
    expect(gitml(path.dirname(r2), ['init', r2, '--template', 'sklearn']).code).toBe(0);
    const f = path.join(r2, 'gitml/services/iris.yaml');
    writeFileSync(f, 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\nmonitoring:\n  retrain: { experiment: train, threshold: 0.25 }\n');
    git(r2, 'commit', '-qam', 'retrain policy');
    // A model version to monitor: a run of the template (on local, the test venv's scikit-learn).
    const { testPython } = await import('../support/python.js');
    const env = { PATH: `${path.dirname(testPython())}${path.delimiter}${process.env.PATH}` };
    const run = gitml(r2, ['run', 'train', '--json'], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(gitml(r2, ['model', 'register', 'iris', '--run', JSON.parse(run.stdout).id]).code).toBe(0);
    expect(gitml(r2, ['model', 'promote', 'iris', 'v0.0.1', 'production']).code).toBe(0);
    const log = path.join(path.dirname(r2), 'requests.jsonl');
    const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ ts: new Date(Date.now() - (60 - i) * 1000).toISOString(), model: 'iris', version: 'v0.0.1', route: '/score', ms: 1, inputs: [{ sepal_length: 5 + (i % 7) * 0.2, sepal_width: 3 + (i % 5) * 0.1, petal_length: 9 + (i % 9) * 0.3, petal_width: 1 + (i % 4) * 0.2 }], outputs: [0] }));
    writeFileSync(log, lines.join('\n') + '\n');
    // A live daemon holds the repository (this process stands in for it).
    const ddir = await daemonDir(r2);
    mkdirSync(ddir, { recursive: true });
    writeFileSync(path.join(ddir, 'daemon.lock'), JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
    const m = gitml(r2, ['monitor', 'iris', '--requests', log, '--retrain', '--json'], { env });
    expect(m.code, m.stderr).toBe(1);
    const out = JSON.parse(m.stdout);
    expect(out.retrain).toMatchObject({ action: 'queued' });
    const entries = listEntries(await queuePaths(r2));
    expect(entries).toEqual([expect.objectContaining({ id: out.retrain.entry, trigger: { kind: 'drift', ref: out.report.id }, retrain: { service: 'iris', model: 'iris', report: out.report.id } })]);
    // Nothing ran here: no second run on the runs branch.
    expect(JSON.parse(gitml(r2, ['runs', '--json']).stdout).runs).toHaveLength(1);
    removeDir(path.dirname(r2));
  }, 180_000);
});
