/**
 * Monitoring a deployed service on the real engine: with `monitoring.sampleRate` the Docker
 * replicas write their sampled requests to the service's samples volume, and `gitml monitor
 * SERVICE` (no --requests) reads them from there: requests with petal_length shifted are
 * named as drift of that column alone. Deleting the service removes the volume.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EXIT } from '../../core/errors.js';
import { describeDocker, dockerClient } from '../support/docker.js';
import { testPython } from '../support/python.js';
import { git, gitml } from '../support/repo.js';
import { SERVICE_ENV, editService, removeProject, serviceRepo } from '../support/services.js';
import { shiftedIrisBatches } from './shifted.js';

const PORT = 18640;
let dir = '';

describeDocker('gitml monitor on a deployed Docker service', () => {
  beforeAll(() => {
    dir = serviceRepo({ port: PORT }).dir;
    editService(dir, (y) => y.replace(/sampleRate: [0-9.]+/, 'sampleRate: 1').replace(/^replicas: 1$/m, 'replicas: 2'));
    const d = gitml(dir, ['deploy'], { env: SERVICE_ENV, timeout: 600_000 });
    expect(d.code, d.stderr).toBe(0);
  }, 900_000);
  afterAll(async () => {
    if (dir) await removeProject(path.basename(dir));
  });

  test('shifted petal_length through the proxy: monitor reads the replicas\' sample logs and names that column only', async () => {
    const none = gitml(dir, ['monitor', 'iris', '--json'], { env: SERVICE_ENV });
    expect(none.code, none.stderr).toBe(EXIT.OK);
    expect(JSON.parse(none.stdout).current.rows).toBe(0);

    const { rows, batches } = shiftedIrisBatches(dir);
    for (const data of batches) {
      // A new connection per request: the proxy balances connections over both replicas.
      const res = await fetch(`http://127.0.0.1:${PORT}/score`, { method: 'POST', headers: { 'Content-Type': 'application/json', Connection: 'close' }, body: JSON.stringify({ data }) });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    const m = gitml(dir, ['monitor', 'iris', '--json'], { env: SERVICE_ENV });
    expect(m.code, m.stderr).toBe(EXIT.FAILURE);
    const rep = JSON.parse(m.stdout);
    expect(rep.current.rows).toBe(rows);
    expect(rep.current.file).toMatch(/sample logs of iris \(2 replicas\)/);
    expect(rep.driftedColumns).toEqual(['petal_length']);

    // The daemon monitors on the service's schedule: a report recorded on the status branch,
    // and not again before `every` has passed.
    // Past the retraining threshold the daemon queues the retraining, runs it from its queue and
    // registers the model it made.
    editService(dir, (y) => y.replace(/sampleRate: 1\n/, 'sampleRate: 1\n  every: 1h\n  retrain: { experiment: train, threshold: 0.25 }\n'));
    const daemonEnv = { ...SERVICE_ENV, PATH: `${path.dirname(testPython())}${path.delimiter}${process.env.PATH}` };
    const daemon = () => {
      const r = gitml(dir, ['daemon', '--once', '--json'], { env: daemonEnv, timeout: 300_000 });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
    };
    const events = daemon();
    const first = events.filter((e) => e.event === 'monitored');
    expect(first).toEqual([expect.objectContaining({ service: 'iris', drifted: ['petal_length'], rows: rows })]);
    const retrain = events.filter((e) => e.event === 'retrain');
    expect(retrain).toEqual([expect.objectContaining({ action: 'queued' }), expect.objectContaining({ action: 'registered', version: 'v0.0.2' })]);
    expect(events).toContainEqual(expect.objectContaining({ event: 'run-finished', id: retrain[0].entry, status: 'completed' }));
    const rerun = JSON.parse(gitml(dir, ['runs', 'show', String(retrain[1].run), '--json']).stdout) as { trigger: unknown };
    expect(rerun.trigger).toEqual({ kind: 'drift', ref: first[0].id });
    const latest = JSON.parse(git(dir, 'show', `gitml-status:${String(first[0].recorded).replace(/reports\/.*$/, 'latest.json')}`)) as { id: string };
    expect(latest.id).toBe(first[0].id);
    expect(daemon().filter((e) => e.event === 'monitored')).toEqual([]);

    const volumes = async () => (await (await dockerClient()).listVolumes({ filters: JSON.stringify({ label: [`dev.gitml.project=${path.basename(dir)}`] }) })).Volumes?.map((v) => v.Name) ?? [];
    expect(await volumes()).toHaveLength(1);
    expect(gitml(dir, ['service', 'delete', 'iris'], { env: SERVICE_ENV }).code).toBe(0);
    expect(await volumes()).toEqual([]);
  }, 600_000);
});
