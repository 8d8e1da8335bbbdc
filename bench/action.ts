/**
 * Benchmark of the GitHub Action's own overhead (issue 12): a pull request with one trivial
 * experiment, the bundled Action run as the runner runs it (bundle load, runs-branch fetch over
 * https, the run, base lookup, report, the comment and check against the local REST API
 * stand-in) against `gitml run` of the same experiment at the same commit in an equal clone.
 * Interleaved, median of N each; the figure is the difference (goal: under 2 s) and the ratio.
 *
 * Run: npx tsx bench/action.ts [N]   (needs `npm run build` for the CLI and the committed bundle)
 */
import { spawnSync } from 'node:child_process';
import { BIN, GIT_ENV } from '../test/support/repo.js';
import { git } from '../test/support/repo.js';
import { checkout, makeWorld, prEvent, pushCommit, pushEvent, runBundle } from '../test/action/harness.js';

const N = Number(process.argv[2] ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const TRIVIAL = (v: number) => `kind: Experiment\ncommand: [python3, -c, "print('::gitml metric name=acc value=${v}')"]\nmetrics: { primary: acc }\ntriggers: {}\n`;
const w = await makeWorld({
  'gitml.yaml': 'kind: Workspace\nname: bench\ndefaults:\n  compute: local\n',
  'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
  'gitml/experiments/trivial.yaml': TRIVIAL(0.5),
});
try {
  const base = git(w.seed, 'rev-parse', 'HEAD');
  // The base's run, recorded and pushed by the Action on push, as it would be on GitHub.
  const setup = await runBundle(w, { workspace: await checkout(w, base), eventName: 'push', event: pushEvent('refs/heads/main', '0'.repeat(40), base), ref: 'refs/heads/main', sha: base });
  if (setup.code !== 0) throw new Error(`setup push failed:\n${setup.stdout}`);
  const head = pushCommit(w, 'pr', { 'gitml/experiments/trivial.yaml': TRIVIAL(0.6) }, base);

  const action: number[] = [];
  const cli: number[] = [];
  // CPU time (user+sys, children included) stretches less than wall time on a loaded machine.
  const TIME = ['/usr/bin/time', '-f', 'cpu %U %S'];
  const cpuOf = (stderr: string) => {
    const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
    return m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN;
  };
  const cpuAction: number[] = [];
  const cpuCli: number[] = [];
  for (let i = 0; i < N; i++) {
    const wsCli = await checkout(w, head, 'cli');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(TIME[0], [...TIME.slice(1), process.execPath, BIN, 'run', 'trivial', '--rev', head], { cwd: wsCli, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' }, encoding: 'utf8' });
    cli.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`gitml run failed: ${r.stderr}`);
    cpuCli.push(cpuOf(r.stderr));

    const ws = await checkout(w, head);
    const a = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ action: 'synchronize', number: 1, headSha: head, headRef: 'pr', baseSha: base }), ref: 'refs/pull/1/merge', sha: head, wrap: TIME });
    if (a.code !== 0) throw new Error(`the Action failed:\n${a.stdout}`);
    action.push(a.ms);
    cpuAction.push(cpuOf(a.stderr));
  }
  const calls = w.gh.requests.length / N;
  const mA = median(action);
  const mC = median(cli);
  const { loadavg, cpus } = await import('node:os');
  console.log(`machine: ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} (wall times stretch with it)`);
  console.log(`pull request, one trivial experiment, median of ${N}:`);
  console.log(`  gitml run (CLI)                  ${mC.toFixed(0)} ms`);
  console.log(`  the Action (bundle, as a runner) ${mA.toFixed(0)} ms   (${calls.toFixed(0)} REST calls a run)`);
  console.log(`  added by the Action              ${(mA - mC).toFixed(0)} ms   (goal: under 2000 ms)   ratio ${(mA / mC).toFixed(2)}x`);
  const cA = median(cpuAction);
  const cC = median(cpuCli);
  console.log(`  CPU time (user+sys): gitml run ${cC.toFixed(0)} ms, the Action ${cA.toFixed(0)} ms, added ${(cA - cC).toFixed(0)} ms   ratio ${(cA / cC).toFixed(2)}x`);
} finally {
  await w.stop();
}
