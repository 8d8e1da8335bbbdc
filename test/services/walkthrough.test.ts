// The README's "Deploying services" walk-through, word for word: its bash block is taken from
// README.md and run with a `gitml` on PATH, against the real engine. Then, from another
// process, `gitml services` shows what the walk-through left: v0.0.1 back in production after
// the rollback, serving on the port.
import { afterAll, expect, test } from 'vitest';
import path from 'node:path';
import { describeDocker } from '../support/docker.js';
import { gitml, tmpDir } from '../support/repo.js';
import { SERVICE_ENV, removeProject } from '../support/services.js';
import { runReadmeBlock } from '../support/readme.js';

const PORT = 18620;
const base = tmpDir('gitml-walk-');
const demo = path.join(base, 'deploydemo');


describeDocker('README: Deploying services', () => {
  afterAll(async () => {
    await removeProject(path.basename(demo));
  });

  test('register, promote, deploy, score, promote a new version, deploy, roll back', () => {
    const r = runReadmeBlock({ heading: '## Deploying services', base, demo, port: PORT, env: SERVICE_ENV });
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.stdout).toMatch(/\{"result": ?\[0\]\}/); // the score
    expect(r.stdout).toMatch(/nothing to change/);
    expect(r.stdout).toMatch(/iris#production: v0\.0\.2 -> v0\.0\.1/);
    expect(r.stdout).toMatch(/"type": "Ready",\n\s+"status": true/);

    const list = gitml(demo, ['services', '--json'], { env: SERVICE_ENV });
    expect(list.code).toBe(0);
    const [s] = JSON.parse(list.stdout) as Array<{ state: string; url: string; running: Array<{ version: string; weight: number }>; lastDeploy: { trigger: string } }>;
    expect(s).toMatchObject({ state: 'Ready', url: `http://127.0.0.1:${PORT}`, lastDeploy: { trigger: 'rollback' } });
    expect(s.running).toEqual([expect.objectContaining({ version: 'v0.0.1', weight: 100 })]);
  }, 900_000);
});
