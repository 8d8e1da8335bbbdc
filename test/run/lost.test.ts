import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { reapLostRuns } from '../../core/run/reap.js';
import { BIN, GIT_ENV, gitml, removeDir } from '../support/repo.js';
import { runFile, workspace } from './fixtures.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

it('a run whose gitml process was SIGKILLed is recorded failed ("lost") the next time anyone looks, with its log so far', async () => {
  const dir = workspace({
    'gitml/experiments/wait.yaml': 'kind: Experiment\ncommand: [python3, -c, "import os, time; print(\'ready\', os.getpid(), flush=True); time.sleep(60)"]\n',
  });
  dirs.push(dir);
  const child = spawn(process.execPath, [BIN, 'run', 'wait'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', () => {});
  const pythonPid = await until('the command to start', () => {
    const m = /ready (\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  });
  const liveDir = path.join(dir, '.git/gitml/live');
  const id = readdirSync(liveDir).find((f) => /^\w{26}\.json$/.test(f))!.slice(0, 26);
  // The `running` record reaches the branch shortly after the start.
  await until('the running record', () => (JSON.parse(runFile(dir, id, 'run.json') ?? '{}').status === 'running' ? true : undefined));

  // While its gitml process lives, the run is left alone.
  expect(await reapLostRuns(dir)).toEqual([]);

  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  process.kill(pythonPid, 'SIGKILL'); // the command outlives a SIGKILLed gitml: the error says so

  const list = gitml(dir, ['runs', '--json']);
  expect(list.code, list.stderr).toBe(0);
  const run = JSON.parse(list.stdout).runs.find((r: { id: string }) => r.id === id);
  expect(run.status).toBe('failed');
  expect(run.error).toMatch(/^lost: the gitml process running it \(pid \d+ on .+\) ended without recording a result/);
  expect(run.durationMs).toBeUndefined();
  expect(runFile(dir, id, 'logs.txt')).toContain('ready');

  // Settled once: another look records nothing more.
  const commits = gitml(dir, ['runs', 'show', id, '--json']);
  expect(JSON.parse(commits.stdout).status).toBe('failed');
  expect(await reapLostRuns(dir)).toEqual([]);
});
