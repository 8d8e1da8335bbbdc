/**
 * `gitml ui` benchmark: `npx tsx bench/ui.ts [--runs 100000] [--small 10000] [--keys 200] [--keep]`.
 *
 * Runs on the repositories bench/runs.ts builds through recordRun (bench/out/runs-N: 10 params,
 * 10 metrics with a series, logs; five experiments; build them with `npx tsx bench/runs.ts
 * --build-only --runs N --small M`), copied, with `gitml/experiments/train.yaml` declaring a
 * primary metric in the copy's working tree. `--fast-import` generates them instead (git
 * fast-import: no recordRun, a packed repository real use never produces). It warms the runs
 * index once with `gitml runs`, then measures, each against a baseline taken in the same run:
 *   - first screen: the real `gitml ui` in tmux (80x24), from spawn until the table's rows are
 *     on the screen in its default order (best primary metric first), against `gitml runs
 *     --limit 50` from spawn to exit (median of 3 each);
 *   - key press to redraw while scrolling (j) and filtering (typing a --where condition), in
 *     process through ink-testing-library, p50/p99 at N runs against the same at --small runs;
 *   - peak memory (VmHWM) of the `gitml ui` process after the keys, against the peak of
 *     `gitml runs --limit 50` (GNU time).
 * Machines are shared: read the ratios, not the milliseconds.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRunId } from '../core/runs/id.js';
import { runFolder } from '../core/runs/layout.js';
import { closeRunStore } from '../core/runs/store.js';
import type { RunRecord } from '../core/runs/types.js';

process.env.GITML_AUTO_GC = '0';
process.env.NODE_ENV ??= 'production';
const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '..', 'bin', 'gitml.js');
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('runs', '100000'));
const SMALL = Number(arg('small', '10000'));
const FAST_IMPORT = process.argv.includes('--fast-import');

/** A copy of bench/out/runs-N (recorded through recordRun by bench/runs.ts) with a primary metric declared. */
function recorded(n: number): string {
  const src = path.join(here, 'out', `runs-${n}`);
  if (!existsSync(path.join(src, '.git', 'gitml-bench-built'))) {
    throw new Error(`${src} is not built: run \`npx tsx bench/runs.ts --build-only --runs ${n}\` first (or pass --fast-import)`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), `gitml-bench-ui-${n}-`));
  cpSync(src, dir, { recursive: true });
  mkdirSync(path.join(dir, 'gitml', 'experiments'), { recursive: true });
  writeFileSync(path.join(dir, 'gitml.yaml'), 'kind: Workspace\nname: bench\n');
  writeFileSync(path.join(dir, 'gitml', 'experiments', 'train.yaml'), 'kind: Experiment\ncommand: [python3, train.py]\nmetrics:\n  primary: accuracy\n  goal: maximize\n');
  return dir;
}
const KEYS = Number(arg('keys', '200'));
const KEEP = process.argv.includes('--keep');
const EXPERIMENTS = ['train', 'tune', 'evaluate', 'baseline', 'ablation'];
const METRICS = ['accuracy', 'loss', 'f1', 'precision', 'recall', 'auc'];
const PARAMS = ['C', 'gamma', 'kernel', 'max_depth', 'seed'];

async function generate(n: number): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), `gitml-bench-ui-${n}-`));
  spawnSync('git', ['init', '-q', '-b', 'main', dir]);
  const files = {
    'gitml.yaml': 'kind: Workspace\nname: bench\n',
    'gitml/experiments/train.yaml': 'kind: Experiment\ncommand: [python3, train.py]\nmetrics:\n  primary: accuracy\n  goal: maximize\n',
  };
  for (const [f, c] of Object.entries(files)) {
    execFileSync('mkdir', ['-p', path.dirname(path.join(dir, f))]);
    execFileSync('sh', ['-c', 'cat > "$1"', 'sh', path.join(dir, f)], { input: c });
  }
  const env = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@e', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@e' };
  execFileSync('git', ['add', '-A'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'bench'], { cwd: dir, env });
  const fi = spawn('git', ['fast-import', '--quiet'], { cwd: dir, stdio: ['pipe', 'inherit', 'inherit'] });
  const done = new Promise<void>((res, rej) => fi.on('exit', (c) => (c === 0 ? res() : rej(new Error(`fast-import exit ${c}`)))));
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  let t = Date.now() - 60 * 24 * 3600 * 1000;
  for (let b = 0; b < n; b += 1000) {
    const out: string[] = [];
    const ids: string[] = [];
    for (let i = b; i < Math.min(n, b + 1000); i++) {
      t += 37;
      const id = newRunId(() => t);
      ids.push(id);
      const exp = EXPERIMENTS[i % EXPERIMENTS.length];
      const params: Record<string, string | number> = {};
      PARAMS.forEach((p, k) => (params[p] = k === 2 ? ['rbf', 'linear', 'poly'][i % 3] : ((i * (k + 7)) % 1000) / 10));
      const metrics: Record<string, number> = {};
      METRICS.forEach((m, k) => (metrics[m] = ((i * 7919 + k * 104729) % 10000) / 10000));
      const rec: RunRecord = {
        schema: 1, id, experiment: exp, status: i % 17 === 0 ? 'failed' : 'completed', params, metrics,
        source: { commit: 'a'.repeat(40), tree: 'b'.repeat(40), branch: 'main' }, inputs: {}, compute: { name: 'local', type: 'local' },
        host: 'bench', startedAt: new Date(t).toISOString(), endedAt: new Date(t + 60_000).toISOString(), durationMs: 60_000, exitCode: 0, artifacts: [],
      };
      const folder = runFolder(exp, id);
      out.push(`M 100644 inline ${folder}/run.json\n${data(JSON.stringify(rec, null, 2) + '\n')}`);
      out.push(`M 100644 inline ${folder}/metrics.tsv\n${data(`name\tstep\ttimestamp\tvalue\n${METRICS.map((m) => `${m}\t0\t${t}\t${metrics[m] / 2}\n${m}\t1\t${t + 1}\t${metrics[m]}\n`).join('')}`)}`);
      out.push(`M 100644 inline ${folder}/logs.txt\n${data(`run ${id}\nepoch 1\n`)}`);
    }
    const msg = `record ${ids.length} runs\n\n${ids.map((id) => `Gitml-Run: ${id}`).join('\n')}\n`;
    const s = `commit refs/heads/runs\ncommitter gitml <gitml@localhost> ${Math.floor(Date.now() / 1000)} +0000\n${data(msg)}${out.join('')}\n`;
    if (!fi.stdin.write(s)) await new Promise((r) => fi.stdin.once('drain', r));
  }
  fi.stdin.end();
  await done;
  return dir;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function timeCli(dir: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'runs', '--limit', '50'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`gitml runs failed: ${r.stderr}`);
  return performance.now() - t0;
}

function peakCliKiB(dir: string): number {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, BIN, 'runs', '--limit', '50'], { cwd: dir, encoding: 'utf8' });
  return Number(r.stderr.trim().split('\n').pop());
}

/** The real program in tmux: ms from spawn until the table is drawn, and its peak memory after `keys` key presses. */
async function timeUi(dir: string, keys = 0): Promise<{ ms: number; peakKiB: number }> {
  const session = `gitml-bench-ui-${process.pid}`;
  const tmux = (...a: string[]) => execFileSync('tmux', a, { encoding: 'utf8' });
  const t0 = performance.now();
  tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `cd '${dir}' && NO_COLOR=1 exec '${process.execPath}' '${BIN}' ui --poll 0`);
  try {
    const pid = tmux('display', '-p', '-t', session, '#{pane_pid}').trim();
    for (;;) {
      const s = tmux('capture-pane', '-p', '-t', session);
      // The table in its default order (best primary metric first), not an earlier frame in another order.
      if (/^› \S+/m.test(s) && / runs · sort metrics\.accuracy desc/.test(s)) break;
      if (performance.now() - t0 > 120_000) throw new Error(`gitml ui did not draw:\n${s}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - t0;
    for (let i = 0; i < keys; i++) {
      tmux('send-keys', '-t', session, i % 50 < 40 ? 'j' : 'k');
    }
    await new Promise((r) => setTimeout(r, 1000));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return { ms, peakKiB };
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session]);
  }
}

/** Key press to the next frame, in process (ink-testing-library), scrolling then typing a filter. */
async function keyLatency(dir: string): Promise<{ scroll: number[]; filter: number[] }> {
  // React after NODE_ENV is set: react and ink's reconciler must both be the production build.
  const React = (await import('react')).default;
  const { render } = await import('ink-testing-library');
  const { App } = await import('../cli/ui/app.js');
  const { loadRuns } = await import('../cli/ui/model/runs.js');
  const initialRuns = await loadRuns({ dir });
  const r = render(React.createElement(App, { dir, pollMs: 0, env: { NO_COLOR: '1' }, initialRuns }));
  const frame = () => r.frames.length;
  const next = async (before: number, what: string) => {
    const t0 = performance.now();
    while (frame() === before) {
      await new Promise((res) => setImmediate(res));
      if (performance.now() - t0 > 60_000) throw new Error(`no redraw after ${what}:\n${r.lastFrame()}`);
    }
    return performance.now() - t0;
  };
  await new Promise((res) => setTimeout(res, 500));
  const scroll: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const before = frame();
    const t0 = performance.now();
    r.stdin.write(i % 50 < 40 ? 'j' : 'k');
    await next(before, `scroll key ${i}`);
    scroll.push(performance.now() - t0);
  }
  const filter: number[] = [];
  const typed = '/metrics.accuracy>0.5 params.kernel=rbf';
  for (const ch of typed) {
    const before = frame();
    const t0 = performance.now();
    r.stdin.write(ch);
    await next(before, `filter key ${JSON.stringify(ch)}`);
    filter.push(performance.now() - t0);
  }
  r.unmount();
  return { scroll, filter };
}

async function main(): Promise<void> {
  console.log(`gitml ui benchmark: ${N} runs (load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
  const t0 = performance.now();
  const big = FAST_IMPORT ? await generate(N) : recorded(N);
  const small = FAST_IMPORT ? await generate(SMALL) : recorded(SMALL);
  console.log(`  ${FAST_IMPORT ? 'generated (git fast-import)' : 'copied from bench/out (recorded through recordRun)'} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${big}`);
  timeCli(big); // builds the index: the figures below are with a warm index
  timeCli(small);
  const cli = [timeCli(big), timeCli(big), timeCli(big)];
  const ui: Array<{ ms: number; peakKiB: number }> = [];
  for (let i = 0; i < 3; i++) ui.push(await timeUi(big, i === 2 ? KEYS : 0));
  const cliMs = median(cli);
  const uiMs = median(ui.map((u) => u.ms));
  console.log(`first screen, warm index: gitml ui ${uiMs.toFixed(0)} ms vs gitml runs --limit 50 ${cliMs.toFixed(0)} ms = ${(uiMs / cliMs).toFixed(2)}x`);
  const peakUi = ui[2].peakKiB / 1024;
  const peakCli = peakCliKiB(big) / 1024;
  console.log(`peak memory (VmHWM after ${KEYS} keys): gitml ui ${peakUi.toFixed(0)} MiB vs gitml runs --limit 50 ${peakCli.toFixed(0)} MiB = ${(peakUi / peakCli).toFixed(2)}x`);
  const kb = await keyLatency(big);
  const ks = await keyLatency(small);
  closeRunStore();
  const line = (what: string, a: number[], b: number[]) =>
    console.log(`${what}: p50 ${pct(a, 50).toFixed(1)} ms, p99 ${pct(a, 99).toFixed(1)} ms at ${N} runs vs p50 ${pct(b, 50).toFixed(1)} ms, p99 ${pct(b, 99).toFixed(1)} ms at ${SMALL} runs = ${(pct(a, 99) / pct(b, 99)).toFixed(2)}x at p99`);
  line(`key to redraw, scrolling (${KEYS} keys)`, kb.scroll, ks.scroll);
  line('key to redraw, typing a filter (one key a character)', kb.filter, ks.filter);
  if (!KEEP) {
    rmSync(big, { recursive: true, force: true });
    rmSync(small, { recursive: true, force: true });
  }
}

await main();
