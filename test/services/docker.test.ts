/**
 * Docker services end to end, through the CLI, on the real engine with HAProxy in front of the
 * real scoring server of scikit-learn models trained on the docker compute: deploy, no-op,
 * rollout under load with no failed request, canary split, a replica killed by hand, a
 * version that never becomes ready, rollback, a port in use, concurrent deploys, a deploy
 * killed midway, the engine down, and the status recorded on the status branch.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { TINY_IMAGE, describeDocker, dockerClient } from '../support/docker.js';
import { git, gitml } from '../support/repo.js';
import { SCORE_BODY, SERVICE_ENV, editService, gitmlAsync, removeProject, serviceRepo, startLoad } from '../support/services.js';

const PORT = 18610;
const URL = `http://127.0.0.1:${PORT}`;
let repo: ReturnType<typeof serviceRepo>;
let project: string;

const cli = (args: string[], env: Record<string, string> = {}) => gitml(repo.dir, args, { env: { ...SERVICE_ENV, ...env }, timeout: 600_000 });
const json = <T>(args: string[]): T => {
  const r = cli([...args, '--json']);
  if (r.code !== 0 && r.code !== 1) throw new Error(`gitml ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};
interface Summary { name: string; state: string; ready: number; replicas: number; url?: string; running: Array<{ version: string; weight: number; ready: number }>; lastDeploy?: { revision: string; tags: string[] } }
const services = () => json<Summary[]>(['services']);

async function replicas(): Promise<Array<{ Id: string; Labels: Record<string, string>; State: string }>> {
  const docker = await dockerClient();
  return docker.listContainers({ all: true, filters: JSON.stringify({ label: [`dev.gitml.project=${project}`, 'dev.gitml.service-part=replica'] }) });
}

/** One scoring request on a fresh connection (each check sees the front as a new client would). */
function score(): Promise<{ status: number; version: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${URL}/score`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (r) => {
      r.resume();
      r.on('end', () => resolve({ status: r.statusCode ?? 0, version: (r.headers['x-gitml-version'] as string | undefined) ?? null }));
    });
    req.on('error', reject);
    req.end(SCORE_BODY);
  });
}

describeDocker('docker services', () => {
  beforeAll(() => {
    repo = serviceRepo({ port: PORT, versions: 2 });
    project = path.basename(repo.dir);
    // A third version whose model file is not a pickle: it never becomes ready.
    const train = path.join(repo.dir, 'src/train.py');
    writeFileSync(train, readFileSync(train, 'utf8').replace('pickle.dump(clf, f)', "pickle.dump(clf, f) if args.C != 9 else f.write(b'not a pickle')"));
    git(repo.dir, 'commit', '-qam', 'train: C=9 writes a broken model');
    const run = JSON.parse(cli(['run', 'train', '--compute', 'docker', '--param', 'C=9', '--json']).stdout) as { id: string };
    repo.versions.push((JSON.parse(cli(['model', 'register', 'iris', '--run', run.id, '--json']).stdout) as { version: string }).version);
    // A fourth version whose serving environment cannot be built: its image build fails.
    writeFileSync(path.join(repo.dir, 'broken.Dockerfile'), `FROM ${TINY_IMAGE}\nRUN echo gitml-serving-build-fails && exit 7\n`);
    writeFileSync(path.join(repo.dir, 'gitml/environments/broken.yaml'), 'kind: Environment\ndockerfile: broken.Dockerfile\ncontext: gitml\n');
    const model = path.join(repo.dir, 'gitml/models/iris.yaml');
    writeFileSync(model, readFileSync(model, 'utf8') + 'environment: broken\n');
    git(repo.dir, 'add', '-A');
    git(repo.dir, 'commit', '-qm', 'iris is served from an environment that does not build');
    const run4 = JSON.parse(cli(['run', 'train', '--compute', 'docker', '--param', 'C=3', '--json']).stdout) as { id: string };
    repo.versions.push((JSON.parse(cli(['model', 'register', 'iris', '--run', run4.id, '--json']).stdout) as { version: string }).version);
  }, 900_000);
  afterAll(async () => {
    if (project) await removeProject(project);
  });

  test('deploy serves the production version on its port; a second deploy is a no-op that says so', async () => {
    const plan = cli(['deploy', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/start 1 primary replica\(s\) of v0\.0\.1/);
    expect(await replicas()).toHaveLength(0); // --dry-run changed nothing

    const r = cli(['deploy']);
    expect(r.code, r.stderr).toBe(0);
    expect(await score()).toEqual({ status: 200, version: repo.versions[0] });

    const again = cli(['deploy']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to change/);
    const [s] = services();
    expect(s).toMatchObject({ name: 'iris', state: 'Ready', ready: 1, replicas: 1, url: URL });
    expect(s.running).toEqual([{ version: repo.versions[0], weight: 100, ready: 1, replicas: 1 }]);
    expect(s.lastDeploy?.tags).toEqual(['iris#production#1']);

    // The status branch, readable with plain git.
    const status = JSON.parse(git(repo.dir, 'show', 'gitml-status:services/iris/status.json')) as { conditions: Array<{ type: string; status: boolean }>; lastAppliedRevision: string };
    expect(status.conditions.find((c) => c.type === 'Ready')?.status).toBe(true);
    expect(status.lastAppliedRevision).toBe(git(repo.dir, 'rev-parse', 'main').trim());
    // Containers are hardened.
    const docker = await dockerClient();
    const info = await docker.getContainer((await replicas())[0].Id).inspect();
    expect(info.Config.User).toBe('1000:1000');
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
  });

  test('a newly promoted version replaces the old one under load with no failed request', async () => {
    expect(cli(['model', 'promote', 'iris', repo.versions[1], 'production']).code).toBe(0);
    const load = startLoad(`${URL}/score`, SCORE_BODY, { concurrency: 8 });
    await new Promise((r) => setTimeout(r, 500));
    const d = await gitmlAsync(repo.dir, ['deploy']);
    await new Promise((r) => setTimeout(r, 500));
    const res = await load.stop();
    expect(d.code, d.stderr).toBe(0);
    expect(res.failed, res.errors.join('\n')).toBe(0);
    expect(res.versions[repo.versions[0]]).toBeGreaterThan(0);
    expect(res.versions[repo.versions[1]]).toBeGreaterThan(0);
    const left = await replicas();
    expect(left.map((c) => c.Labels['dev.gitml.service-version'])).toEqual([repo.versions[1]]);
  });

  test('canary: weight percent of requests go to the canary version', async () => {
    editService(repo.dir, (y) => `${y}canary:\n  version: ${repo.versions[0]}\n  weight: 30\n`);
    expect(cli(['deploy']).code).toBe(0);
    const r = await startLoad(`${URL}/score`, SCORE_BODY, { concurrency: 4, count: 600 }).done;
    expect(r.failed).toBe(0);
    const share = (r.versions[repo.versions[0]] ?? 0) / r.ok;
    // 600 draws at p = 0.3: the standard deviation is 1.9 %, so ±7 % is over 3.5 sigma.
    expect(share).toBeGreaterThan(0.23);
    expect(share).toBeLessThan(0.37);
    editService(repo.dir, (y) => y.replace(/canary:\n(  .*\n)+/, ''));
    expect(cli(['deploy']).code).toBe(0);
    expect((await replicas()).map((c) => c.Labels['dev.gitml.service-version'])).toEqual([repo.versions[1]]);
  });

  test('a replica killed by hand is restored by the next deploy', async () => {
    const docker = await dockerClient();
    const [victim] = await replicas();
    await docker.getContainer(victim.Id).kill();
    const [s] = services();
    expect(s.state).not.toBe('Ready');
    const r = cli(['deploy']);
    expect(r.code, r.stderr).toBe(0);
    const now = await replicas();
    expect(now).toHaveLength(1);
    expect(now[0].Id).not.toBe(victim.Id);
    expect(services()[0].state).toBe('Ready');
    expect((await score()).status).toBe(200);
  });

  test('a version that never becomes ready stops the rollout, Stalled is recorded, the old version keeps serving', async () => {
    expect(cli(['model', 'promote', 'iris', repo.versions[2], 'production']).code).toBe(0);
    const r = cli(['deploy', '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { services: Array<{ error?: { code: string } }> };
    expect(out.services[0].error?.code).toBe('DEPLOY');
    expect(await score()).toEqual({ status: 200, version: repo.versions[1] });
    const status = JSON.parse(git(repo.dir, 'show', 'gitml-status:services/iris/status.json')) as { conditions: Array<{ type: string; status: boolean; reason: string }>; lastAttemptedRevision: string; lastApplied: { versions: Array<{ version: string }> } };
    expect(status.conditions.find((c) => c.type === 'Stalled')).toMatchObject({ status: true, reason: 'ReplicaFailed' });
    expect(status.lastApplied.versions[0].version).toBe(repo.versions[1]);
    expect(services()[0].state).toBe('Stalled');
    expect((await replicas()).map((c) => c.Labels['dev.gitml.service-version'])).toEqual([repo.versions[1]]);
  });

  test('rollback moves the stage tag back to the previous version and deploys it', async () => {
    const r = cli(['rollback', 'iris', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { from: string; version: string; tag: string };
    expect(out).toMatchObject({ from: repo.versions[2], version: repo.versions[1] });
    expect(git(repo.dir, 'tag', '--list', out.tag).trim()).toBe(out.tag);
    expect(await score()).toEqual({ status: 200, version: repo.versions[1] });
    expect(services()[0].state).toBe('Ready');
    const to = cli(['rollback', 'iris', '--to', repo.versions[0]]);
    expect(to.code, to.stderr).toBe(0);
    expect(await score()).toEqual({ status: 200, version: repo.versions[0] });
  });

  test('two deploys at once do not interleave; a deploy killed midway is repaired by the next', async () => {
    expect(cli(['model', 'promote', 'iris', repo.versions[1], 'production']).code).toBe(0);
    const [a, b] = await Promise.all([gitmlAsync(repo.dir, ['deploy', '--json']), gitmlAsync(repo.dir, ['deploy', '--json'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const steps = [a, b].map((x) => (JSON.parse(x.stdout) as { services: Array<{ steps: unknown[] }> }).services[0].steps.length).sort();
    expect(steps[0]).toBe(0); // the second saw the first's result: nothing left to do
    expect(steps[1]).toBeGreaterThan(0);
    expect(await replicas()).toHaveLength(1);

    // Killed while its new replica starts: the next deploy ends with exactly the desired set.
    expect(cli(['model', 'promote', 'iris', repo.versions[0], 'production']).code).toBe(0);
    const killed = gitmlAsync(repo.dir, ['deploy']);
    for (let i = 0; i < 600 && (await replicas()).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    killed.kill('SIGKILL');
    await killed;
    const r = cli(['deploy']);
    expect(r.code, r.stderr).toBe(0);
    const left = await replicas();
    expect(left.map((c) => c.Labels['dev.gitml.service-version'])).toEqual([repo.versions[0]]);
    expect(await score()).toEqual({ status: 200, version: repo.versions[0] });
  });

  test('logs across replicas, and services from another process', async () => {
    const logs = cli(['service', 'logs', 'iris']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(new RegExp(`^\\[${repo.versions[0].replace(/\./g, '\\.')}/[0-9a-f]{8}\\] `, 'm'));
    const st = cli(['service', 'status', 'iris', '--json']);
    const d = JSON.parse(st.stdout) as { history: Array<{ trigger: string }>; replicas: unknown[] };
    expect(d.replicas).toHaveLength(1);
    expect(d.history.map((h) => h.trigger)).toContain('rollback');
  });

  test('bad input: a port in use, a compute that cannot serve, an unknown service, the engine down', async () => {
    const blocker = net.createServer().listen(PORT + 1, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      editService(repo.dir, (y) => y.replace(/^port: .*$/m, `port: ${PORT + 1}`));
      const r = cli(['deploy', '--json']);
      expect(r.code).toBe(1);
      expect((JSON.parse(r.stdout) as { services: Array<{ error?: { code: string; message: string } }> }).services[0].error?.code).toBe('DEPLOY');
      // Start-first for the front as well: the old one still serves on the old port.
      expect((await score()).status).toBe(200);
    } finally {
      blocker.close();
    }
    editService(repo.dir, (y) => y.replace(/^port: .*$/m, `port: ${PORT}`));
    expect(cli(['deploy']).code).toBe(0);
    expect((await score()).status).toBe(200);

    const unknown = cli(['deploy', 'nope', '--json']);
    expect(unknown.code).toBe(1);
    expect((JSON.parse(unknown.stdout) as { services: Array<{ error?: { code: string } }> }).services[0].error?.code).toBe('UNKNOWN_ENTITY');

    // --no-wait is for Kubernetes: refused for a Docker service, before anything is applied or recorded.
    const head = git(repo.dir, 'rev-parse', 'gitml-status').trim();
    const running = (await replicas()).length;
    editService(repo.dir, (y) => y.replace(/^replicas: .*$/m, 'replicas: 2'));
    const nowait = cli(['deploy', '--no-wait']);
    expect(nowait.code).toBe(2);
    expect(nowait.stdout + nowait.stderr).toMatch(/--no-wait applies to Kubernetes computes/);
    expect(git(repo.dir, 'rev-parse', 'gitml-status').trim()).toBe(head);
    expect(await replicas()).toHaveLength(running);
    editService(repo.dir, (y) => y.replace(/^replicas: .*$/m, 'replicas: 1'));

    const down = cli(['deploy'], { DOCKER_HOST: 'tcp://127.0.0.1:1' });
    expect(down.code).toBe(3);
    expect(down.stderr + down.stdout).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('an image that fails to build: exit 1, the build\'s failing step named, Stalled recorded, the old version keeps serving', async () => {
    const before = await score();
    expect(before.status).toBe(200);
    expect(cli(['model', 'promote', 'iris', repo.versions[3], 'production']).code).toBe(0);
    const r = cli(['deploy', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { services: Array<{ error?: { code: string; message: string } }> };
    expect(out.services[0].error?.message).toMatch(/gitml-serving-build-fails|exit(ed)? (code )?7|returned a non-zero code: 7/);
    expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
    expect(await score()).toEqual(before);
    const status = JSON.parse(git(repo.dir, 'show', 'gitml-status:services/iris/status.json')) as { conditions: Array<{ type: string; status: boolean }> };
    expect(status.conditions.find((c) => c.type === 'Stalled')?.status).toBe(true);
    expect(services()[0].state).toBe('Stalled');
  });

  test('prune removes a service whose YAML is gone', async () => {
    git(repo.dir, 'rm', '-q', 'gitml/services/iris.yaml');
    git(repo.dir, 'commit', '-qm', 'retire iris');
    const plain = cli(['deploy']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/--prune/);
    expect(await replicas()).toHaveLength(1);
    const r = cli(['deploy', '--prune']);
    expect(r.code, r.stderr).toBe(0);
    expect(await replicas()).toHaveLength(0);
  });
});
