// `gitml validate` refuses what a Kubernetes API server would refuse with 422 Invalid, at the
// line and column of the value, before any run or deploy reaches a cluster.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadEntities } from '../../core/entities/load.js';
import { gitml, makeRepo, writeFiles } from '../support/repo.js';
import { VALID } from './load.test.js';

const K8S = 'gitml/compute/k8s.yaml';
const kube = (lines: string[]) => ['kind: ComputeTarget', 'type: kubernetes', ...lines, ''].join('\n');

const BASE: Record<string, string> = {
  ...VALID,
  [K8S]: kube(['namespace: ml']),
  'gitml/experiments/train.yaml': VALID['gitml/experiments/train.yaml'].replace('compute: local', 'compute: k8s'),
  'gitml/services/iris.yaml': 'kind: Service\nmodel: iris\nstage: production\ncompute: k8s\n',
};

const CASES: Array<{ name: string; files: Record<string, string>; at: string }> = [
  { name: 'a namespace that is not a DNS-1123 label', files: { [K8S]: kube(['namespace: ML_team']) }, at: `${K8S}:3:12` },
  { name: 'a service account with capitals', files: { [K8S]: kube(['serviceAccount: Trainer']) }, at: `${K8S}:3:17` },
  { name: 'a nodeSelector key with a space', files: { [K8S]: kube(['nodeSelector:', '  "gpu pool": a100']) }, at: `${K8S}:4:3` },
  { name: 'a nodeSelector key whose prefix is not a DNS subdomain', files: { [K8S]: kube(['nodeSelector:', '  Cloud.Example/pool: a100']) }, at: `${K8S}:4:3` },
  { name: 'a nodeSelector value too long', files: { [K8S]: kube(['nodeSelector:', `  pool: ${'a'.repeat(64)}`]) }, at: `${K8S}:4:9` },
  { name: 'a nodeSelector value with a slash', files: { [K8S]: kube(['nodeSelector:', '  pool: gpu/a100']) }, at: `${K8S}:4:9` },
  { name: 'an image pull secret name with an underscore', files: { [K8S]: kube(['imagePullSecrets: [reg_cred]']) }, at: `${K8S}:3:20` },
  { name: 'a toleration value with operator Exists', files: { [K8S]: kube(['tolerations:', '  - key: nvidia.com/gpu', '    operator: Exists', '    value: present']) }, at: `${K8S}:6:12` },
  { name: 'a toleration key that is not a label key', files: { [K8S]: kube(['tolerations:', '  - key: "gpu type"', '    effect: NoSchedule']) }, at: `${K8S}:4:10` },
  { name: 'a gateway namespace with a dot', files: { [K8S]: kube(['gateway:', '  name: public', '  namespace: gw.example']) }, at: `${K8S}:5:14` },
  { name: 'a service name that cannot name a Deployment', files: { 'gitml/services/Iris_Service.yaml': 'kind: Service\nmodel: iris\nstage: production\ncompute: k8s\n' }, at: 'gitml/services/Iris_Service.yaml:1:7' },
  { name: 'an environment variable name a pod refuses, in an environment run on kubernetes', files: { 'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\nvariables:\n  1BAD: x\n' }, at: 'gitml/environments/py.yaml:4:3' },
];

describe('kubernetes checks in gitml validate', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeRepo(BASE);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a valid kubernetes workspace has no problems', async () => {
    const r = await loadEntities({ dir });
    expect(r.errors).toEqual([]);
  });

  test.each(CASES)('$name is refused at its line and column', async (c) => {
    const d = makeRepo({ ...BASE });
    try {
      writeFiles(d, c.files);
      const r = await loadEntities({ dir: d });
      expect(r.value).toBeUndefined();
      const mine = r.errors.filter((e) => e.file === c.at.split(':')[0]);
      expect(mine.map((e) => `${e.file}:${e.line}:${e.col}`), JSON.stringify(r.errors)).toEqual([c.at]);
      expect(mine[0].code).toBe('schema');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('the same names are fine on a docker compute (no cluster to refuse them)', async () => {
    const d = makeRepo({ ...BASE, 'gitml/services/Iris_Service.yaml': 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\n', 'gitml/experiments/train.yaml': VALID['gitml/experiments/train.yaml'], 'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\nvariables:\n  1BAD: x\n' });
    try {
      expect((await loadEntities({ dir: d })).errors).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('gitml validate exits 1 and prints file:line:col', async () => {
    const d = makeRepo({ ...BASE, [K8S]: kube(['nodeSelector:', '  pool: gpu/a100']) });
    try {
      const r = await gitml(d, ['validate', '--json']);
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout);
      expect(out.valid).toBe(false);
      expect(out.errors.map((e: { file: string; line: number; col: number }) => `${e.file}:${e.line}:${e.col}`)).toEqual([`${K8S}:4:9`]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
