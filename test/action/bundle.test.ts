import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { GIT_ENV, ROOT, git, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { webhookExample } from './harness.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

describe('the committed bundle', () => {
  it('is what a fresh build of action/ and core/ gives (rebuild with `npm run build:action`)', async () => {
    const { staleFiles } = (await import(path.join(ROOT, 'action/build.mjs'))) as { staleFiles: () => Promise<string[]> };
    expect(await staleFiles()).toEqual([]);
  }, 120_000);

  it('runs with no node_modules, as the runner runs it from the action checkout', async () => {
    // The action as the runner downloads it: action.yml, the bundle, package.json, schemas, templates.
    const action = tmpDir('gitml-action-copy-');
    dirs.push(action);
    mkdirSync(path.join(action, 'action'), { recursive: true });
    cpSync(path.join(ROOT, 'action/dist'), path.join(action, 'action/dist'), { recursive: true });
    for (const f of ['action.yml', 'package.json', 'schemas', 'templates']) cpSync(path.join(ROOT, f), path.join(action, f), { recursive: true });
    const bare = tmpDir('gitml-action-remote-');
    dirs.push(bare);
    git(bare, 'init', '-q', '--bare', '-b', 'main');
    const ws = makeRepo({
      'gitml.yaml': 'kind: Workspace\nname: nm\ndefaults:\n  compute: local\n',
      'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
      'gitml/experiments/t.yaml': 'kind: Experiment\ncommand: [python3, -c, "print(\'::gitml metric name=acc value=0.5\')"]\ntriggers: {}\n',
    });
    dirs.push(ws);
    git(ws, 'remote', 'add', 'origin', bare);
    const sha = git(ws, 'rev-parse', 'HEAD');
    const e = webhookExample('push', undefined, 'refs/heads/');
    Object.assign(e, { ref: 'refs/heads/main', before: '0'.repeat(40), after: sha });
    e.repository.default_branch = 'main';
    const temp = tmpDir('gitml-runner-');
    dirs.push(temp);
    writeFileSync(path.join(temp, 'event.json'), JSON.stringify(e));
    writeFileSync(path.join(temp, 'out'), '');
    const r = await run(process.execPath, [path.join(action, 'action/dist/index.mjs')], {
      cwd: ws,
      env: { PATH: process.env.PATH, HOME: temp, ...GIT_ENV, GITHUB_WORKSPACE: ws, GITHUB_EVENT_NAME: 'push', GITHUB_EVENT_PATH: path.join(temp, 'event.json'), GITHUB_REF: 'refs/heads/main', GITHUB_SHA: sha, GITHUB_REPOSITORY: 'o/nm', GITHUB_OUTPUT: path.join(temp, 'out'), RUNNER_TEMP: temp, NODE_PATH: '' },
    });
    expect(r.stdout).toContain('pushed the runs branch');
    expect(git(bare, 'for-each-ref', '--format=%(refname)')).toContain('refs/heads/runs');
  }, 120_000);
});
