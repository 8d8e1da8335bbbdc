import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followRun } from '../../core/run/follow.js';
import path from 'node:path';
import { BIN, GIT_ENV, gitml, removeDir, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { runFile, workspace } from './fixtures.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

describe('gitml run (CLI)', () => {
  let dir: string;
  beforeAll(() => {
    dir = workspace({
      'gitml/experiments/fails.yaml': 'kind: Experiment\ncommand: [python3, -c, "import sys; sys.exit(4)"]\n',
      'gitml/experiments/wait.yaml':
        'kind: Experiment\ncommand: [python3, -c, "import os, time; print(\'ready\', os.getpid(), flush=True); time.sleep(60)"]\n',
      'gitml/experiments/quick.yaml': 'kind: Experiment\ncommand: [python3, -c, "import time; [print(\'line\', i, flush=True) or time.sleep(0.05) for i in range(20)]; print(\'::gitml metric name=m value=1.5\')"]\n',
    });
    dirs.push(dir);
  });

  it('--help states the contract (snapshot: a change to it shows in review)', () => {
    const r = gitml(dir, ['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatchSnapshot();
  });

  it('exit 0 and the record as JSON for a completed run', () => {
    const r = gitml(dir, ['run', 'contract', '--param', 'msg=x y', '--json']);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.status).toBe('completed');
    expect(rec.params.msg).toBe('x y');
    expect(r.stderr).toContain('ARGS=');
  });

  it('exit 1 for a failed run, 2 for an undeclared param, 1 for an unknown experiment', () => {
    const failed = gitml(dir, ['run', 'fails']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/failed/);
    expect(gitml(dir, ['run', 'contract', '--param', 'nope=1']).code).toBe(2);
    expect(gitml(dir, ['run', 'nope']).code).toBe(1);
  });

  it('Ctrl-C (SIGINT to the CLI) cancels the run on its target, records canceled, exits 130', async () => {
    const child = spawn(process.execPath, [BIN, 'run', 'wait'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`exited early: ${err}`)));
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    const id = /run (\w{26})/.exec(err)![1];
    expect(JSON.parse(runFile(dir, id, 'run.json')!).status).toBe('canceled');
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  });

  it('--detach prints the run id at once; followRun follows it to the end from another process', async () => {
    const r = gitml(dir, ['run', 'quick', '--detach']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-z]{26}$/);
    let text = '';
    const final = await followRun({ dir, runId: id, onLog: (c) => (text += c), pollMs: 50 });
    expect(final.status).toBe('completed');
    expect(text).toContain('line 0');
    expect(text).toContain('line 19');
    const rec = JSON.parse(runFile(dir, id, 'run.json')!);
    expect(rec.status).toBe('completed');
    expect(rec.metrics).toEqual({ m: 1.5 });
    expect(rec.source.branch).toBe('main');
    expect(final.commit).toBeTruthy();
  });

  it('gitml runs show ID --follow streams a detached run and exits with its status', () => {
    const r = gitml(dir, ['run', 'fails', '--detach']);
    const id = r.stdout.trim();
    const f = gitml(dir, ['runs', 'show', id, '--follow']);
    expect(f.code).toBe(1);
    expect(f.stdout).toContain(id);
    expect(f.stdout).toMatch(/failed \(exit 4\)/);
    const q = gitml(dir, ['run', 'quick', '--detach']);
    const g = gitml(dir, ['runs', 'show', q.stdout.trim().slice(0, 14), '--follow']);
    expect(g.code).toBe(0);
    expect(g.stdout).toContain('line 19');
    expect(g.stdout).toContain('completed');
  });
});

describe('the sklearn template', () => {
  it('gitml init then gitml run train: trains for real on local and records metrics and the model', () => {
    const dir = tmpDir();
    dirs.push(dir);
    expect(gitml(dir, ['init', '.', '--template', 'sklearn']).code).toBe(0);
    // The template's environment says `python: python3`: the test venv (scikit-learn, pandas) provides it.
    const env = { PATH: `${path.dirname(testPython())}${path.delimiter}${process.env.PATH}` };
    const r = gitml(dir, ['run', 'train', '--param', 'C=0.5', '--json'], { env });
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec.status).toBe('completed');
    expect(rec.params.C).toBe(0.5);
    expect(rec.metrics.accuracy).toBeGreaterThan(0.8);
    expect(rec.artifacts.map((a: { path: string }) => a.path).sort()).toEqual(['model.pkl', 'reference.jsonl', 'sample.json']);
    expect(Object.keys(rec.inputs)).toEqual(['iris']);
  });
});
