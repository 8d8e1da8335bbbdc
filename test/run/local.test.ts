import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExperiment } from '../../core/run/run-experiment.js';
import { environmentDigest } from '../../core/environments/digest.js';
import type { Target } from '../../core/targets/types.js';
import { git, removeDir, writeFiles } from '../support/repo.js';
import { head, runFile, runFiles, runSeries, workspace } from './fixtures.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const SECRET = 'v3ry-s3cret-token';
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const ws = (extra: Record<string, string> = {}) => {
  const d = workspace(extra);
  dirs.push(d);
  return d;
};

describe('the run contract on the local target', () => {
  let dir: string;
  let res: Awaited<ReturnType<typeof runExperiment>>;
  let stdout = '';
  let logs = '';
  beforeAll(async () => {
    dir = ws();
    res = await runExperiment({
      dir,
      experiment: 'contract',
      params: { msg: 'a b; rm -rf / && echo $HOME', n: '7' },
      env: { ...process.env, MY_SECRET: SECRET },
      onLog: (chunk, stream) => {
        if (stream === 'stdout') stdout += chunk;
      },
    });
    logs = runFile(dir, res.runId, 'logs.txt') ?? '';
  });
  const line = (prefix: string) => stdout.split('\n').find((l) => l.startsWith(prefix))?.slice(prefix.length);

  it('completes and records the final run on the runs branch', () => {
    expect(res.record.status).toBe('completed');
    expect(res.record.exitCode).toBe(0);
    expect(git(dir, 'rev-parse', 'runs')).toBe(res.commit);
    const stored = JSON.parse(runFile(dir, res.runId, 'run.json')!);
    expect(stored.status).toBe('completed');
    expect(git(dir, 'log', '--format=%s', 'runs').split('\n')).toHaveLength(2); // running, then final
  });

  it('passes params as separate arguments, typed, substituted inside arguments', () => {
    const args = JSON.parse(line('ARGS=')!);
    expect(args.slice(0, 5)).toEqual(['--msg', 'a b; rm -rf / && echo $HOME', '--n=7', '--flag', 'False'.toLowerCase()]);
    expect(res.record.params).toEqual({ msg: 'a b; rm -rf / && echo $HOME', n: 7, flag: false });
  });

  it('sets GITML_* variables, environment variables, the code folder as cwd, and layout paths', () => {
    const env = JSON.parse(line('ENV=')!);
    expect(env.GITML_RUN_ID).toBe(res.runId);
    expect(env.MY_VAR).toBe('v1');
    expect(path.basename(env.GITML_METRICS)).toBe('metrics.jsonl');
    expect(line('CWD=')).toMatch(/\/code\/src$/);
    const args = JSON.parse(line('ARGS=')!);
    expect(args[args.indexOf('--model') + 1]).toBe(path.join(env.GITML_OUTPUTS, 'model.txt'));
    expect(line('DATA=')).toBe('committed data');
  });

  it('passes secrets to the process but never records or logs them', () => {
    expect(line('SECRET_SHA=')).toBe(sha(SECRET));
    expect(stdout).not.toContain(SECRET);
    expect(logs).not.toContain(SECRET);
    expect(logs).toContain('SECRET_RAW=***');
    expect(logs).toContain('SPLIT=***'); // written in two pieces, 300 ms apart
    expect(stdout).toContain('SPLIT=***');
    expect(logs).toContain('MISSING_SECRET');
    for (const f of runFiles(dir, res.runId)) expect(runFile(dir, res.runId, f) ?? '').not.toContain(SECRET);
  });

  it('collects metrics from the file and from stdout marker lines; malformed lines are warnings', async () => {
    expect(res.record.metrics).toEqual({ loss: 0.25, acc: 0.95 });
    const series = await runSeries(dir, res.runId);
    expect(series.loss.map((p) => [p.step, p.value])).toEqual([[0, 0.5], [1, 0.25]]);
    expect(series.loss[0].timestamp).toBe(1700000000000);
    expect(series.acc.map((p) => p.step)).toEqual([3, 4]);
    expect(logs).toMatch(/warning: ignored metric at \$GITML_METRICS line 3/);
    expect(logs).toMatch(/warning: ignored metric at \$GITML_METRICS line 4/);
    expect(logs).toMatch(/warning: ignored metric at stdout line \d+/);
  });

  it('collects outputs as artifacts and refuses symlinks that leave the outputs folder', () => {
    const paths = res.record.artifacts.map((a) => a.path).sort();
    expect(paths).toEqual(['model.txt', 'sub/b.txt']);
    const model = res.record.artifacts.find((a) => a.path === 'model.txt')!;
    expect(model.sha256).toBe(sha('weights'));
    expect(logs).toMatch(/output leak is a symlink to \/etc\/passwd/);
    expect(logs).toMatch(/output sub\/up is a symlink/);
    expect(runFiles(dir, res.runId).some((f) => f.includes('leak'))).toBe(false);
  });

  it('records full lineage', async () => {
    const r = res.record;
    expect(r.source).toEqual({ ...head(dir), branch: 'main' });
    expect(r.inputs.data).toEqual({ path: 'data/d.txt', sha256: sha('committed data\n'), size: 15 });
    const listing = [`${sha('committed data\n')}  d.txt\n`, `${sha('e\n')}  more/e.txt\n`].join('');
    expect(r.inputs.folder).toEqual({ path: 'data', sha256: sha(listing), size: 17 });
    expect(r.environment?.name).toBe('env');
    expect(r.environment?.digest).toBe(await environmentDigest({ kind: 'Environment', python: 'python3', variables: { MY_VAR: 'v1' }, secrets: ['MY_SECRET', 'MISSING_SECRET'] }, dir));
    expect(r.compute).toEqual({ name: 'local', type: 'local' });
    expect(r.spec?.compute).toBe('local');
    expect(r.spec?.environment).toBe('env');
    expect(r.host).toBe(hostname());
    expect(r.trigger).toEqual({ kind: 'cli' });
    const start = Date.parse(r.startedAt);
    const end = Date.parse(r.endedAt!);
    expect(end - start).toBe(r.durationMs);
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('removes its scratch folder once recorded', () => {
    const env = JSON.parse(line('ENV=')!);
    expect(existsSync(path.dirname(env.GITML_OUTPUTS))).toBe(false);
  });
});

describe('bad input is refused before anything runs', () => {
  let dir: string;
  beforeAll(() => {
    dir = ws({
      'gitml/experiments/badref.yaml': 'kind: Experiment\ncommand: python3 -c pass ${{params.nope}}\n',
      'gitml/experiments/shellop.yaml': 'kind: Experiment\ncommand: python3 -c pass && rm -rf /\n',
      'gitml/experiments/missinginput.yaml': 'kind: Experiment\ncommand: python3 -c pass\ninputs:\n  x: data/not-committed.csv\n',
    });
  });
  const cases: Array<[string, Parameters<typeof runExperiment>[0] extends infer O ? Partial<O> : never, string]> = [
    ['unknown experiment', { experiment: 'nope' }, 'UNKNOWN_ENTITY'],
    ['unknown compute', { experiment: 'contract', compute: 'gpu-cluster' }, 'UNKNOWN_ENTITY'],
    ['undeclared param', { experiment: 'contract', params: { lr: '0.1' } }, 'PARAM'],
    ['param of the wrong type', { experiment: 'contract', params: { n: 'seven' } }, 'PARAM'],
    ['non-integer for an integer param', { experiment: 'contract', params: { n: '1.5' } }, 'PARAM'],
    ['unknown reference in the command', { experiment: 'badref' }, 'INVALID_ENTITIES'],
    ['a shell operator in the command', { experiment: 'shellop' }, 'INVALID_ENTITIES'],
    ['an input that is not committed', { experiment: 'missinginput' }, 'INVALID_ENTITIES'],
    ['an unknown revision', { experiment: 'contract', rev: 'no-such-branch' }, 'UNKNOWN_REVISION'],
  ];
  it.each(cases)('%s', async (_, o, code) => {
    const before = git(dir, 'for-each-ref', 'refs/heads/runs');
    await expect(runExperiment({ dir, experiment: 'contract', ...o })).rejects.toMatchObject({ code });
    if (code !== 'INVALID_ENTITIES' || _ !== 'an input that is not committed') expect(git(dir, 'for-each-ref', 'refs/heads/runs')).toBe(before);
  });
});

describe('faults', () => {
  let dir: string;
  beforeAll(() => {
    dir = ws({
      'gitml/experiments/fails.yaml': 'kind: Experiment\ncommand: [python3, -c, "import sys; print(\'about to fail\'); sys.stderr.write(\'boom\\\\n\'); sys.exit(3)"]\n',
      'gitml/experiments/nocmd.yaml': 'kind: Experiment\ncommand: definitely-not-a-command-gitml --x\n',
      'gitml/experiments/slow.yaml': 'kind: Experiment\ncommand: [python3, -c, "import time; print(\'sleeping\', flush=True); time.sleep(60)"]\ntimeout: 1s\n',
      'gitml/experiments/cancel.yaml': 'kind: Experiment\ncommand: [python3, -c, "import time; print(\'ready\', flush=True); time.sleep(60)"]\n',
    });
  });

  it('a non-zero exit is recorded as failed, with its logs', async () => {
    const r = await runExperiment({ dir, experiment: 'fails' });
    expect(r.record.status).toBe('failed');
    expect(r.record.exitCode).toBe(3);
    expect(r.record.error).toBeTruthy();
    const logs = runFile(dir, r.runId, 'logs.txt')!;
    expect(logs).toContain('about to fail');
    expect(logs).toContain('boom');
  });

  it('a command that does not exist is recorded as failed with a clear error', async () => {
    const r = await runExperiment({ dir, experiment: 'nocmd' });
    expect(r.record.status).toBe('failed');
    expect(r.record.exitCode).toBeNull();
    expect(r.record.error).toContain('definitely-not-a-command-gitml');
    expect(JSON.parse(runFile(dir, r.runId, 'run.json')!).status).toBe('failed');
  });

  it('the experiment timeout kills the run and records timed_out', async () => {
    const r = await runExperiment({ dir, experiment: 'slow', killGraceMs: 500 });
    expect(r.record.status).toBe('timed_out');
    expect(r.record.durationMs).toBeLessThan(30_000);
    expect(runFile(dir, r.runId, 'logs.txt')).toContain('sleeping');
  });

  it("the target gets the experiment's timeout as job.timeoutMs (none without a timeout)", async () => {
    const { LocalTarget } = await import('../../core/targets/local.js');
    const seen: Array<number | undefined> = [];
    const real = new LocalTarget({ compute: { name: 'local', file: '', spec: { kind: 'ComputeTarget', type: 'local' } }, repoDir: dir });
    const spy: Target = {
      type: 'local',
      layout: (id) => real.layout(id),
      run: async (job) => {
        seen.push(job.timeoutMs);
        return { status: 'completed', exitCode: 0, outputsDir: real.layout(job.runId).outputs, host: 'spy' };
      },
    };
    await runExperiment({ dir, experiment: 'slow', target: spy });
    await runExperiment({ dir, experiment: 'cancel', target: spy });
    expect(seen).toEqual([1000, undefined]);
  });

  it('an abort (Ctrl-C) stops the process group and records canceled', async () => {
    const ac = new AbortController();
    const r = await runExperiment({
      dir,
      experiment: 'cancel',
      signal: ac.signal,
      onLog: (chunk) => {
        if (chunk.includes('ready')) ac.abort();
      },
    });
    expect(r.record.status).toBe('canceled');
    expect(JSON.parse(runFile(dir, r.runId, 'run.json')!).status).toBe('canceled');
  });

  it('a target that cannot run the job at all (engine down) records a failed run and rethrows its error', async () => {
    const { GitmlError } = await import('../../core/errors.js');
    const { LocalTarget } = await import('../../core/targets/local.js');
    const real = new LocalTarget({ compute: { name: 'local', file: '', spec: { kind: 'ComputeTarget', type: 'local' } }, repoDir: dir });
    const down = {
      type: 'local' as const,
      layout: (id: string) => real.layout(id),
      run: async () => {
        throw new GitmlError('DOCKER_UNAVAILABLE', 'engine went away', {}, { retryable: true });
      },
    };
    let shown = '';
    const err = await runExperiment({ dir, experiment: 'fails', target: down, onLog: (chunk) => (shown += chunk) }).catch((e) => e);
    expect(err).toMatchObject({ code: 'DOCKER_UNAVAILABLE' });
    // The caller reports the thrown error; the live output does not say it a second time.
    expect(shown).not.toContain('engine went away');
    const id = (err as { data: { runId: string } }).data.runId;
    const rec = JSON.parse(runFile(dir, id, 'run.json')!);
    expect(rec.status).toBe('failed');
    expect(rec.error).toContain('engine went away');
    expect(runFile(dir, id, 'logs.txt')).toContain('engine went away');
  });

  it('a dirty working tree is refused, or run as committed and recorded dirty with --allow-dirty', async () => {
    writeFileSync(path.join(dir, 'data/d.txt'), 'uncommitted edit\n');
    try {
      await expect(runExperiment({ dir, experiment: 'contract' })).rejects.toMatchObject({ code: 'DIRTY_TREE' });
      let out = '';
      const r = await runExperiment({ dir, experiment: 'contract', allowDirty: true, onLog: (c) => (out += c) });
      expect(r.record.source.dirty).toBe(true);
      expect(out).toContain('DATA=committed data');
      expect(r.record.inputs.data.sha256).toBe(sha('committed data\n'));
    } finally {
      git(dir, 'checkout', '--', 'data/d.txt');
    }
  });

  it('runs an older commit with rev, its own entities and code', async () => {
    const old = git(dir, 'rev-parse', 'HEAD');
    writeFiles(dir, { 'data/d.txt': 'second version\n' });
    git(dir, 'commit', '-qam', 'second');
    let out = '';
    const r = await runExperiment({ dir, experiment: 'contract', rev: old, onLog: (c) => (out += c) });
    expect(out).toContain('DATA=committed data');
    expect(r.record.source.commit).toBe(old);
    expect(r.record.source.branch).toBeUndefined();
  });
});

describe('environments on the local target', () => {
  it("puts the environment's venv first on PATH and uses its python for a `python` command", async () => {
    const { testPython } = await import('../support/python.js');
    const venv = path.dirname(path.dirname(testPython()));
    const dir = ws({
      'gitml/environments/venv.yaml': `kind: Environment\nvenv: ${venv}\n`,
      'gitml/experiments/venv.yaml':
        'kind: Experiment\nenvironment: venv\ncommand: [python, -c, "import os, sys, sklearn; print(\'PREFIX=\' + sys.prefix); print(\'PATH0=\' + os.environ[\'PATH\'].split(os.pathsep)[0])"]\n',
    });
    let out = '';
    const r = await runExperiment({ dir, experiment: 'venv', onLog: (c) => (out += c) });
    expect(r.record.status).toBe('completed');
    expect(out).toContain(`PREFIX=${venv}`);
    expect(out).toContain(`PATH0=${path.join(venv, 'bin')}`);
  });
});

describe('exported code', () => {
  it('never creates a committed symlink that leaves the repository', async () => {
    const dir = ws({
      'gitml/experiments/links.yaml':
        'kind: Experiment\ncommand: [python3, -c, "import os; print(\'ESC=\' + str(os.path.lexists(\'esc\')), \'IN=\' + open(\'inner\').read())"]\n',
      'target.txt': 'inside',
    });
    const { symlinkSync } = await import('node:fs');
    symlinkSync('/etc/passwd', path.join(dir, 'esc'));
    symlinkSync('target.txt', path.join(dir, 'inner'));
    git(dir, 'add', 'esc', 'inner');
    git(dir, 'commit', '-qm', 'links');
    let out = '';
    const r = await runExperiment({ dir, experiment: 'links', onLog: (c) => (out += c) });
    expect(r.record.status).toBe('completed');
    expect(out).toContain('ESC=False IN=inside');
    expect(readFileSync(path.join(dir, 'target.txt'), 'utf8')).toBe('inside');
  });
});

describe('declared outputs', () => {
  it('a completed run that did not write a declared output says so in its log, and still completes', async () => {
    const dir = ws({
      'gitml/experiments/lazy.yaml':
        'kind: Experiment\ncommand: [python3, -c, "import os; open(os.environ[\'GITML_OUTPUTS\'] + \'/made.txt\', \'w\').write(\'x\')"]\noutputs:\n  made: made.txt\n  model: model.pkl\n',
    });
    let out = '';
    const r = await runExperiment({ dir, experiment: 'lazy', onLog: (c) => (out += c) });
    expect(r.record.status).toBe('completed');
    expect(out).toContain('gitml: warning: declared output model (model.pkl) was not written');
    expect(out).not.toContain('declared output made');
    expect(runFile(dir, r.runId, 'logs.txt')).toContain('declared output model (model.pkl) was not written');
  });
});
