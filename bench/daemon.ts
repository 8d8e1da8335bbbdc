/**
 * Daemon overheads: `npx tsx bench/daemon.ts [--runs 5] [--entries 300] [--loop 1000] [--idle 60] [--parts inproc,live,idle,queue,services] [--services 10]`
 * (needs `npm run build`: the live parts run the CLI as a user does).
 *
 *   commit → claimed    after a local commit touching src/ of the python template, one scan
 *                       (refs, affected experiments, enqueue) and the claim of the new entry,
 *                       in process; against `git for-each-ref refs/heads/` alone.
 *   claim+finish        claiming and finishing --entries queued entries one by one, against
 *                       writing the same number of entry files atomically with nothing else.
 *   commit → started    a running `gitml daemon` (interval 1 h: only the refs watch can wake
 *                       it): from `git commit` returning to the daemon's `run-started` line;
 *                       against one `git fetch` of an up-to-date local remote.
 *   webhook → started   a running `gitml daemon --remote origin --webhook`: a commit pushed to
 *                       the remote, then a signed GitHub push delivery; from the POST to
 *                       `run-started`; against the same `git fetch` alone.
 *   queue vs loop       --loop entries of a trivial experiment (`true` on local, concurrency 2)
 *                       queued with `gitml queue add --sweep` and run by `gitml daemon --once
 *                       --workers 2`, against the same number of `gitml run` in a loop.
 *   idle                a daemon with nothing to do for --idle seconds: CPU (utime+stime over
 *                       wall time, with its waited-for children's) and resident memory of its
 *                       process, from /proc.
 *   services            (not in the default parts; needs the Docker engine) --services sklearn
 *                       services deployed on the local engine, then a daemon with its default
 *                       interval and reconcile (30 s: every service reconciled every pass) idle
 *                       for --idle seconds: the same CPU and memory figures.
 * Prints medians / totals and the ratios.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanAndEnqueue } from '../core/daemon/daemon.js';
import { daemonDir, readState } from '../core/daemon/state.js';
import { initRepo } from '../core/init.js';
import { claimNext } from '../core/queue/claim.js';
import { enqueue } from '../core/queue/enqueue.js';
import { queuePaths, writeFileAtomic } from '../core/queue/store.js';

const arg = (n: string, d: number) => Number(process.argv[process.argv.indexOf(n) + 1] || 0) || d;
const RUNS = arg('--runs', 5);
const ENTRIES = arg('--entries', 300);
const LOOP = arg('--loop', 1000);
const IDLE_S = arg('--idle', 60);
const SERVICES = arg('--services', 10);
/** Which parts to run: `--parts inproc,live,idle,queue` (default all). */
const PARTS = new Set((process.argv.includes('--parts') ? process.argv[process.argv.indexOf('--parts') + 1] : 'inproc,live,idle,queue').split(','));
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../bin/gitml.js');
const ENV = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x', NO_COLOR: '1' };
const SECRET = 'bench secret';
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const now = () => Number(process.hrtime.bigint()) / 1e6;
const git = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, env: ENV, encoding: 'utf8' }).trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Ev = { event: string; [k: string]: unknown };
/** A `gitml daemon --json` in the background; `next(pred)` resolves at the first matching line read after the call. */
function daemon(dir: string, args: string[]) {
  const child = spawn(process.execPath, [BIN, 'daemon', '--json', ...args], { cwd: dir, env: { ...ENV, GITML_WEBHOOK_SECRET: SECRET } });
  const waiters: Array<{ pred: (e: Ev) => boolean; resolve: (e: Ev) => void }> = [];
  let buf = '';
  child.stdout.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const e = JSON.parse(buf.slice(0, nl)) as Ev;
      buf = buf.slice(nl + 1);
      for (const w of [...waiters]) if (w.pred(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
    }
  });
  const exited = new Promise((r) => child.on('close', r));
  return {
    pid: child.pid!,
    next: (pred: (e: Ev) => boolean) => new Promise<Ev>((resolve) => waiters.push({ pred, resolve })),
    stop: async () => (child.kill('SIGTERM'), await exited),
  };
}

function postGithub(port: number, body: string, delivery: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sig = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': sig } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
    req.on('error', reject);
    req.end(body);
  });
}

/** CPU seconds (user + system) and resident memory (bytes) of a process. */
function procUsage(pid: number): { cpuS: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime (fields 14, 15) and cutime, cstime (16, 17: the children it waited for, git)
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  return { cpuS: ticks / 100, rss };
}

async function inProcess(dir: string): Promise<void> {
  const ddir = await daemonDir(dir);
  const o = { dir, log: () => {} };
  await scanAndEnqueue(o, ddir, readState(ddir)); // first pass: records main
  const base: number[] = [];
  const daemonT: number[] = [];
  for (let i = 0; i < RUNS * 2; i++) {
    let t = now();
    execFileSync('git', ['for-each-ref', 'refs/heads/'], { cwd: dir });
    base.push(now() - t);
    appendFileSync(path.join(dir, 'src/train.py'), `\n# ${i}\n`);
    git(dir, 'commit', '-qam', `c${i}`);
    t = now();
    await scanAndEnqueue(o, ddir, readState(ddir));
    const c = await claimNext({ dir });
    daemonT.push(now() - t);
    if (!c) throw new Error('nothing claimed');
    await c.finish({ state: 'completed' });
  }
  const mb = median(base);
  const md = median(daemonT);
  console.log(`commit → claimed (in process): median ${md.toFixed(1)} ms; git for-each-ref alone ${mb.toFixed(1)} ms; ratio ${(md / mb).toFixed(1)}x (${RUNS * 2} commits)`);

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
}

async function live(parent: string, dir: string): Promise<void> {
  const bare = path.join(parent, 'remote.git');
  git(parent, 'init', '-q', '--bare', '-b', 'main', bare);
  git(dir, 'remote', 'add', 'origin', bare);
  git(dir, 'push', '-q', 'origin', 'main');
  const fetchT: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = now();
    git(dir, 'fetch', '-q', 'origin');
    fetchT.push(now() - t);
  }
  const mf = median(fetchT);

  // Commit → run started, woken by the refs watch.
  const d = daemon(dir, ['--interval', '1h', '--reconcile', '0']);
  await d.next((e) => e.event === 'ready');
  const local: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    appendFileSync(path.join(dir, 'src/train.py'), `\n# live ${i}\n`);
    const started = d.next((e) => e.event === 'run-started');
    const finished = d.next((e) => e.event === 'run-finished');
    git(dir, 'commit', '-qam', `live ${i}`);
    const t = now();
    await started;
    local.push(now() - t);
    await finished;
  }
  await d.stop();
  const ml = median(local);
  console.log(`commit → run started (daemon, refs watch): median ${ml.toFixed(0)} ms; git fetch alone ${mf.toFixed(0)} ms; ratio ${(ml / mf).toFixed(1)}x (${RUNS} commits; target < 500 ms)`);

  // Webhook → run started, in a clone following the remote.
  const ci = path.join(parent, 'ci');
  git(parent, 'clone', '-q', bare, ci);
  const w = daemon(ci, ['--remote', 'origin', '--interval', '1h', '--reconcile', '0', '--webhook', '127.0.0.1:0']);
  const port = Number(String((await w.next((e) => e.event === 'start')).webhook).split(':').pop());
  await w.next((e) => e.event === 'ready');
  const hook: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    appendFileSync(path.join(dir, 'src/train.py'), `\n# hook ${i}\n`);
    git(dir, 'commit', '-qam', `hook ${i}`);
    git(dir, 'push', '-q', 'origin', 'main');
    const started = w.next((e) => e.event === 'run-started');
    const finished = w.next((e) => e.event === 'run-finished');
    const t = now();
    if ((await postGithub(port, JSON.stringify({ ref: 'refs/heads/main' }), `bench-${i}`)) !== 202) throw new Error('webhook refused');
    await started;
    hook.push(now() - t);
    await finished;
  }
  const mh = median(hook);
  console.log(`webhook → run started (fetch, runs pull, scan, claim): median ${mh.toFixed(0)} ms; git fetch alone ${mf.toFixed(0)} ms; ratio ${(mh / mf).toFixed(1)}x (${RUNS} deliveries; target < 1 s)`);

  // Idle: the same daemon, nothing to do.
  if (!PARTS.has('idle')) return void (await w.stop());
  await sleep(2000);
  const u = await idleUsage(w.pid, IDLE_S);
  console.log(`idle ${u.wall.toFixed(0)} s (refs watch, remote, webhook; no services): CPU ${u.cpuPct.toFixed(2)} %; RSS peak ${u.peakMiB.toFixed(0)} MiB (targets < 1 %, < 100 MB)`);
  await w.stop();
}

/** CPU share and peak RSS of `pid` over `seconds` (sampled each second). */
async function idleUsage(pid: number, seconds: number): Promise<{ cpuPct: number; peakMiB: number; wall: number }> {
  const a = procUsage(pid);
  const t0 = now();
  let peak = a.rss;
  while (now() - t0 < seconds * 1000) {
    await sleep(1000);
    peak = Math.max(peak, procUsage(pid).rss);
  }
  const b = procUsage(pid);
  const wall = (now() - t0) / 1000;
  return { cpuPct: ((b.cpuS - a.cpuS) / wall) * 100, peakMiB: peak / 2 ** 20, wall };
}

async function idleWithServices(parent: string): Promise<void> {
  const { serviceRepo, SERVICE_ENV, removeProject } = await import('../test/support/services.js');
  Object.assign(process.env, SERVICE_ENV);
  const base = 18900;
  const { dir } = serviceRepo({ port: base, dir: path.join(parent, 'svc') });
  const yaml = readFileSync(path.join(dir, 'gitml/services/iris.yaml'), 'utf8');
  for (let i = 1; i < SERVICES; i++) writeFileSync(path.join(dir, `gitml/services/iris${i}.yaml`), yaml.replace(/^port: .*$/m, `port: ${base + i}`));
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', `${SERVICES} services`);
  try {
    execFileSync(process.execPath, [BIN, 'deploy'], { cwd: dir, env: { ...ENV, ...SERVICE_ENV }, stdio: ['ignore', 'ignore', 'inherit'] });
    const d = daemon(dir, []);
    await d.next((e) => e.event === 'ready');
    await sleep(2000);
    const u = await idleUsage(d.pid, IDLE_S);
    await d.stop();
    console.log(`idle ${u.wall.toFixed(0)} s with ${SERVICES} services on Docker (interval and reconcile 30 s): CPU ${u.cpuPct.toFixed(2)} %; RSS peak ${u.peakMiB.toFixed(0)} MiB (targets < 1 %, < 100 MB)`);
  } finally {
    await removeProject(path.basename(dir));
  }
}

async function queueVsLoop(parent: string): Promise<void> {
  const dir = path.join(parent, 'trivial');
  await initRepo({ dir, template: 'python' });
  writeFileSync(path.join(dir, 'gitml/experiments/noop.yaml'), 'kind: Experiment\ncommand: ["true"]\nparams:\n  i: { type: integer, default: 0 }\ncompute: local\n');
  appendFileSync(path.join(dir, 'gitml/compute/local.yaml'), 'concurrency: 2\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'a trivial experiment');
  const half = Math.max(1, Math.floor(LOOP / 2));
  // The loop first (half the entries: it is the slow side), so the daemon's figure is not warmed by it.
  let t = now();
  for (let i = 0; i < half; i++) execFileSync(process.execPath, [BIN, 'run', 'noop', '--param', `i=${-1 - i}`], { cwd: dir, env: ENV, stdio: 'ignore' });
  const loopS = (now() - t) / 1000;
  const values = Array.from({ length: LOOP }, (_, i) => i + 1).join(',');
  execFileSync(process.execPath, [BIN, 'queue', 'add', 'noop', '--sweep', `i=${values}`], { cwd: dir, env: ENV, stdio: 'ignore' });
  t = now();
  execFileSync(process.execPath, [BIN, 'daemon', '--once', '--workers', '2', '--reconcile', '0'], { cwd: dir, env: ENV, stdio: 'ignore', maxBuffer: 1 << 30 });
  const daemonS = (now() - t) / 1000;
  const q = JSON.parse(execFileSync(process.execPath, [BIN, 'queue', 'list', '--json'], { cwd: dir, env: ENV, encoding: 'utf8', maxBuffer: 1 << 30 })) as Array<{ state: string }>;
  const done = q.filter((e) => e.state === 'completed').length;
  const rDaemon = done / daemonS;
  const rLoop = half / loopS;
  console.log(`${LOOP} queued trivial entries, 2 workers: ${daemonS.toFixed(1)} s (${rDaemon.toFixed(2)} runs/s, ${done} completed); gitml run loop: ${half} runs in ${loopS.toFixed(1)} s (${rLoop.toFixed(2)} runs/s); ratio ${(rDaemon / rLoop).toFixed(2)}x`);
}

async function main(): Promise<void> {
  const parent = mkdtempSync(path.join(tmpdir(), 'gitml-bench-daemon-'));
  try {
    const dir = path.join(parent, 'demo');
    Object.assign(process.env, ENV);
    await initRepo({ dir, template: 'python' });
    if (PARTS.has('inproc')) await inProcess(dir);
    if (PARTS.has('live') || PARTS.has('idle')) await live(parent, dir);
    if (PARTS.has('queue')) await queueVsLoop(parent);
    if (PARTS.has('services')) await idleWithServices(parent);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}

await main();
