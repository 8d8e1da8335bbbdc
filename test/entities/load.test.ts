import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadEntities, requireEntities } from '../../core/entities/load.js';
import { isGitmlError } from '../../core/errors.js';
import { git, makeRepo, writeFiles } from '../support/repo.js';

/** A small valid workspace; each case below breaks one thing. */
export const VALID: Record<string, string> = {
  'gitml.yaml': 'kind: Workspace\nname: demo\ndefaults:\n  compute: local\n  environment: py\nstages: [dev, production]\n',
  'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
  'gitml/compute/docker.yaml': 'kind: ComputeTarget\ntype: docker\n',
  'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\n',
  'gitml/experiments/train.yaml': [
    'kind: Experiment',
    'command: [python3, train.py, "${{params.C}}"]',
    'params:',
    '  C: { type: number, default: 1 }',
    'outputs:',
    '  model: model.pkl',
    '  sample: sample.json',
    'compute: local',
    'environment: py',
    'timeout: 10m',
    '',
  ].join('\n'),
  'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nsample: sample\n',
  'gitml/services/iris.yaml': 'kind: Service\nmodel: iris\nstage: production\ncompute: docker\n',
};

interface Case {
  name: string;
  files: Record<string, string | Buffer>;
  remove?: string[];
  /** file:line:col of the first error, or file alone for whole-file errors. */
  at: string;
  code: string;
  /** words the message must contain (the user-facing promise: what was expected). */
  says: RegExp;
}

const CASES: Case[] = [
  { name: 'malformed YAML', files: { 'gitml/experiments/train.yaml': 'kind: Experiment\ncommand: [python3, train.py\n' }, at: 'gitml/experiments/train.yaml:3:1', code: 'yaml', says: /flow sequence|\]/ },
  { name: 'tab indent', files: { 'gitml.yaml': 'kind: Workspace\nname: demo\ndefaults:\n\tcompute: local\n' }, at: 'gitml.yaml:4:1', code: 'yaml', says: /tab/ },
  { name: 'a list instead of a mapping', files: { 'gitml/compute/local.yaml': '- kind: ComputeTarget\n- type: local\n' }, at: 'gitml/compute/local.yaml:1:1', code: 'schema', says: /list; expected a mapping/ },
  { name: 'wrong type', files: { 'gitml/experiments/train.yaml': VALID['gitml/experiments/train.yaml'].replace('timeout: 10m', 'timeout: [10]') }, at: 'gitml/experiments/train.yaml:10:10', code: 'schema', says: /`timeout` should be a number or a string, got a list/ },
  { name: 'wrong enum value with a suggestion', files: { 'gitml/compute/docker.yaml': 'kind: ComputeTarget\ntype: docker\nuser: 1000:1000\nresources: { memory: lots }\n' }, at: 'gitml/compute/docker.yaml:4:22', code: 'schema', says: /`resources.memory` has an invalid form/ },
  { name: 'unknown field suggests the closest', files: { 'gitml/experiments/train.yaml': VALID['gitml/experiments/train.yaml'].replace('compute: local', 'comptue: local') }, at: 'gitml/experiments/train.yaml:8:1', code: 'schema', says: /unknown field `comptue`; did you mean `compute`\?/ },
  { name: 'missing required field', files: { 'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\n' }, at: 'gitml/models/iris.yaml:1:1', code: 'schema', says: /`artifact` is missing/ },
  { name: 'unknown compute reference', files: { 'gitml/experiments/train.yaml': VALID['gitml/experiments/train.yaml'].replace('compute: local', 'compute: gpu-box') }, at: 'gitml/experiments/train.yaml:8:10', code: 'reference', says: /`compute` refers to "gpu-box", but there is no compute target of that name \(known: docker, local\)/ },
  { name: 'unknown model output', files: { 'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: weights\n' }, at: 'gitml/models/iris.yaml:3:11', code: 'reference', says: /no output of experiment "train" of that name \(known: model, sample\)/ },
  { name: 'service on a local target', files: { 'gitml/services/iris.yaml': 'kind: Service\nmodel: iris\ncompute: local\n' }, at: 'gitml/services/iris.yaml:3:10', code: 'reference', says: /docker or kubernetes/ },
  { name: 'unknown stage', files: { 'gitml/services/iris.yaml': 'kind: Service\nmodel: iris\nstage: prod\ncompute: docker\n' }, at: 'gitml/services/iris.yaml:3:8', code: 'reference', says: /not a stage/ },
  { name: 'two entities with one name', files: { 'gitml/compute/local.yml': 'kind: ComputeTarget\ntype: local\n' }, at: 'gitml/compute/local.yml:1:1', code: 'duplicate', says: /already defined in gitml\/compute\/local.yaml/ },
  { name: 'name differs from file stem', files: { 'gitml/compute/local.yaml': 'kind: ComputeTarget\nname: here\ntype: local\n' }, at: 'gitml/compute/local.yaml:2:7', code: 'name', says: /file stem/ },
  { name: 'duplicate key', files: { 'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\ntype: docker\n' }, at: 'gitml/compute/local.yaml:3:1', code: 'yaml', says: /duplicate key/ },
  { name: 'kind of another folder', files: { 'gitml/compute/local.yaml': 'kind: Model\ntype: local\n' }, at: 'gitml/compute/local.yaml:1:7', code: 'schema', says: /must be `kind: ComputeTarget`/ },
  { name: 'YAML alias bomb', files: { 'gitml/environments/py.yaml': 'kind: Environment\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n' }, at: 'gitml/environments/py.yaml:1:1', code: 'yaml', says: /alias/ },
  { name: 'a 10 MB file', files: { 'gitml/environments/py.yaml': 'kind: Environment\n#' + 'x'.repeat(10 * 1024 * 1024) + '\n' }, at: 'gitml/environments/py.yaml', code: 'io', says: /must be under/ },
  { name: 'a binary file with a .yaml name', files: { 'gitml/environments/py.yaml': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1, 2, 255]) }, at: 'gitml/environments/py.yaml', code: 'io', says: /binary/ },
  { name: 'invalid UTF-8', files: { 'gitml/environments/py.yaml': Buffer.from([0x6b, 0x69, 0x6e, 0x64, 0x3a, 0x20, 0xc3, 0x28]) }, at: 'gitml/environments/py.yaml', code: 'io', says: /UTF-8/ },
  { name: 'a second document', files: { 'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n---\nkind: ComputeTarget\ntype: docker\n' }, at: 'gitml/compute/local.yaml:3:1', code: 'yaml', says: /one YAML document/ },
  { name: 'an empty file', files: { 'gitml/compute/local.yaml': '# nothing\n' }, at: 'gitml/compute/local.yaml:1:1', code: 'yaml', says: /empty/ },
  { name: 'missing gitml.yaml', files: {}, remove: ['gitml.yaml'], at: 'gitml.yaml', code: 'missing', says: /gitml init/ },
  { name: 'image and dockerfile together', files: { 'gitml/environments/py.yaml': 'kind: Environment\nimage: a\ndockerfile: Dockerfile\n' }, at: 'gitml/environments/py.yaml:1:1', code: 'schema', says: /either `dockerfile` or `image`, not both/ },
  { name: 'bad param name', files: { 'gitml/experiments/train.yaml': VALID['gitml/experiments/train.yaml'].replace('  C: {', '  "bad name": {') }, at: 'gitml/experiments/train.yaml:4:3', code: 'schema', says: /name "bad name"/ },
];

const loc = (p: { file: string; line: number; col: number }) => (p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file);

describe('loadEntities', () => {
  let dir: string;
  beforeAll(() => {
    dir = makeRepo(VALID);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a valid workspace loads with every entity and no problems', async () => {
    const r = await loadEntities({ dir });
    expect(r.errors).toEqual([]);
    expect([...r.value!.compute.keys()].sort()).toEqual(['docker', 'local']);
    expect(r.value!.experiments.get('train')!.spec.outputs).toEqual({ model: 'model.pkl', sample: 'sample.json' });
    expect(r.value!.services.get('iris')!.file).toBe('gitml/services/iris.yaml');
  });

  test.each(CASES)('$name is reported at its position', async (c) => {
    const d = makeRepo({ ...VALID });
    try {
      writeFiles(d, c.files);
      for (const f of c.remove ?? []) rmSync(`${d}/${f}`);
      const r = await loadEntities({ dir: d });
      expect(r.value).toBeUndefined();
      expect(r.errors.length).toBeGreaterThan(0);
      const first = r.errors.find((e) => e.file === c.at.split(':')[0])!;
      expect(first, JSON.stringify(r.errors)).toBeDefined();
      expect(loc(first)).toBe(c.at);
      expect(first.code).toBe(c.code);
      expect(first.message).toMatch(c.says);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('reads any commit without checking it out', async () => {
    const d = makeRepo({ ...VALID });
    try {
      const good = git(d, 'rev-parse', 'HEAD');
      writeFiles(d, { 'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: nope\n' });
      git(d, 'commit', '-qam', 'break');
      writeFiles(d, { 'gitml/compute/extra.yaml': 'kind: ComputeTarget\ntype: local\n' }); // untracked: invisible to --rev
      const atHead = await loadEntities({ dir: d, rev: 'HEAD' });
      expect(atHead.errors.map((e) => e.file)).toEqual(['gitml/compute/local.yaml']);
      const before = await loadEntities({ dir: d, rev: 'HEAD~1' });
      expect(before.errors).toEqual([]);
      expect(before.value!.commit).toBe(good);
      expect([...before.value!.compute.keys()].sort()).toEqual(['docker', 'local']);
      // HEAD, index and working tree untouched
      expect(git(d, 'status', '--porcelain')).toContain('?? gitml/compute/extra.yaml');
      expect(git(d, 'status', '--porcelain')).not.toContain(' M ');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  test('unknown revision and non-repository are typed errors', async () => {
    await expect(loadEntities({ dir, rev: 'no-such-branch' })).rejects.toMatchObject({ code: 'UNKNOWN_REVISION' });
    await expect(loadEntities({ dir: '/' })).rejects.toMatchObject({ code: 'NOT_A_REPO' });
  });

  test('requireEntities throws INVALID_ENTITIES with every problem in data', async () => {
    const d = makeRepo({ ...VALID, 'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: nope\n', 'gitml/models/iris.yaml': 'kind: Model\n' });
    try {
      const e = await requireEntities({ dir: d }).catch((x) => x);
      expect(isGitmlError(e, 'INVALID_ENTITIES')).toBe(true);
      expect((e.data.problems as unknown[]).length).toBeGreaterThanOrEqual(3);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
