/**
 * Daemon overheads: `npx tsx bench/daemon.ts [--runs 10] [--entries 300]`.
 *
 *   commit → claimed   after a local commit touching src/ of the python template, one scan
 *                      (refs, affected experiments, enqueue with the commit's entities) and
 *                      the claim of the new entry, i.e. everything before the run engine
 *                      starts; against `git for-each-ref refs/heads/` alone (one git spawn),
 *                      measured in the same run.
 *   claim+finish       claiming and finishing --entries queued entries one by one (the queue
 *                      lock, settle, O_EXCL claim, two atomic entry writes each), against
 *                      writing the same number of entry files atomically with nothing else.
 * Prints medians / totals and the ratios.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { scanAndEnqueue } from '../core/daemon/daemon.js';
import { daemonDir, readState } from '../core/daemon/state.js';
import { initRepo } from '../core/init.js';
import { claimNext } from '../core/queue/claim.js';
import { enqueue } from '../core/queue/enqueue.js';
import { queuePaths, writeFileAtomic } from '../core/queue/store.js';

const arg = (n: string, d: number) => Number(process.argv[process.argv.indexOf(n) + 1] || 0) || d;
const RUNS = arg('--runs', 10);
const ENTRIES = arg('--entries', 300);
const ENV = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const parent = mkdtempSync(path.join(tmpdir(), 'gitml-bench-daemon-'));
  const dir = path.join(parent, 'demo');
  Object.assign(process.env, ENV);
  await initRepo({ dir, template: 'python' });
  const ddir = await daemonDir(dir);
  const o = { dir, log: () => {} };
  await scanAndEnqueue(o, ddir, readState(ddir)); // first pass: records main

  const base: number[] = [];
  const daemon: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = now();
    execFileSync('git', ['for-each-ref', 'refs/heads/'], { cwd: dir });
    base.push(now() - t);
    appendFileSync(path.join(dir, 'src/train.py'), `\n# ${i}\n`);
    execFileSync('git', ['commit', '-qam', `c${i}`], { cwd: dir, env: ENV });
    t = now();
    await scanAndEnqueue(o, ddir, readState(ddir));
    const c = await claimNext({ dir });
    daemon.push(now() - t);
    if (!c) throw new Error('nothing claimed');
    await c.finish({ state: 'completed' });
  }
  const mb = median(base);
  const md = median(daemon);
  console.log(`commit → claimed: median ${md.toFixed(1)} ms; git for-each-ref alone ${mb.toFixed(1)} ms; ratio ${(md / mb).toFixed(1)}x (${RUNS} commits)`);

  for (let i = 0; i < ENTRIES; i++) await enqueue({ dir, experiment: 'train', commit: 'f'.repeat(40), params: { i }, compute: 'local', concurrency: 1, trigger: { kind: 'bench' } });
  let t = now();
  for (;;) {
    const c = await claimNext({ dir });
    if (!c) break;
    await c.finish({ state: 'completed' });
  }
  const claims = now() - t;
  const p = await queuePaths(dir);
  t = now();
  for (let i = 0; i < ENTRIES * 2; i++) writeFileAtomic(path.join(p.root, 'bench.json'), JSON.stringify({ i, pad: 'x'.repeat(400) }));
  const writes = now() - t;
  console.log(`claim+finish of ${ENTRIES} entries: ${claims.toFixed(0)} ms (${((ENTRIES / claims) * 1000).toFixed(0)}/s); ${ENTRIES * 2} bare atomic writes ${writes.toFixed(0)} ms; ratio ${(claims / writes).toFixed(1)}x`);
  rmSync(parent, { recursive: true, force: true });
}

await main();
