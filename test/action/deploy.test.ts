import path from 'node:path';
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker } from '../support/docker.js';
import { freePort } from '../support/git-servers.js';
import { git } from '../support/repo.js';
import { SCORE_BODY, SERVICE_ENV, removeProject, serviceRepo } from '../support/services.js';
import { checkout, makeWorld, pushEvent, runBundle, type World } from './harness.js';

function score(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/score', method: 'POST', headers: { 'content-type': 'application/json' } }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(SCORE_BODY);
  });
}

describeDocker('the bundled Action on a model tag', () => {
  let w: World;
  let project = '';
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    const repo = serviceRepo({ port });
    project = path.basename(repo.dir);
    w = await makeWorld({}, { source: repo.dir });
  }, 900_000);
  afterAll(async () => {
    if (project) await removeProject(project);
    await w?.stop();
  });

  it('a stage tag pushed: the services following the model are reconciled and serve it', async () => {
    const tag = 'iris#production#1';
    const tagged = git(w.bare, 'rev-parse', `refs/tags/${tag}^{commit}`);
    const ws = await checkout(w, git(w.bare, 'rev-parse', 'refs/heads/main'));
    const r = await runBundle(w, { workspace: ws, eventName: 'push', event: pushEvent(`refs/tags/${tag}`, '0'.repeat(40), tagged), ref: `refs/tags/${tag}`, sha: tagged, env: { ...SERVICE_ENV } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.summary).toMatch(/\| iris \| applied/);
    expect(await score(port)).toBe(200);
    // The deploy's record (who, when, which tag) reached the remote's status branch.
    const status = JSON.parse(git(w.bare, 'show', 'refs/heads/gitml-status:services/iris/status.json')) as Record<string, unknown>;
    expect(JSON.stringify(status)).toContain(tag);
    expect(r.stdout).toContain('pushed the status branch gitml-status');
  }, 600_000);
});
