/**
 * `gitml run` on a kubernetes compute target, end to end from the CLI: the run image is built
 * on the real Docker engine (environment image + code), pushed to the real local registry,
 * and the Job goes to the recording API server, whose kubelet pulls that image from the
 * registry and runs the pod's command. The kubeconfig is a file named in the compute YAML.
 */
import path from 'node:path';
import type { V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TEST_REGISTRY, TINY_IMAGE, describeDocker } from '../support/docker.js';
import { FakeKubeApiServer } from '../support/kube-apiserver.js';
import { gitmlAsync, makeRepo, removeDir, tmpDir, type CliResult } from '../support/repo.js';

/** The real CLI, asynchronously: the fake API server answers from this same process. */
const gitml = (cwd: string, args: string[], opts: { timeout?: number } = {}): Promise<CliResult> => gitmlAsync(cwd, args, opts);

let server: FakeKubeApiServer;
let repo = '';
let outside = '';

const TRAIN_SH = `set -e
echo "greeting=$1 run=$GITML_RUN_ID"
echo "weights for $1" > "$2"
echo '{"name":"loss","value":0.25,"step":1}' >> "$GITML_METRICS"
echo "::gitml metric name=acc value=0.875"
if [ "$1" = fail ]; then echo "failing on purpose" >&2; exit 3; fi
`;

async function failedRuns(): Promise<Array<{ id: string; exitCode: number | null }>> {
  const r = await gitml(repo, ['runs', '--json', '--status', 'failed']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).runs;
}

describeDocker('gitml run on the kubernetes target (CLI)', () => {
  beforeAll(async () => {
    server = await new FakeKubeApiServer({ registries: [TEST_REGISTRY.split('/')[0]] }).start();
    outside = tmpDir('gitml-kube-cli-');
    const kubeconfig = server.writeKubeconfig(outside, { context: 'fake-ctx' });
    // Nothing listens on port 1 of loopback: an API server that is down.
    const goneConfig = server.writeKubeconfig(outside, { context: 'gone-ctx', server: 'https://127.0.0.1:1', file: 'gone.yaml' });
    const k8sLike = (extra: string[]) => ['kind: ComputeTarget', 'type: kubernetes', `registry: ${TEST_REGISTRY}/gitml-kube-test`, ...extra, ''].join('\n');
    repo = makeRepo({
      'gitml.yaml': 'kind: Workspace\nname: kubecli\ndefaults:\n  compute: k8s\n',
      'gitml/compute/k8s.yaml': [
        'kind: ComputeTarget',
        'type: kubernetes',
        `kubeconfig: ${JSON.stringify(kubeconfig)}`,
        'context: fake-ctx',
        `registry: ${TEST_REGISTRY}/gitml-kube-test`,
        'resources:',
        '  cpu: 1',
        '  memory: 256Mi',
        'deadline: 120',
        '',
      ].join('\n'),
      'gitml/compute/gone.yaml': k8sLike([`kubeconfig: ${JSON.stringify(goneConfig)}`]),
      'gitml/compute/noctx.yaml': k8sLike([`kubeconfig: ${JSON.stringify(kubeconfig)}`, 'context: staging']),
      'gitml/compute/nofile.yaml': k8sLike([`kubeconfig: ${JSON.stringify(path.join(outside, 'no-such-kubeconfig'))}`]),
      'gitml/environments/tiny.yaml': `kind: Environment\nimage: ${TINY_IMAGE}\n`,
      'gitml/experiments/hello.yaml': [
        'kind: Experiment',
        'code: src',
        'command: [sh, train.sh, "${{params.greeting}}", "${{outputs.model}}"]',
        'params:',
        '  greeting: hello',
        'outputs:',
        '  model: model.txt',
        'environment: tiny',
        'compute: k8s',
        '',
      ].join('\n'),
      'src/train.sh': TRAIN_SH,
    });
  });

  afterAll(async () => {
    await server?.stop();
    if (repo) removeDir(repo);
    if (outside) removeDir(outside);
  });

  test('a run goes through a Job: live log, outputs, metrics and lineage recorded', async () => {
    const r = await gitml(repo, ['run', 'hello', '--param', 'greeting=bonjour', '--json'], { timeout: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.status).toBe('completed');
    expect(rec.exitCode).toBe(0);
    expect(rec.compute).toMatchObject({ name: 'k8s', type: 'kubernetes' });
    expect(rec.host).toMatch(/^fake-ctx\/default\/gitml-run-/);
    expect(rec.environment.image).toBe(`${TEST_REGISTRY}/gitml-kube-test/gitml-run/hello:${rec.id.toLowerCase()}`);
    expect(rec.environment.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rec.artifacts.map((a: { path: string }) => a.path)).toEqual(['model.txt']);
    expect(rec.metrics).toMatchObject({ loss: 0.25, acc: 0.875 });

    const logs = await gitml(repo, ['runs', 'logs', rec.id]);
    expect(logs.stdout).toContain(`greeting=bonjour run=${rec.id}`);
    expect(logs.stdout).not.toContain('::gitml:');

    // The Job the cluster got: the pushed image by its digest (pulled so from the registry), the substituted argv, the compute's resources and deadline.
    const post = server.requests.find((q) => q.method === 'POST' && q.path === '/apis/batch/v1/namespaces/default/jobs');
    const c = (post?.body as V1Job).spec!.template.spec!.containers[0];
    expect(c.image).toBe(`${rec.environment.image.slice(0, rec.environment.image.lastIndexOf(':'))}@${rec.environment.imageDigest}`);
    expect(c.args).toEqual(['sh', 'train.sh', 'bonjour', '/gitml/run/outputs/model.txt']);
    expect(c.workingDir).toBe('/gitml/code/src');
    expect(c.resources?.limits).toEqual({ cpu: '1', memory: '256Mi' });
    expect((post?.body as V1Job).spec?.activeDeadlineSeconds).toBe(120);
  });

  test('a command that exits non-zero: exit 1, recorded failed with its logs, the Job kept', async () => {
    const failedBefore = await failedRuns();
    const r = await gitml(repo, ['run', 'hello', '--param', 'greeting=fail', '--json'], { timeout: 300_000 });
    expect(r.code).toBe(1);
    const list = (await failedRuns()).filter((x) => !failedBefore.some((b) => b.id === x.id));
    expect(list.length).toBe(1);
    expect(list[0].exitCode).toBe(3);
    const logs = await gitml(repo, ['runs', 'logs', list[0].id]);
    expect(logs.stdout + logs.stderr).toContain('failing on purpose');
    expect(server.list('jobs').map((j) => j.metadata.annotations['dev.gitml/run-id'])).toContain(list[0].id);
  });

  test('the API server refusing the Job (403): exit 3, one error line, the run recorded failed', async () => {
    server.intercept = (q) => (q.method === 'POST' && q.path.endsWith('/jobs') ? { code: 403, reason: 'Forbidden', message: 'jobs.batch is forbidden' } : undefined);
    try {
      const failedBefore = (await failedRuns()).length;
      const r = await gitml(repo, ['run', 'hello', '--json'], { timeout: 300_000 });
      // An environment refusal (the cluster's RBAC, not the run), reported once in one line (no stack trace), the run recorded.
      expect(r.code).toBe(3);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr.split('\n').filter((l) => l.includes('jobs.batch is forbidden'))).toEqual([expect.stringMatching(/^error: cannot create Job gitml-run-/)]);
      expect((await failedRuns()).length).toBe(failedBefore + 1);
    } finally {
      server.intercept = undefined;
    }
  });

  test.each([
    ['an API server that does not answer', 'gone', /^error: cannot use namespace default of context gone-ctx: the Kubernetes API server at https:\/\/127\.0\.0\.1:1 is unreachable \(ECONNREFUSED\)/],
    ['a context the kubeconfig does not have', 'noctx', /^error: kubeconfig \S+ has no context "staging" \(it has: fake-ctx\)/],
    ['a kubeconfig file that does not exist', 'nofile', /^error: kubeconfig file \S+ does not exist/],
  ])('%s: exit 3 (environment), one error line, nothing built, the run recorded failed', async (_name, computeName, line) => {
    const failedBefore = (await failedRuns()).length;
    const r = await gitml(repo, ['run', 'hello', '--compute', computeName]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toEqual([expect.stringMatching(line)]);
    // The message is said once, not also as a log line before it.
    expect(r.stderr.split(errors[0].slice('error: '.length)).length).toBe(2);
    // The cluster is asked before any image is built or pushed.
    expect(r.stderr).not.toMatch(/building the run image|push/i);
    expect((await failedRuns()).length).toBe(failedBefore + 1);
  });
});
