/**
 * An environment's `secrets` reach the run's process and nothing else: not the runs branch
 * (run.json, logs.txt), not the live log in .git/gitml/live, not what `gitml run` prints, not
 * an error message, however the output is cut into chunks. A fake target (the Target contract,
 * as the orchestration sees it) makes the chunking exact; the local target checks a real process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExperiment } from '../../core/run/run-experiment.js';
import type { Target, TargetJob, TargetResult } from '../../core/targets/types.js';
import { git, removeDir, tmpDir } from '../support/repo.js';
import { runFile, runFiles, workspace } from './fixtures.js';

process.env.GITML_AUTO_GC = '0';

// A multi-line secret, as a PEM key or a JSON service-account file is.
const PEM = '-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbmljZS10cnktYnV0LW5vLXNlY3JldA==\n-----END TEST KEY-----';
const TOKEN = 'tok-5f2a9c1e77';
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A target that replays `chunks` as the job's output, then returns `result` (or throws `fail`). */
function fakeTarget(chunks: Array<[string, 'stdout' | 'stderr']>, result: Partial<TargetResult> = {}, fail?: Error): Target {
  const scratch = tmpDir('gitml-fake-target-');
  dirs.push(scratch);
  return {
    type: 'local',
    layout: () => ({ root: path.join(scratch, 'code'), outputs: path.join(scratch, 'outputs'), metrics: path.join(scratch, 'metrics.jsonl') }),
    async run(job: TargetJob): Promise<TargetResult> {
      for (const [c, s] of chunks) job.onLog(c, s);
      if (fail) throw fail;
      return { status: 'completed', exitCode: 0, outputsDir: path.join(scratch, 'outputs'), host: 'fake', ...result };
    },
  };
}

/** Every text gitml kept about run `id`: its files on the runs branch and the live files. */
function everything(dir: string, id: string): string {
  const live = path.join(dir, '.git', 'gitml', 'live');
  const liveText = readdirSync(live)
    .filter((f) => f.startsWith(id))
    .map((f) => readFileSync(path.join(live, f), 'utf8'))
    .join('\n');
  return runFiles(dir, id).map((f) => runFile(dir, id, f) ?? '').join('\n') + '\n' + liveText;
}

function ws(): string {
  const dir = workspace({ 'gitml/environments/env.yaml': 'kind: Environment\npython: python3\nsecrets: [MY_KEY, MY_TOKEN]\n' });
  dirs.push(dir);
  return dir;
}

const secretLines = PEM.split('\n').filter((l) => !l.startsWith('-----'));

describe('secrets never reach history, logs or messages', () => {
  it('a multi-line secret cut at its own line ends (output arriving line by line) is masked whole', async () => {
    const dir = ws();
    const [l1, l2, l3, l4] = PEM.split('\n');
    let shown = '';
    const r = await runExperiment({
      dir,
      experiment: 'contract',
      env: { ...process.env, MY_KEY: PEM, MY_TOKEN: TOKEN },
      target: fakeTarget([
        [`key: ${l1}\n`, 'stdout'],
        [`${l2}\n`, 'stdout'],
        [`${l3}\n${l4}\nnext line\n`, 'stdout'],
        [`err: ${l1}\n${l2}\n`, 'stderr'],
        [`${l3}\n${l4}\n`, 'stderr'],
      ]),
      onLog: (c) => (shown += c),
    });
    expect(r.record.status).toBe('completed');
    const all = everything(dir, r.runId);
    for (const l of secretLines) {
      expect(shown).not.toContain(l);
      expect(all).not.toContain(l);
    }
    expect(runFile(dir, r.runId, 'logs.txt')).toContain('key: ***\nnext line\n');
    expect(runFile(dir, r.runId, 'logs.txt')).toContain('err: ***\n');
  });

  it('a token cut anywhere, also in a line longer than the hold-back limit, is masked', async () => {
    const dir = ws();
    const long = 'x'.repeat(70_000);
    const text = `a ${TOKEN} b ${long}${TOKEN}${long} ${TOKEN}\n`;
    const chunks: Array<[string, 'stdout']> = [];
    for (let i = 0; i < text.length; i += 4093) chunks.push([text.slice(i, i + 4093), 'stdout']);
    // and one cut inside the token itself, a character at a time
    for (const ch of `z${TOKEN}z\n`) chunks.push([ch, 'stdout']);
    let shown = '';
    const r = await runExperiment({ dir, experiment: 'contract', env: { ...process.env, MY_KEY: PEM, MY_TOKEN: TOKEN }, target: fakeTarget(chunks), onLog: (c) => (shown += c) });
    expect(shown).not.toContain(TOKEN);
    expect(everything(dir, r.runId)).not.toContain(TOKEN);
    expect(shown).toContain('z***z\n');
    expect(shown.length).toBeGreaterThan(140_000); // nothing was dropped
  });

  it('an error that quotes a secret (a target failure, a failed result) is masked in run.json, the live status and the thrown error', async () => {
    const dir = ws();
    const err = await runExperiment({
      dir,
      experiment: 'contract',
      env: { ...process.env, MY_KEY: PEM, MY_TOKEN: TOKEN },
      target: fakeTarget([], {}, new Error(`engine refused the container: invalid env MY_TOKEN=${TOKEN}`)),
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { data: { runId: string } },
    );
    expect(err).toBeDefined();
    expect(err!.message).not.toContain(TOKEN);
    expect(everything(dir, err!.data.runId)).not.toContain(TOKEN);
    expect(JSON.parse(runFile(dir, err!.data.runId, 'run.json')!).error).toMatch(/MY_TOKEN=\*\*\*/);

    const r = await runExperiment({
      dir,
      experiment: 'contract',
      env: { ...process.env, MY_KEY: PEM, MY_TOKEN: TOKEN },
      target: fakeTarget([], { status: 'failed', exitCode: 1, error: `the command failed: ${PEM}` }),
    });
    expect(r.record.status).toBe('failed');
    expect(r.record.error).not.toContain(secretLines[0]);
    expect(everything(dir, r.runId)).not.toContain(secretLines[0]);
  });

  it('a real process on the local target: a secret printed a line at a time never reaches the branch', async () => {
    const dir = workspace({
      'gitml/environments/env.yaml': 'kind: Environment\npython: python3\nsecrets: [MY_KEY]\n',
      'gitml/experiments/leak.yaml': 'kind: Experiment\ncode: src\ncommand: [python3, leak.py]\nenvironment: env\n',
      'src/leak.py': 'import os, sys, time\nfor line in os.environ["MY_KEY"].split("\\n"):\n    sys.stdout.write(line + "\\n"); sys.stdout.flush(); time.sleep(0.05)\nprint("done")\n',
    });
    dirs.push(dir);
    git(dir, 'add', '-A');
    let shown = '';
    const r = await runExperiment({ dir, experiment: 'leak', env: { ...process.env, MY_KEY: PEM }, onLog: (c) => (shown += c) });
    expect(r.record.status).toBe('completed');
    for (const l of secretLines) {
      expect(shown).not.toContain(l);
      expect(everything(dir, r.runId)).not.toContain(l);
    }
    expect(runFile(dir, r.runId, 'logs.txt')).toBe('***\ndone\n');
  });
});
