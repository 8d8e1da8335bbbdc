/**
 * Paths in the YAML of a repository (a teammate's commit, a pulled branch) that try to leave
 * it: `..`, absolute paths, a NUL, and symlinks committed in the repository that point outside.
 * The run must refuse before anything runs, or see only what the commit holds; no file outside
 * the repository is read, hashed or copied. (Paths meant to be outside, a compute's `workdir`,
 * an environment's `venv` or `python`, docker `tls` files, a kubeconfig, are not checked here:
 * they name this machine's folders on purpose.)
 */
import { createHash } from 'node:crypto';
import { readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runExperiment } from '../../core/run/run-experiment.js';
import { buildManifest } from '../../core/package/manifest.js';
import { closeRunStore } from '../../core/runs/store.js';
import { git, makeRepo, removeDir } from '../support/repo.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { registerModel } from '../../core/registry/register.js';

process.env.GITML_AUTO_GC = '0';

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

const PASSWD_SHA = createHash('sha256').update(readFileSync('/etc/passwd')).digest('hex');

function repo(experiment: string, extra: Record<string, string> = {}, links: Record<string, string> = {}): string {
  const dir = makeRepo({
    'gitml.yaml': 'kind: Workspace\nname: p\ndefaults:\n  compute: local\n',
    'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
    'gitml/experiments/x.yaml': experiment,
    'src/ok.py': 'print("ran")\n',
    ...extra,
  });
  for (const [at, target] of Object.entries(links)) symlinkSync(target, path.join(dir, at));
  if (Object.keys(links).length) {
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'links');
  }
  dirs.push(dir);
  return dir;
}

const exp = (lines: string[]) => ['kind: Experiment', ...lines, ''].join('\n');

async function outcome(dir: string): Promise<{ code?: string; ran: boolean; text: string }> {
  let text = '';
  try {
    const r = await runExperiment({ dir, experiment: 'x', onLog: (c) => (text += c) });
    return { ran: true, text: text + JSON.stringify(r.record) };
  } catch (e) {
    return { code: (e as { code?: string }).code, ran: text.includes('ran'), text: text + String((e as Error).message) };
  }
}

describe('YAML paths that try to leave the repository', () => {
  test.each([
    ['code: ../..', exp(['code: ../..', 'command: [python3, ok.py]'])],
    ['code: /etc', exp(['code: /etc', 'command: [python3, ok.py]'])],
    ['an input ../../etc/passwd', exp(['code: src', 'command: [python3, ok.py]', 'inputs:', '  pw: ../../etc/passwd'])],
    ['an absolute input', exp(['code: src', 'command: [python3, ok.py]', 'inputs:', '  pw: /etc/passwd'])],
    ['an input with a NUL', exp(['code: src', 'command: [python3, ok.py]', 'inputs:', '  pw: "src/ok.py\\0x"'])],
    ['an output ../../x', exp(['code: src', 'command: [python3, ok.py]', 'outputs:', '  m: ../../x'])],
    ['an absolute output', exp(['code: src', 'command: [python3, ok.py]', 'outputs:', '  m: /tmp/x'])],
  ])('%s is refused before anything runs', async (_what, yaml) => {
    const o = await outcome(repo(yaml));
    expect(o.ran).toBe(false);
    expect(['PATH_ESCAPE', 'INVALID_ENTITIES']).toContain(o.code);
    expect(o.text).not.toContain(PASSWD_SHA);
  });

  test.each([
    ['an absolute link', { etc: '/etc' }],
    ['a relative link out of the repository', { etc: '../../../../../../../../etc' }],
  ])('%s committed in the repository: an input through it is not in the commit; nothing outside is hashed', async (_what, links) => {
    const dir = repo(exp(['code: src', 'command: [python3, ok.py]', 'inputs:', '  pw: etc/passwd']), {}, links);
    const o = await outcome(dir);
    expect(o.ran).toBe(false);
    expect(o.code).toBe('INVALID_ENTITIES');
    expect(o.text).not.toContain(PASSWD_SHA);
  });

  test('a committed link as the code folder: the run does not start in /etc', async () => {
    const dir = repo(exp(['code: code', 'command: [python3, ok.py]']), {}, { code: '/etc' });
    const o = await outcome(dir);
    expect(o.ran).toBe(false);
    expect(o.code).toBe('INVALID_ENTITIES');
  });

  test('a committed link as an input, pointing outside: hashed as a link (its text), never followed', async () => {
    const dir = repo(exp(['code: src', 'command: [python3, ok.py]', 'inputs:', '  pw: pw']), {}, { pw: '/etc/passwd' });
    const o = await outcome(dir);
    expect(o.text).not.toContain(PASSWD_SHA);
  });

  test.each([
    ['../../etc/passwd', 'PATH_ESCAPE'],
    ['/etc/passwd', 'PATH_ESCAPE'],
  ])('a model scoring script %s is refused by the manifest', async (scoring, code) => {
    const dir = makeRegistryRepo({ 'gitml/models/iris.yaml': `kind: Model\nexperiment: train\nartifact: model\nsample: sample\nflavor: python\nscoring: ${scoring}\n` });
    dirs.push(dir);
    const rec = record({ source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}') } });
    await addRun(dir, rec, { 'model.pkl': 'w', 'sample.json': '[{"x": 1}]' });
    await registerModel({ dir, name: 'iris', runId: rec.id, version: 'v1.0.0' });
    await expect(buildManifest({ dir, ref: 'iris@v1.0.0' })).rejects.toMatchObject({ code });
  });
});
