/**
 * Services on a kubernetes compute through the CLI, against the fake API server (which runs
 * Deployments: ReplicaSets, pods becoming ready, rollout conditions): `--render` and
 * `--dry-run` print objects that pass the Kubernetes schemas; deploy pushes the model image
 * to the real local registry and the pods run it by digest; a new stage version rolls out;
 * rollback moves the tag back; `gitml services` shows it from another process.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT } from '../../core/errors.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubeObjectProblems } from '../../core/kube/validate.js';
import { registerModel } from '../../core/registry/register.js';
import { promoteModel } from '../../core/registry/promote.js';
import { TEST_REGISTRY, TINY_IMAGE, describeDocker } from '../support/docker.js';
import { FakeKubeApiServer } from '../support/kube-apiserver.js';
import { gitmlAsync, git, tmpDir, type CliResult } from '../support/repo.js';
import { addRun, clock, makeRegistryRepo, record } from '../registry/fixtures.js';

const env = { GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com' };

const gitml = (cwd: string, args: string[]): Promise<CliResult> =>
  gitmlAsync(cwd, args, { env, ...(process.env.GITML_DEBUG_KUBE ? { onStderr: (d: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${d}`) } : {}) });

let server: FakeKubeApiServer;
let dir = '';
let kubeconfigPath = '';
const versions: string[] = [];
const now = clock();

describeDocker('services on kubernetes (CLI, fake API server)', () => {
  beforeAll(async () => {
    // The fake kubelet pulls from the real local registry: a pod runs only what deploy pushed.
    server = await new FakeKubeApiServer({ podReadyMs: 20, namespaces: ['default', 'ml'], registries: [TEST_REGISTRY.split('/')[0]] }).start();
    const kubeconfig = (kubeconfigPath = server.writeKubeconfig(tmpDir('gitml-kube-svc-'), { context: 'fake', namespace: 'ml' }));
    dir = makeRegistryRepo({
      'gitml/compute/k8s.yaml': ['kind: ComputeTarget', 'type: kubernetes', `kubeconfig: ${JSON.stringify(kubeconfig)}`, 'context: fake', 'namespace: ml', `registry: ${TEST_REGISTRY}/gitml-svc-test`, ''].join('\n'),
      'gitml/environments/py.yaml': `kind: Environment\nimage: ${TINY_IMAGE}\n`,
      'gitml/services/iris.yaml': 'kind: Service\nmodel: iris\ncompute: k8s\nreplicas: 2\nport: 80\nresources: { cpu: 500m, memory: 256Mi }\n',
    });
    for (let i = 0; i < 2; i++) {
      const rec = record({ source: { commit: git(dir, 'rev-parse', 'HEAD').trim(), tree: git(dir, 'rev-parse', 'HEAD^{tree}').trim(), branch: 'main' } });
      await addRun(dir, rec, { 'model.pkl': `model ${i}`, 'sample.json': '[{"x": 1}]' });
      versions.push((await registerModel({ dir, name: 'iris', runId: rec.id, now: now(), env })).version);
    }
    await promoteModel({ dir, name: 'iris', version: versions[0], stage: 'production', now: now(), env });
  }, 600_000);
  afterAll(async () => {
    await server?.stop();
  });

  test('--render and --dry-run print objects that the Kubernetes schemas accept, and contact nothing for --render', async () => {
    const before = server.requests.length;
    const r = await gitml(dir, ['deploy', '--render']);
    expect(r.code, r.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean) as Array<{ kind: string; spec?: { replicas?: number } }>;
    expect(docs.map((d) => d.kind).sort()).toEqual(['Deployment', 'Service']);
    for (const d of docs) expect(kubeObjectProblems(d)).toEqual([]);
    expect(docs.find((d) => d.kind === 'Deployment')?.spec?.replicas).toBe(2);

    const dry = await gitml(dir, ['deploy', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/start 2 primary replica\(s\) of v0\.0\.1/);
    expect(dry.stdout).toMatch(/kind: Deployment/);
    expect(server.list('deployments', 'ml')).toHaveLength(0);
  });

  test('deploy, roll to a new version, roll back; services shows it', async () => {
    let t = Date.now();
    const r = await gitml(dir, ['deploy']);
    console.log(`first deploy ${Date.now() - t} ms`);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    const dep = server.get('deployments', 'ml', 'iris') as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
    expect(dep.spec.template.spec.containers[0].image).toMatch(new RegExp(`^${TEST_REGISTRY}/gitml-svc-test/gitml-model/iris@sha256:[0-9a-f]{64}$`));
    const noop = await gitml(dir, ['deploy']);
    expect(noop.stdout).toMatch(/nothing to change/);

    await promoteModel({ dir, name: 'iris', version: versions[1], stage: 'production', now: now(), env });
    t = Date.now();
    const roll = await gitml(dir, ['deploy', '--json']);
    console.log(`roll ${Date.now() - t} ms`);
    expect(roll.code, roll.stderr).toBe(0);
    let list = JSON.parse((await gitml(dir, ['services', '--json'])).stdout) as Array<{ state: string; running: Array<{ version: string; ready: number }> }>;
    expect(list[0].state).toBe('Ready');
    expect(list[0].running).toEqual([expect.objectContaining({ version: versions[1], ready: 2 })]);

    const back = await gitml(dir, ['rollback', 'iris']);
    expect(back.code, back.stderr).toBe(0);
    list = JSON.parse((await gitml(dir, ['services', '--json'])).stdout);
    expect(list[0].running).toEqual([expect.objectContaining({ version: versions[0], ready: 2 })]);
    const applies = server.requests.filter((q) => q.method === 'PATCH' && /deployments/.test(q.path));
    expect(applies.length).toBeGreaterThan(0);
    for (const q of applies) expect(q.query.fieldManager).toBe('gitml');
  }, 600_000);

  test('--no-wait applies the new Deployment and returns Reconciling; the next deploy moves traffic and says Ready', async () => {
    await promoteModel({ dir, name: 'iris', version: versions[1], stage: 'production', now: now(), env });
    const r = await gitml(dir, ['deploy', 'iris', '--no-wait', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { services: Array<{ outcome: { conditions: Array<{ type: string; status: boolean; reason: string; message: string }> } }> };
    const cond = Object.fromEntries(out.services[0].outcome.conditions.map((c) => [c.type, c]));
    expect(cond.Ready).toMatchObject({ status: false, reason: 'Progressing' });
    expect(cond.Reconciling).toMatchObject({ status: true, reason: 'RolloutStarted' });
    expect(cond.Reconciling.message).toMatch(/wait until 2 replica\(s\) of v0\.0\.2/);
    expect(r.stderr).not.toMatch(/Deployment iris: \d\/\d updated/); // no rollout was watched
    const dep = server.get('deployments', 'ml', 'iris') as { spec: { template: { metadata: { labels: Record<string, string> } } } };
    expect(JSON.stringify(dep.spec.template)).toContain(versions[1]);
    const next = await gitml(dir, ['deploy', 'iris', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const list = JSON.parse((await gitml(dir, ['services', '--json'])).stdout) as Array<{ name: string; state: string; running: Array<{ version: string; ready: number }> }>;
    expect(list.find((s) => s.name === 'iris')).toMatchObject({ state: 'Ready', running: [expect.objectContaining({ version: versions[1], ready: 2 })] });
  }, 600_000);

  test('an image the cluster cannot pull: the rollout stops at the pending deadline with the kubelet\'s reason, and the status says Stalled', async () => {
    // localhost:5000 is the same registry for the local engine's push, but the fake kubelet
    // reaches only 127.0.0.1:5000: the cluster cannot pull what was pushed.
    const host = TEST_REGISTRY.split('/')[0].replace(/^127\.0\.0\.1(?=:)/, 'localhost');
    writeFileSync(path.join(dir, 'gitml/compute/k8s-far.yaml'), ['kind: ComputeTarget', 'type: kubernetes', `kubeconfig: ${JSON.stringify(kubeconfigPath)}`, 'context: fake', 'namespace: ml', `registry: ${host}/gitml-svc-test`, 'pendingDeadline: 2', ''].join('\n'));
    writeFileSync(path.join(dir, 'gitml/services/far.yaml'), 'kind: Service\nmodel: iris\ncompute: k8s-far\nreplicas: 1\nport: 80\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'a service on a compute whose registry the cluster cannot reach');
    const t = Date.now();
    const r = await gitml(dir, ['deploy', 'far']);
    expect([EXIT.FAILURE, EXIT.ENVIRONMENT], r.stderr).toContain(r.code);
    expect(r.stderr).toMatch(/ErrImagePull|ImagePullBackOff/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(Date.now() - t).toBeLessThan(110_000);
    const list = JSON.parse((await gitml(dir, ['services', '--json'])).stdout) as Array<{ name: string; state: string }>;
    expect(list.find((s) => s.name === 'far')?.state).toBe('Stalled');
  }, 600_000);
});
