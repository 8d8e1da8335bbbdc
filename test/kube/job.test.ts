import { describe, expect, test } from 'vitest';
import type { KubernetesCompute } from '../../core/entities/types.js';
import { buildRunJob, buildRunSecret, dnsSafe, KUBE_LAYOUT, outputNonce, runJobName } from '../../core/kube/job.js';
import { kubeObjectProblems } from '../../core/kube/validate.js';

const base: KubernetesCompute = { kind: 'ComputeTarget', type: 'kubernetes' };
const job = {
  runId: '20261123T091500Z-Ab12',
  experiment: 'train',
  cwd: 'src',
  argv: ['python', 'train.py', '--alpha', '0.5; rm -rf /'],
  env: { GITML_RUN_ID: '20261123T091500Z-Ab12', GITML_OUTPUTS: KUBE_LAYOUT.outputs, GITML_METRICS: KUBE_LAYOUT.metrics },
  secretEnv: {} as Record<string, string>,
};

describe('buildRunJob', () => {
  test('a valid Job with the hardened pod, labels and the argv as separate arguments', () => {
    const j = buildRunJob({ job, image: 'registry.test/gitml-run/train:abc', compute: base });
    expect(kubeObjectProblems(j)).toEqual([]);
    expect(j.metadata?.name).toBe('gitml-run-20261123t091500z-ab12');
    expect(j.metadata?.namespace).toBe('default');
    expect(j.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'gitml', 'dev.gitml/run-id': job.runId, 'dev.gitml/experiment': 'train' });
    expect(j.spec?.template.metadata?.labels).toEqual(j.metadata?.labels);
    const pod = j.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.automountServiceAccountToken).toBe(false);
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.image).toBe('registry.test/gitml-run/train:abc');
    // The entry script is a constant; the user's arguments follow it untouched, one per element.
    expect(c.command?.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(c.command?.[4]).toBe(outputNonce(job.runId));
    expect(c.args).toEqual(job.argv);
    expect(c.workingDir).toBe('/gitml/code/src');
    expect(c.env).toEqual([{ name: 'HOME', value: '/gitml/home' }, { name: 'TMPDIR', value: '/tmp' }, ...Object.entries(job.env).map(([name, value]) => ({ name, value }))]);
    // A read-only root: the run writes to its folder, /tmp and HOME, each a size-limited emptyDir.
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(c.volumeMounts).toEqual([
      { name: 'gitml-run', mountPath: '/gitml/run' },
      { name: 'gitml-tmp', mountPath: '/tmp' },
      { name: 'gitml-home', mountPath: '/gitml/home' },
    ]);
    expect(pod.volumes?.map((v) => [v.name, v.emptyDir?.sizeLimit])).toEqual([['gitml-run', '2Gi'], ['gitml-tmp', '1Gi'], ['gitml-home', '256Mi']]);
    expect(j.spec?.backoffLimit).toBe(0);
    expect(j.spec?.activeDeadlineSeconds).toBeUndefined();
    // Scratch space is requested, so the pod lands where its emptyDirs fit; no limits without compute resources.
    expect(c.resources).toEqual({ requests: { 'ephemeral-storage': '3328Mi' } });
    expect(j.metadata?.labels).toMatchObject({ 'app.kubernetes.io/name': 'train', 'app.kubernetes.io/instance': job.runId, 'app.kubernetes.io/component': 'run', 'app.kubernetes.io/part-of': 'gitml' });
  });

  test('the image by digest when the push gave one; the environment digest as the version label; placement from the compute', () => {
    const digest = 'sha256:' + 'b'.repeat(64);
    const j = buildRunJob({
      job: { ...job, environmentDigest: 'sha256:' + '0123456789ab'.repeat(5) + '0123' },
      image: 'registry.test:5000/gitml-run/train:abc',
      digest,
      compute: {
        ...base,
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['gpu'] }] }] } } },
        imagePullSecrets: ['regcred'],
        priorityClassName: 'batch-low',
      },
    });
    expect(kubeObjectProblems(j)).toEqual([]);
    const pod = j.spec!.template.spec!;
    expect(pod.containers[0].image).toBe(`registry.test:5000/gitml-run/train@${digest}`);
    expect(j.metadata?.labels?.['app.kubernetes.io/version']).toBe('0123456789ab');
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0].matchExpressions?.[0].key).toBe('pool');
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.priorityClassName).toBe('batch-low');
  });

  test.each([
    ['cpu and memory', { cpu: 2, memory: '4Gi' }, { cpu: '2', memory: '4Gi' }],
    ['millicores', { cpu: '500m' }, { cpu: '500m' }],
    ['gpu as nvidia.com/gpu', { gpu: 1, memory: '1Gi' }, { memory: '1Gi', 'nvidia.com/gpu': '1' }],
  ])('resources: %s', (_name, resources, expected) => {
    const j = buildRunJob({ job, image: 'img:1', compute: { ...base, resources } });
    const r = j.spec!.template.spec!.containers[0].resources!;
    expect(r.requests).toEqual({ ...expected, 'ephemeral-storage': '3328Mi' });
    expect(r.limits).toEqual(expected);
  });

  test.each([
    ['experiment timeout under the compute deadline', { deadline: 600 }, 30, 30],
    ['compute deadline under the experiment timeout', { deadline: 60 }, 300, 60],
    ['compute deadline alone', { deadline: 600 }, undefined, 600],
    ['experiment timeout when no deadline', {}, 90.5, 91],
    ['none', {}, undefined, undefined],
  ])('deadline: %s', (_n, extra, timeoutSeconds, expected) => {
    const j = buildRunJob({ job, image: 'img:1', compute: { ...base, ...extra }, timeoutSeconds });
    expect(j.spec?.activeDeadlineSeconds).toBe(expected);
  });

  test.each([
    ['always', undefined],
    ['on-failure', 7 * 24 * 3600],
    [undefined, 7 * 24 * 3600],
    ['never', 3600],
  ] as const)('keep %s → ttlSecondsAfterFinished %s', (keep, ttl) => {
    const j = buildRunJob({ job, image: 'img:1', compute: { ...base, ...(keep ? { keep } : {}) } });
    expect(j.spec?.ttlSecondsAfterFinished).toBe(ttl);
  });

  test('namespace, service account, node selector and backoff come from the compute', () => {
    const j = buildRunJob({
      job,
      image: 'img:1',
      compute: { ...base, namespace: 'ml', serviceAccount: 'trainer', nodeSelector: { pool: 'gpu' }, backoffLimit: 2 },
    });
    expect(j.metadata?.namespace).toBe('ml');
    expect(j.spec?.backoffLimit).toBe(2);
    expect(j.spec?.template.spec?.serviceAccountName).toBe('trainer');
    expect(j.spec?.template.spec?.automountServiceAccountToken).toBe(true);
    expect(j.spec?.template.spec?.nodeSelector).toEqual({ pool: 'gpu' });
  });

  test('secret variables are references to a Secret, never values in the Job', () => {
    const secretEnv = { API_TOKEN: 's3cr3t-value', DB_PASSWORD: 'hunter2' };
    const j = buildRunJob({ job: { ...job, secretEnv }, image: 'img:1', compute: base });
    const text = JSON.stringify(j);
    expect(text).not.toContain('s3cr3t-value');
    expect(text).not.toContain('hunter2');
    const env = j.spec!.template.spec!.containers[0].env!;
    expect(env.filter((e) => e.valueFrom)).toEqual([
      { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: `${runJobName(job.runId)}-env`, key: 'API_TOKEN' } } },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: `${runJobName(job.runId)}-env`, key: 'DB_PASSWORD' } } },
    ]);
    const s = buildRunSecret({ job: { ...job, secretEnv }, compute: base })!;
    expect(kubeObjectProblems(s)).toEqual([]);
    expect(s.metadata?.name).toBe(`${runJobName(job.runId)}-env`);
    expect(Buffer.from(s.data!.API_TOKEN, 'base64').toString()).toBe('s3cr3t-value');
    expect(buildRunSecret({ job, compute: base })).toBeUndefined();
  });

  test('long or odd run ids and experiment names still give valid names and labels', () => {
    const odd = { ...job, runId: 'Run_ID/with:odd chars'.repeat(5), experiment: '-Weird experiment name!-'.repeat(4) };
    const j = buildRunJob({ job: odd, image: 'img:1', compute: base });
    expect(kubeObjectProblems(j)).toEqual([]);
    expect(j.metadata!.name!.length).toBeLessThanOrEqual(63);
    expect(j.metadata?.annotations?.['dev.gitml/run-id']).toBe(odd.runId);
    // distinct ids stay distinct after shortening
    expect(runJobName(odd.runId + 'a')).not.toBe(runJobName(odd.runId + 'b'));
    expect(dnsSafe('abc')).toBe('abc');
  });

  test('invalid compute values are refused before anything is sent', () => {
    expect(() => buildRunJob({ job, image: 'img:1', compute: { ...base, resources: { cpu: 'lots' } } })).toThrow(expect.objectContaining({ code: 'KUBERNETES' }));
    expect(() => buildRunJob({ job, image: 'img:1', compute: { ...base, namespace: 'Not_A_Namespace' } })).toThrow(expect.objectContaining({ code: 'KUBERNETES' }));
    expect(() => buildRunJob({ job: { ...job, cwd: '../outside' }, image: 'img:1', compute: base })).toThrow(expect.objectContaining({ code: 'PATH_ESCAPE' }));
  });
});

describe('what the API server refuses with 422 is refused before sending', () => {
  test('an environment variable name a pod cannot have', () => {
    let code: string | undefined;
    try {
      buildRunJob({ job: { ...job, env: { ...job.env, '1BAD': 'x' } }, image: 'img:1', compute: base });
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    expect(code).toBe('KUBERNETES');
  });
});
