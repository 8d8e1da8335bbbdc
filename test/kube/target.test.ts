/**
 * KubernetesTarget against the recording API server (test/support/kube-apiserver.ts), through
 * the real @kubernetes/client-node. The fake kubelet really runs the Job's command (the
 * inline entry script and the user's argv), so outputs and metrics make the full trip
 * through the pod log.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { templatesDir } from '../../core/paths.js';
import { kubeObjectProblems } from '../../core/kube/validate.js';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { ComputeTarget, KubernetesCompute, Loaded } from '../../core/entities/types.js';
import type { V1Job, V1Secret } from '@kubernetes/client-node';
import { EXIT, exitCodeFor } from '../../core/errors.js';
import { kubeClient } from '../../core/kube/client.js';
import { KubernetesTarget } from '../../core/targets/kubernetes.js';
import type { TargetJob } from '../../core/targets/types.js';
import { FakeKubeApiServer } from '../support/kube-apiserver.js';
import { removeDir, tmpDir, writeFiles } from '../support/repo.js';

let server: FakeKubeApiServer;
let dir: string;
let kubeconfig: string;
let n = 0;

beforeAll(async () => {
  server = await new FakeKubeApiServer({ namespaces: ['default', 'ml'], startDelayMs: 30, killGraceMs: 1000 }).start();
  dir = tmpDir('gitml-kube-');
  kubeconfig = server.writeKubeconfig(dir, { context: 'fake' });
});

afterAll(async () => {
  await server.stop();
  removeDir(dir);
});

afterEach(() => {
  if (process.env.DEBUG_KUBE) {
    console.error(server.requests.slice(-8).map((r) => `${r.method} ${r.path} ${JSON.stringify(r.query)}`).join('\n'));
    for (const p of server.list('pods')) console.error(p.metadata.name, JSON.stringify(p.status.containerStatuses), JSON.stringify(server.podLog('default', p.metadata.name)).slice(0, 300));
  }
  server.intercept = undefined;
  server.nodes = [{ name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1' } }];
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function compute(extra: Partial<KubernetesCompute> = {}): Loaded<ComputeTarget> {
  return { name: 'k8s', file: 'gitml/compute/k8s.yaml', spec: { kind: 'ComputeTarget', type: 'kubernetes', kubeconfig, ...extra } };
}

interface Harness {
  job: TargetJob;
  logs: string[];
  controller: AbortController;
  target: KubernetesTarget;
  image: string;
}

function harness(opts: {
  argv: string[];
  compute?: Partial<KubernetesCompute>;
  secretEnv?: Record<string, string>;
  push?: boolean;
  maxOutputBytes?: number;
  timeoutMs?: number;
  pendingDeadlineMs?: number;
  onLog?: (t: string) => void;
}): Harness {
  const runId = `20261123T0930${String(++n).padStart(2, '0')}Z-test`;
  const codeDir = path.join(dir, `code-${n}`);
  writeFiles(codeDir, { 'src/hello.txt': 'hello from the image\n' });
  const controller = new AbortController();
  const logs: string[] = [];
  const image = `registry.test/gitml-run/train:${runId.toLowerCase()}`;
  const digest = `sha256:${createHash('sha256').update(runId).digest('hex')}`;
  const c = compute(opts.compute);
  const job: TargetJob = {
    runId,
    experiment: 'train',
    codeDir,
    cwd: 'src',
    argv: opts.argv,
    env: { GITML_RUN_ID: runId, GITML_OUTPUTS: '/gitml/run/outputs', GITML_METRICS: '/gitml/run/metrics.jsonl' },
    secretEnv: opts.secretEnv ?? {},
    environment: { name: 'py', file: 'gitml/environments/py.yaml', spec: { kind: 'Environment', image: 'gitml/python:bookworm' } },
    environmentDigest: 'sha256:' + '0'.repeat(64),
    compute: c,
    repoDir: dir,
    signal: controller.signal,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(process.env.DEBUG_KUBE ? { onProgress: (m: string) => console.error('progress:', m) } : {}),
    onLog: (t) => {
      if (process.env.DEBUG_KUBE) console.error('log:', t);
      logs.push(t);
      opts.onLog?.(t);
    },
  };
  const target = new KubernetesTarget({
    compute: c,
    repoDir: dir,
    scratchBase: path.join(dir, 'scratch'),
    pollMs: 20,
    startupGraceMs: 300,
    ...(opts.pendingDeadlineMs ? { pendingDeadlineMs: opts.pendingDeadlineMs } : {}),
    ...(opts.maxOutputBytes ? { maxOutputBytes: opts.maxOutputBytes } : {}),
    // The image "pushed" to the fake registry holds the run's code at /gitml/code.
    prepareImage: async () => {
      // The pod runs the image by digest: the fake registry holds it under repo@digest.
      if (opts.push !== false) server.images.set(`${image.slice(0, image.lastIndexOf(':'))}@${digest}`, { files: { '/gitml/code': codeDir } });
      return { image, digest };
    },
  });
  return { job, logs, controller, target, image };
}

const jobRequests = (runId: string) => server.requests.filter((r) => r.path.includes(`gitml-run-${runId.toLowerCase()}`) || (r.method === 'POST' && (r.body as V1Job | undefined)?.metadata?.name?.startsWith(`gitml-run-${runId.toLowerCase()}`)));

describe('KubernetesTarget', () => {
  test('a run: valid Job, secret by reference, live logs, outputs and metrics through the log, Job and Secret cleaned up', async () => {
    let runningWhenFirstLineArrived: boolean | undefined;
    const h = harness({
      argv: [
        'sh',
        '-c',
        'echo "first line of $GITML_RUN_ID"; cat hello.txt; echo home-ok > "$HOME/h" && cat "$HOME/h"; echo tmp-ok > "$TMPDIR/t" && cat "$TMPDIR/t"; sleep 0.6; echo "token=$API_TOKEN" > "$GITML_OUTPUTS/token.txt"; mkdir -p "$GITML_OUTPUTS/sub"; printf model > "$GITML_OUTPUTS/sub/model.bin"; echo \'{"name":"acc","value":0.9,"step":1,"timestamp":1}\' >> "$GITML_METRICS"; echo done',
      ],
      secretEnv: { API_TOKEN: 'tok-123-secret' },
      onLog: (t) => {
        if (runningWhenFirstLineArrived === undefined && t.includes('first line')) {
          const pod = server.list('pods', 'default').find((p) => p.metadata.labels['dev.gitml/run-id'] === h.job.runId);
          runningWhenFirstLineArrived = pod?.status.phase === 'Running';
        }
      },
    });
    const r = await h.target.run(h.job);
    expect(r.status, JSON.stringify({ error: r.error, exitCode: r.exitCode, logs: h.logs.slice(-10) })).toBe('completed');
    expect(r.exitCode).toBe(0);
    expect(r.image).toBe(h.image);
    expect(r.imageDigest).toBe(`sha256:${createHash('sha256').update(h.job.runId).digest('hex')}`);
    expect(r.host).toMatch(/^fake\/default\/gitml-run-.*-[a-z0-9]{5}$/);

    // Logs streamed while the pod ran, without the outputs block.
    expect(runningWhenFirstLineArrived).toBe(true);
    const log = h.logs.join('');
    expect(log).toContain(`first line of ${h.job.runId}\nhello from the image\nhome-ok\ntmp-ok\n`);
    expect(log).toContain('done\n');
    expect(log).not.toContain('::gitml:');

    // Outputs and metrics came back through the pod log.
    expect(readFileSync(path.join(r.outputsDir, 'token.txt'), 'utf8')).toBe('token=tok-123-secret\n');
    expect(readFileSync(path.join(r.outputsDir, 'sub/model.bin'), 'utf8')).toBe('model');
    expect(JSON.parse(readFileSync(r.metricsFile!, 'utf8').trim())).toEqual({ name: 'acc', value: 0.9, step: 1, timestamp: 1 });

    // What was sent: a Secret, then the Job, both valid (the server validated them too).
    const reqs = jobRequests(h.job.runId);
    const posts = reqs.filter((q) => q.method === 'POST');
    expect(posts.map((q) => q.path)).toEqual(['/api/v1/namespaces/default/secrets', '/apis/batch/v1/namespaces/default/jobs']);
    const sentJob = posts[1].body as V1Job;
    expect(sentJob.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'gitml', 'dev.gitml/run-id': h.job.runId, 'dev.gitml/experiment': 'train' });
    expect(sentJob.spec?.backoffLimit).toBe(0);
    expect(sentJob.spec?.template.spec?.containers[0].securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true });
    // The secret value travels only in the Secret.
    for (const q of server.requests) {
      if (q.path.endsWith('/secrets') && q.method === 'POST') continue;
      expect(JSON.stringify(q.body ?? '')).not.toContain('tok-123-secret');
      expect(JSON.stringify(q.body ?? '')).not.toContain(Buffer.from('tok-123-secret').toString('base64'));
    }
    expect(log).not.toContain('tok-123-secret');
    // The Secret is owned by the Job (merge patch), then deleted; the Job is deleted (keep: on-failure) in the background.
    const ownerPatch = reqs.find((q) => q.method === 'PATCH' && q.path.endsWith('-env'));
    expect(ownerPatch?.contentType).toBe('application/merge-patch+json');
    expect((ownerPatch?.body as V1Secret | undefined)?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Job', uid: expect.any(String) });
    expect(reqs.some((q) => q.method === 'DELETE' && q.path.endsWith('-env'))).toBe(true);
    // Every write names gitml as its field manager.
    for (const q of reqs.filter((x) => x.method === 'POST' || x.method === 'PATCH')) expect(q.query.fieldManager, `${q.method} ${q.path}`).toBe('gitml');
    // The pod runs the pushed image by digest, on a read-only root with sized scratch volumes, and carries the recommended labels.
    const c = sentJob.spec!.template.spec!.containers[0];
    expect(c.image).toBe(`registry.test/gitml-run/train@${r.imageDigest}`);
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(sentJob.spec!.template.spec!.volumes!.map((v) => [v.name, !!v.emptyDir?.sizeLimit])).toEqual([['gitml-run', true], ['gitml-tmp', true], ['gitml-home', true]]);
    expect(c.resources?.requests?.['ephemeral-storage']).toEqual(expect.any(String));
    for (const k of ['name', 'instance', 'version', 'component', 'part-of', 'managed-by']) expect(sentJob.metadata?.labels?.[`app.kubernetes.io/${k}`], k).toEqual(expect.any(String));
    const del = reqs.find((q) => q.method === 'DELETE' && q.path.startsWith('/apis/batch/v1/'));
    expect(del?.query.propagationPolicy).toBe('Background');
    expect(server.list('jobs').filter((j) => j.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toEqual([]);
    expect(server.list('secrets').filter((s) => s.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toEqual([]);
    // Logs were followed and the Job watched through the API.
    expect(reqs.some((q) => q.path.endsWith('/log') && q.query.follow === 'true' && q.query.container === 'run')).toBe(true);
    expect(server.requests.some((q) => q.path === '/apis/batch/v1/namespaces/default/jobs' && q.query.watch === 'true' && q.query.fieldSelector === `metadata.name=${sentJob.metadata.name}`)).toBe(true);
  });

  test('a non-zero exit is a failed run with its exit code; keep: on-failure keeps the Job', async () => {
    const h = harness({ argv: ['sh', '-c', 'echo about to fail; echo partial > "$GITML_OUTPUTS/partial.txt"; exit 3'] });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(3);
    expect(h.logs.join('')).toContain('about to fail');
    expect(readFileSync(path.join(r.outputsDir, 'partial.txt'), 'utf8')).toBe('partial\n');
    expect(server.list('jobs').some((j) => j.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toBe(true);
    expect(jobRequests(h.job.runId).some((q) => q.method === 'DELETE' && q.path.startsWith('/apis/batch/'))).toBe(false);
  });

  test('backoffLimit retries the pod before the Job fails', async () => {
    const h = harness({ argv: ['sh', '-c', 'echo attempt; exit 1'], compute: { backoffLimit: 1, keep: 'never' } });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(1);
    // keep: never deletes even a failed Job
    expect(jobRequests(h.job.runId).some((q) => q.method === 'DELETE' && q.path.startsWith('/apis/batch/'))).toBe(true);
  });

  test('the Job deadline is a timed_out run; what was written so far still comes back', async () => {
    const h = harness({ argv: ['sh', '-c', 'echo started; echo so-far > "$GITML_OUTPUTS/p.txt"; sleep 30'], compute: { deadline: 1 } });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('timed_out');
    expect(h.logs.join('')).toContain('started');
    expect(readFileSync(path.join(r.outputsDir, 'p.txt'), 'utf8')).toBe('so-far\n');
    const sent = jobRequests(h.job.runId).find((q) => q.method === 'POST' && q.path.endsWith('/jobs'))?.body as V1Job;
    expect(sent.spec?.activeDeadlineSeconds).toBe(1);
  });

  test("the experiment's timeout is the Job's deadline: the cluster stops the run even with nobody aborting it", async () => {
    // No abort from the orchestration here (as if gitml had died): only the Job's activeDeadlineSeconds stops it.
    const h = harness({ argv: ['sh', '-c', 'echo started; sleep 30; echo never'], compute: { deadline: 600 }, timeoutMs: 1000 });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('timed_out');
    expect(h.logs.join('')).not.toContain('never');
    const sent = jobRequests(h.job.runId).find((q) => q.method === 'POST' && q.path.endsWith('/jobs'))?.body as V1Job;
    expect(sent.spec?.activeDeadlineSeconds).toBe(1);
  });

  test.each([
    ['cancel', 'canceled'],
    ['timeout', 'timed_out'],
  ] as const)('abort (%s) deletes the Job and stops the pod', async (reason, expected) => {
    const h = harness({ argv: ['sh', '-c', 'echo started; sleep 30; echo never'], compute: { keep: 'always' } });
    const running = h.target.run(h.job);
    let settled = false;
    void running.finally(() => (settled = true)).catch(() => undefined);
    while (!settled && !h.logs.join('').includes('started')) await new Promise((r) => setTimeout(r, 20));
    h.controller.abort(reason);
    const r = await running;
    expect(r.status).toBe(expected);
    const del = jobRequests(h.job.runId).find((q) => q.method === 'DELETE' && q.path.startsWith('/apis/batch/'));
    expect(del?.query.propagationPolicy).toBe('Background');
    expect(h.logs.join('')).not.toContain('never');
    // The garbage collector removed the pod, which stopped the process.
    await new Promise((res) => setTimeout(res, 100));
    expect(server.list('pods').filter((p) => p.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toEqual([]);
  });

  test('a pod no node accepts fails the run after the pending deadline with the scheduler message; a toleration lets it run', async () => {
    server.nodes = [{ name: 'gpu-1', labels: { pool: 'gpu' }, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] }];
    const h = harness({ argv: ['echo', 'hi'], compute: { nodeSelector: { pool: 'gpu' } }, pendingDeadlineMs: 300 });
    let message: string | undefined;
    const watcher = setInterval(() => {
      const pod = server.list('pods', 'default').find((p) => p.metadata.labels['dev.gitml/run-id'] === h.job.runId);
      message ??= pod?.status.conditions.find((c: any) => c.type === 'PodScheduled' && c.status === 'False')?.message;
    }, 5);
    const r = await h.target.run(h.job);
    clearInterval(watcher);
    expect(r.status).toBe('failed');
    // The run's error carries the scheduler's own explanation.
    expect(message).toEqual(expect.any(String));
    expect(r.error).toContain(message);
    // The Job of a run that cannot start is removed.
    await until(() => server.list('jobs').every((j) => j.metadata.labels['dev.gitml/run-id'] !== h.job.runId));

    const ok = harness({ argv: ['echo', 'on the gpu node'], compute: { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] } });
    const r2 = await ok.target.run(ok.job);
    expect(r2.status).toBe('completed');
    expect(ok.logs.join('')).toContain('on the gpu node\n');
  });

  test('a log stream cut while the run goes on is followed again at once, without repeating a line', async () => {
    let cut = false;
    let liveAfterCut = false;
    const h = harness({
      argv: ['sh', '-c', 'echo one; sleep 0.3; echo two; sleep 0.6; echo three'],
      onLog: (t) => {
        if (!cut && t.includes('one')) {
          cut = true;
          setTimeout(() => server.dropLogFollowers(), 50);
        }
        if (t.includes('two')) {
          const job = server.list('jobs').find((j) => j.metadata.labels['dev.gitml/run-id'] === h.job.runId);
          liveAfterCut = !!job && !(job.status.conditions ?? []).some((c: any) => c.type === 'Complete');
        }
      },
    });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('completed');
    expect(liveAfterCut).toBe(true);
    const log = h.logs.join('');
    for (const w of ['one', 'two', 'three']) expect(log.split(`${w}\n`).length - 1, w).toBe(1);
  });

  test('a watch closed by the server is resumed from its resourceVersion; a log stream dropped early is completed from the full log', async () => {
    let dropped = false;
    const h = harness({
      argv: ['sh', '-c', 'echo before-drop; sleep 0.4; echo after-drop; echo kept > "$GITML_OUTPUTS/late.txt"'],
      onLog: (t) => {
        if (!dropped && t.includes('before-drop')) {
          dropped = true;
          setTimeout(() => {
            server.closeWatches();
            server.dropLogFollowers();
          }, 50);
        }
      },
    });
    const r = await h.target.run(h.job);
    expect(dropped).toBe(true);
    expect(r.status).toBe('completed');
    const log = h.logs.join('');
    expect(log).toContain('before-drop\n');
    expect(log).toContain('after-drop\n');
    expect(log.indexOf('before-drop')).toBe(log.lastIndexOf('before-drop'));
    expect(readFileSync(path.join(r.outputsDir, 'late.txt'), 'utf8')).toBe('kept\n');
    const watches = server.requests.filter((q) => q.query.watch === 'true' && q.query.fieldSelector === `metadata.name=gitml-run-${h.job.runId.toLowerCase()}`);
    expect(watches.length).toBeGreaterThanOrEqual(2);
    expect(watches[1].query.resourceVersion).toEqual(expect.any(String));
  });

  test('keep: always keeps a completed Job', async () => {
    const h = harness({ argv: ['true'], compute: { keep: 'always' } });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('completed');
    expect(server.list('jobs').some((j) => j.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toBe(true);
  });

  test('the namespace comes from the compute', async () => {
    const h = harness({ argv: ['true'], compute: { namespace: 'ml' } });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('completed');
    expect(r.host.startsWith('fake/ml/')).toBe(true);
    expect(jobRequests(h.job.runId).some((q) => q.path === '/apis/batch/v1/namespaces/ml/jobs')).toBe(true);
  });

  test('an output that is a symlink to outside the folder is not collected; links inside are', async () => {
    const h = harness({ argv: ['sh', '-c', 'ln -s /etc/passwd "$GITML_OUTPUTS/leak"; ln -s ../../.. "$GITML_OUTPUTS/up"; echo ok > "$GITML_OUTPUTS/fine.txt"; ln -s fine.txt "$GITML_OUTPUTS/alias"'] });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('completed');
    expect(existsSync(path.join(r.outputsDir, 'leak'))).toBe(false);
    expect(existsSync(path.join(r.outputsDir, 'up'))).toBe(false);
    expect(readFileSync(path.join(r.outputsDir, 'fine.txt'), 'utf8')).toBe('ok\n');
    expect(readFileSync(path.join(r.outputsDir, 'alias'), 'utf8')).toBe('ok\n');
  });

  test('outputs over the cap fail the run instead of flooding the log', async () => {
    const h = harness({ argv: ['sh', '-c', 'head -c 200000 /dev/urandom > "$GITML_OUTPUTS/big.bin"'], maxOutputBytes: 10_000 });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(0);
    expect(existsSync(path.join(r.outputsDir, 'big.bin'))).toBe(false);
  });

  test('an image the cluster cannot pull fails the run and removes the Job', async () => {
    const h = harness({ argv: ['true'], push: false });
    const r = await h.target.run(h.job);
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBeNull();
    expect(server.list('jobs').some((j) => j.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toBe(false);
  });

  test('the API server refusing (403) is KUBERNETES_UNAVAILABLE (an environment problem), and nothing is left behind', async () => {
    server.intercept = (q) =>
      q.method === 'POST' && q.path.endsWith('/jobs') ? { code: 403, reason: 'Forbidden', message: 'jobs.batch is forbidden: User "ci" cannot create resource "jobs" in API group "batch" in the namespace "default"' } : undefined;
    const h = harness({ argv: ['true'], secretEnv: { X: 'y' } });
    await expect(h.target.run(h.job)).rejects.toMatchObject({ code: 'KUBERNETES_UNAVAILABLE', data: { status: 403 }, retryable: false });
    expect(server.list('secrets').filter((s) => s.metadata.labels['dev.gitml/run-id'] === h.job.runId)).toEqual([]);
  });

  test('a 401 is KUBERNETES_UNAVAILABLE', async () => {
    const strict = await new FakeKubeApiServer({ token: 'right' }).start();
    try {
      const kc = strict.writeKubeconfig(dir, { context: 'strict', token: 'wrong', file: 'strict.yaml' });
      const h = harness({ argv: ['true'] });
      const t = new KubernetesTarget({ compute: compute({ kubeconfig: kc }), repoDir: dir, prepareImage: async () => ({ image: 'x:1' }) });
      await expect(t.run(h.job)).rejects.toMatchObject({ code: 'KUBERNETES_UNAVAILABLE', data: { status: 401 } });
    } finally {
      await strict.stop();
    }
  });

  test('an unreachable API server is a retryable KUBERNETES_UNAVAILABLE error in one line, before any image is prepared', async () => {
    const gone = await new FakeKubeApiServer().start();
    const url = gone.url;
    await gone.stop();
    const sub = tmpDir('gitml-kube-gone-');
    try {
      const kc = gone.writeKubeconfig(sub, { server: url });
      const h = harness({ argv: ['true'] });
      let prepared = 0;
      const t = new KubernetesTarget({ compute: compute({ kubeconfig: kc }), repoDir: dir, prepareImage: async () => (prepared++, { image: 'x:1' }) });
      const err = await t.run(h.job).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'KUBERNETES_UNAVAILABLE', retryable: true, data: { errno: 'ECONNREFUSED' } });
      expect((err as Error).message).not.toContain('\n');
      expect(exitCodeFor(err)).toBe(EXIT.ENVIRONMENT);
      // Building and pushing an image for a cluster that cannot be reached would only waste minutes.
      expect(prepared).toBe(0);
    } finally {
      removeDir(sub);
    }
  });

  test('an API server whose certificate is not trusted is KUBERNETES_UNAVAILABLE, not retryable', async () => {
    const kc = server.writeKubeconfig(dir, { trust: false, file: 'untrusted.yaml' });
    const h = harness({ argv: ['true'] });
    const t = new KubernetesTarget({ compute: compute({ kubeconfig: kc }), repoDir: dir, prepareImage: async () => ({ image: 'x:1' }) });
    await expect(t.run(h.job)).rejects.toMatchObject({ code: 'KUBERNETES_UNAVAILABLE', retryable: false });
  });

  test('without a registry the default image preparation refuses with a KUBERNETES error before building anything', async () => {
    const h = harness({ argv: ['true'] });
    const t = new KubernetesTarget({ compute: compute(), repoDir: dir });
    const before = server.requests.length;
    await expect(t.run(h.job)).rejects.toMatchObject({ code: 'KUBERNETES' });
    expect(server.requests.slice(before).filter((q) => q.method !== 'GET')).toEqual([]);
  });

  test('a missing namespace (404) is KUBERNETES; an unknown context or a missing kubeconfig is KUBERNETES_UNAVAILABLE (exit 3), in one line', async () => {
    const h = harness({ argv: ['true'], compute: { namespace: 'nope' } });
    await expect(h.target.run(h.job)).rejects.toMatchObject({ code: 'KUBERNETES', data: { status: 404 } });
    const noContext = await kubeClient({ kind: 'ComputeTarget', type: 'kubernetes', kubeconfig, context: 'elsewhere' }, dir).catch((e: unknown) => e);
    expect(noContext).toMatchObject({ code: 'KUBERNETES_UNAVAILABLE', data: { context: 'elsewhere', known: ['fake'] } });
    const noFile = await kubeClient({ kind: 'ComputeTarget', type: 'kubernetes', kubeconfig: 'missing/kubeconfig' }, dir).catch((e: unknown) => e);
    expect(noFile).toMatchObject({ code: 'KUBERNETES_UNAVAILABLE' });
    for (const e of [noContext, noFile]) {
      expect((e as Error).message).not.toContain('\n');
      expect(exitCodeFor(e)).toBe(EXIT.ENVIRONMENT);
    }
  });
});

describe('templates/kube/rbac.yaml', () => {
  test('is valid and allows every request the runs above made (and nothing cluster-wide)', () => {
    const docs = parseAllDocuments(readFileSync(path.join(templatesDir(), 'kube', 'rbac.yaml'), 'utf8')).map((d) => d.toJS());
    for (const d of docs) expect(kubeObjectProblems(d)).toEqual([]);
    const role = docs.find((d) => d.kind === 'Role');
    expect(docs.some((d) => d.kind === 'ClusterRole')).toBe(false);
    const allowed = (group: string, resource: string, verb: string): boolean =>
      role.rules.some((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const needed = new Set<string>();
    for (const q of server.requests) {
      const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(q.path);
      if (!m) continue; // discovery: open to every authenticated user
      const [, group = '', resource, name, sub] = m;
      if (resource === 'deployments' || resource === 'services') continue; // the KubeApi tests below, not runs
      const verb = q.method === 'POST' ? 'create' : q.method === 'PATCH' ? 'patch' : q.method === 'DELETE' ? 'delete' : q.query.watch === 'true' ? 'watch' : name ? 'get' : 'list';
      needed.add(`${group}|${sub ? `${resource}/${sub}` : resource}|${verb}`);
    }
    expect(needed.size).toBeGreaterThanOrEqual(10);
    for (const n of needed) {
      const [group, resource, verb] = n.split('|');
      expect(allowed(group, resource, verb), n).toBe(true);
    }
  });
});

describe('KubeApi', () => {
  test('creating an object that exists is a 409 KUBERNETES error', async () => {
    const kube = await kubeClient(compute().spec as KubernetesCompute, dir);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'twice' }, data: { A: 'Yg==' } };
    await kube.createSecret(secret);
    await expect(kube.createSecret(secret)).rejects.toMatchObject({ code: 'KUBERNETES', data: { status: 409 } });
    await kube.deleteSecret('twice');
    await kube.deleteSecret('twice'); // already gone: not an error
  });

  test('the server refuses an invalid object with 422, seen as KUBERNETES', async () => {
    const kube = await kubeClient(compute().spec as KubernetesCompute, dir);
    const bad = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'bad-job' }, spec: { backoffLimit: 'three', template: { spec: { containers: [{ name: 'c', image: 'i' }], restartPolicy: 'Never' } } } };
    await expect(kube.createJob(bad as any)).rejects.toMatchObject({ code: 'KUBERNETES', data: { status: 422 } });
    expect(server.list('jobs').some((j) => j.metadata.name === 'bad-job')).toBe(false);
  });

  test('applyObject is server-side apply: discovery, then PATCH apply-patch+yaml with fieldManager=gitml and force=true', async () => {
    const kube = await kubeClient(compute().spec as KubernetesCompute, dir);
    const dep: { apiVersion: string; kind: string; metadata: { name: string; uid?: string; labels?: Record<string, string> }; spec: any } = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'iris-scorer', labels: { 'app.kubernetes.io/managed-by': 'gitml' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'iris' } },
        template: { metadata: { labels: { app: 'iris' } }, spec: { containers: [{ name: 'score', image: 'registry.test/iris:1' }] } },
      },
    };
    const first = await kube.applyObject(dep);
    expect(first.metadata?.uid).toEqual(expect.any(String));
    const second = await kube.applyObject({ ...dep, spec: { ...dep.spec, replicas: 3 } });
    expect(second.metadata?.uid).toBe(first.metadata?.uid);
    expect(server.get('deployments', 'default', 'iris-scorer')?.spec.replicas).toBe(3);
    const patches = server.requests.filter((q) => q.method === 'PATCH' && q.path === '/apis/apps/v1/namespaces/default/deployments/iris-scorer');
    expect(patches).toHaveLength(2);
    for (const p of patches) {
      expect(p.contentType).toBe('application/apply-patch+yaml');
      expect(p.query).toMatchObject({ fieldManager: 'gitml', force: 'true' });
    }
    const discovery = server.requests.findIndex((q) => q.method === 'GET' && q.path === '/apis/apps/v1');
    expect(discovery).toBeGreaterThanOrEqual(0);
    expect(discovery).toBeLessThan(server.requests.indexOf(patches[0]));
    // An invalid object is refused by the server too.
    await expect(kube.applyObject({ ...dep, spec: { ...dep.spec, replicas: 'many' } } as any)).rejects.toMatchObject({ code: 'KUBERNETES', data: { status: 422 } });
    expect((await kube.readObject<typeof dep>(dep))?.spec.replicas).toBe(3);
    expect((await kube.listObjects('apps/v1', 'Deployment', 'app.kubernetes.io/managed-by=gitml')).map((d) => d.metadata?.name)).toEqual(['iris-scorer']);
    expect(await kube.listObjects('apps/v1', 'Deployment', 'app.kubernetes.io/managed-by=someone-else')).toEqual([]);
    await kube.deleteObject(dep);
    expect(server.get('deployments', 'default', 'iris-scorer')).toBeUndefined();
    expect(await kube.readObject(dep)).toBeUndefined();
  });
});

