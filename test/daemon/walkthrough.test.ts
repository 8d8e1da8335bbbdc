// The README's "Triggers" walk-through, word for word: its bash block is taken from README.md
// and run with a `gitml` on PATH (and a python3 with scikit-learn, as the template's local
// environment says), against the real engine: a daemon in its own clone of a remote runs a
// pushed commit and pushes the run back; a pushed stage tag deploys the service; a replica
// killed by hand comes back; SIGTERM stops the daemon with exit 0.
import { afterAll, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeDocker } from '../support/docker.js';
import { gitml, tmpDir } from '../support/repo.js';
import { SERVICE_ENV, removeProject } from '../support/services.js';
import { runReadmeBlock } from '../support/readme.js';

const PORT = 18631;
const base = tmpDir('gitml-daemon-walk-');
const demo = path.join(base, 'demo');


describeDocker('README: Triggers', () => {
  afterAll(async () => {
    // The daemon is stopped by the block; one a failure left running is found by its lock.
    try {
      const { pid } = JSON.parse(readFileSync(path.join(demo, 'ci/.git/gitml/daemon/daemon.lock'), 'utf8')) as { pid: number };
      process.kill(pid, 'SIGKILL');
    } catch {
      /* stopped */
    }
    await removeProject('daemondemo');
  });

  test('a pushed commit runs and reaches the remote; a pushed stage tag deploys; a killed replica comes back', () => {
    const r = runReadmeBlock({ heading: '## Triggers', base, demo, port: PORT, env: SERVICE_ENV, venv: true });
    const log = (() => {
      try {
        return readFileSync(path.join(demo, 'daemon.log'), 'utf8');
      } catch {
        return '';
      }
    })();
    expect(r.status, `${r.stderr}\n${r.stdout}\n--- daemon.log\n${log}`).toBe(0);
    const events = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
    const fin = events.find((e) => e.event === 'run-finished');
    expect(fin).toMatchObject({ experiment: 'train', status: 'completed' });
    expect(r.stdout).toContain(String(fin!.runId).slice(0, 8)); // `gitml runs list` in the user's clone shows the daemon's run
    expect(events.find((e) => e.event === 'tags')).toMatchObject({ models: ['iris'] });
    expect(events.filter((e) => e.event === 'deployed' && e.noop === false).length).toBeGreaterThanOrEqual(2); // the tag, then the killed replica
    expect(r.stdout).toMatch(/\{"result": ?\[0\]\}/);
    expect(r.stdout).toMatch(/^running: pid \d+/m);
    expect(events.at(-1)?.event).toBe('stop');

    // The service's deploys are on the daemon's status branch, pushed to the remote after the run.
    const list = gitml(path.join(demo, 'ci'), ['services', '--json'], { env: SERVICE_ENV });
    expect(list.code, list.stderr).toBe(0);
    const [s] = JSON.parse(list.stdout) as Array<{ name: string; lastDeploy?: { trigger: string } }>;
    expect(s).toMatchObject({ name: 'iris', lastDeploy: { trigger: 'daemon' } });
  }, 900_000);
});
