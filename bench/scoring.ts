/**
 * Scoring throughput (issues 5, 16): `npx tsx bench/scoring.ts [--seconds 20] [--concurrency 8]
 * [--workers 1] [--rows 1] [--route score|invocations|infer] [--url http://host:port] [--no-mlflow]`.
 *
 * Baselines in the same run, besides the in-process call below: a bare Python http.server
 * answering a constant (the floor of a Python HTTP server here), and MLflow's own scoring
 * server (`mlflow models serve`, uvicorn) on the same estimator when MLflow is in the venv.
 *
 *   baseline  the limit: in the same Python, the server's own loader (Model.predict of
 *             templates/server/gitml_server.py) called in a loop on one record — per-call
 *             latency and calls/s, no HTTP, no JSON, no schema check; one call per request,
 *             where the server may score concurrent requests in one call (its Scorer: the
 *             bench prints how many requests a call served);
 * The measurements run interleaved in --rounds (default 4) so that noise from other work on
 * the machine falls on each alike; p50 is the median of the rounds' p50, p99 the worst round's.
 * A short concurrency-1 measurement per round gives the latency one request adds over the
 * in-process call (at concurrency 8 the p50 is mostly queueing: 8 in flight / throughput).
 *   local     the real server as a local process, iris LogisticRegression trained here with
 *             scikit-learn, scored over HTTP with Node's http client (keep-alive) at
 *             concurrency 8 for --seconds, one record per request: requests/s, p50, p99;
 *   url       with --url, the same load against a server that is already running (for
 *             example the container `gitml serve --docker` started).
 * Prints each figure and the ratio served/in-process.
 *
 * Start-up (--startup-rounds, default 3; 0 skips it), interleaved, medians:
 *   bare      a bare Python that unpickles the model file and exits (interpreter start,
 *             scikit-learn's imports, the unpickling): the floor of any server of this model;
 *   server    templates/server/gitml_server.py from spawn to its "ready" line (model loaded,
 *             input path chosen, listening);
 *   probe     what `gitml serve` did before: a Python that imports scikit-learn to check for
 *             it, then the server, which imports it again.
 *
 * `measureHttpScoring(baseUrl, options)` is exported for other benches (the container figure).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testPython } from '../test/support/python.js';
import { removeDir } from '../test/support/repo.js';
import { IRIS_COLUMNS, irisBundle, SERVER, startServer } from '../test/server/helpers.js';

export interface HttpScoringOptions {
  /** how long to keep the load on (default 20 s) */
  seconds?: number;
  /** requests in flight at once, one keep-alive connection each (default 8) */
  concurrency?: number;
  /** which protocol to drive (default `score`) */
  route?: 'score' | 'invocations' | 'infer';
  /** model name for the v2 route (default iris) */
  model?: string;
  /** one iris record in column order (default a setosa row) */
  row?: number[];
  /** seconds of warm-up load before measuring (default 1) */
  warmupSeconds?: number;
  /** records per request (default 1) */
  rows?: number;
}

export interface HttpScoringResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

function requestFor(route: NonNullable<HttpScoringOptions['route']>, model: string, row: number[], rows = 1): { path: string; body: Buffer } {
  const records = Array.from({ length: rows }, () => Object.fromEntries(IRIS_COLUMNS.map((c, i) => [c, row[i]])));
  const body =
    route === 'score'
      ? { data: records }
      : route === 'invocations'
        ? { dataframe_records: records }
        : { inputs: [{ name: 'input-0', shape: [rows, row.length], datatype: 'FP64', data: Array.from({ length: rows }, () => row).flat() }] };
  const p = route === 'score' ? '/score' : route === 'invocations' ? '/invocations' : `/v2/models/${encodeURIComponent(model)}/infer`;
  return { path: p, body: Buffer.from(JSON.stringify(body)) };
}

function post(agent: http.Agent, url: URL, reqPath: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: reqPath, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Score the iris model at `baseUrl` over HTTP for a fixed time at a fixed concurrency with
 * keep-alive connections; latencies are per request, from send to the end of the answer.
 *
 * @example
 *   const r = await measureHttpScoring('http://127.0.0.1:8080', { seconds: 20 });
 *   console.log(r.rps, r.p50Ms, r.p99Ms);
 */
export async function measureHttpScoring(baseUrl: string, opts: HttpScoringOptions = {}): Promise<HttpScoringResult> {
  const { seconds = 20, concurrency = 8, route = 'score', model = 'iris', row = [5.1, 3.5, 1.4, 0.2], warmupSeconds = 1, rows = 1 } = opts;
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const { path: reqPath, body } = requestFor(route, model, row, rows);
  const run = async (durationMs: number, record: boolean) => {
    const latencies: number[] = [];
    let errors = 0;
    const end = performance.now() + durationMs;
    const loop = async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await post(agent, url, reqPath, body);
          if (status !== 200) errors++;
        } catch {
          errors++;
        }
        if (record) latencies.push(performance.now() - t0);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, loop));
    return { latencies, errors, elapsed: (performance.now() - t0) / 1000 };
  };
  try {
    if (warmupSeconds > 0) await run(warmupSeconds * 1000, false);
    const { latencies, errors, elapsed } = await run(seconds * 1000, true);
    latencies.sort((a, b) => a - b);
    return {
      requests: latencies.length,
      errors,
      seconds: elapsed,
      rps: latencies.length / elapsed,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      meanMs: latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1),
    };
  } finally {
    agent.destroy();
  }
}

// In the same Python: import the server module, load the bundle with its loader, then for
// each duration read on stdin call predict on one record in a loop (the limit HTTP serving can
// approach) and print one JSON line of figures.
const IN_PROCESS = `
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("gitml_server", sys.argv[1])
srv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(srv)
bundle = srv.load_bundle(sys.argv[2])
model = srv.Model(bundle)
model.load()
assert model.state == "ready", model.error
row = json.loads(sys.argv[3])
# As a request reaches the model: checked rows in schema order (what the server's fast path makes).
record = srv.Rows([c.name for c in bundle.inputs], [tuple(row)] * int(sys.argv[4]))
for _ in range(50):
    model.predict(record)
print(json.dumps({"ready": True, "kind": model.kind}), flush=True)
for line in sys.stdin:
    seconds = float(line)
    lat = []
    end = time.perf_counter() + seconds
    t_start = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        model.predict(record)
        lat.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"seconds": time.perf_counter() - t_start, "cpu": time.process_time() - cpu0, "lat": lat}), flush=True)
`;

export interface InProcessResult {
  calls: number;
  seconds: number;
  cps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

/** A Python process holding the loaded model, measuring in-process predict on request. */
export async function inProcessBaseline(bundleDir: string, row: number[] = [5.1, 3.5, 1.4, 0.2], rows = 1) {
  const proc = spawn(testPython(), ['-c', IN_PROCESS, SERVER, bundleDir, JSON.stringify(row), String(rows)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`in-process baseline stopped:\n${stderr}`);
    return JSON.parse(r.value);
  };
  const hello = (await next()) as { kind: string };
  return {
    kind: hello.kind,
    async measure(seconds: number): Promise<{ lat: number[]; seconds: number; cpu: number }> {
      proc.stdin.write(`${seconds}\n`);
      return (await next()) as { lat: number[]; seconds: number; cpu: number };
    },
    close(): void {
      proc.stdin.end();
    },
  };
}

// The floor of any Python HTTP server here: the standard library's ThreadingHTTPServer with
// keep-alive, reading the body and answering a constant, with no JSON parsing or model.
const CONSTANT_SERVER = `
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = b'{"result":[0]}'
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print("listening on http://127.0.0.1:%d" % s.server_address[1], file=sys.stderr, flush=True)
s.serve_forever()
`;

// MLflow's own scoring server (\`mlflow models serve\`, uvicorn) on the same pickled estimator,
// when MLflow is in the venv: the model is saved as an MLflow model, served with the local env.
const MLFLOW_SAVE = `
import pickle, sys
import mlflow.sklearn
mlflow.sklearn.save_model(pickle.load(open(sys.argv[1], "rb")), sys.argv[2], serialization_format="pickle")
`;

interface Proc {
  url: string;
  stop(): Promise<void>;
}

async function startListening(cmd: string, args: string[], pattern: RegExp, timeoutMs = 120_000): Promise<Proc> {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${path.dirname(testPython())}${path.delimiter}${process.env.PATH}`, MLFLOW_TRACKING_URI: `file://${path.join(os.tmpdir(), 'gitml-bench-mlruns')}` } });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${cmd} did not start:\n${log}`)), timeoutMs);
    const on = (d: Buffer) => {
      log += d.toString();
      const m = pattern.exec(log);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.on('exit', (c) => reject(new Error(`${cmd} exited ${c}:\n${log}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((r) => {
        if (p.exitCode !== null) return r();
        p.once('exit', () => r());
        p.kill('SIGTERM');
      }),
  };
}

async function startMlflow(bundleDir: string, work: string): Promise<Proc | undefined> {
  const py = testPython();
  const saved = spawn(py, ['-c', MLFLOW_SAVE, path.join(bundleDir, 'model/model.pkl'), path.join(work, 'mlflow-model')], { stdio: 'ignore' });
  if ((await new Promise((r) => saved.on('exit', r))) !== 0) return undefined;
  const port = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
  const mlflow = path.join(path.dirname(py), 'mlflow');
  const proc = await startListening(mlflow, ['models', 'serve', '-m', path.join(work, 'mlflow-model'), '--env-manager', 'local', '-h', '127.0.0.1', '-p', String(port), '-w', '1'], /Uvicorn running on (http:\/\/\S+)|Application startup complete()/);
  // wait until /ping answers
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ping`)).status === 200) return { ...proc, url: `http://127.0.0.1:${port}` };
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await proc.stop();
  return undefined;
}

/** Milliseconds from spawn until `pattern` shows in the process's output (or it exits 0). */
function timeUntil(cmd: string, args: string[], pattern?: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    let log = '';
    let done = false;
    const on = (d: Buffer) => {
      log += d.toString();
      if (pattern && !done && pattern.test(log)) {
        done = true;
        resolve(performance.now() - t0);
        p.kill('SIGTERM');
      }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.on('exit', (c) => {
      if (done) return;
      if (!pattern && c === 0) resolve(performance.now() - t0);
      else reject(new Error(`${cmd} exited ${c}:\n${log}`));
    });
  });
}

const BARE_LOAD = 'import pickle, sys\nwith open(sys.argv[1], "rb") as f:\n    pickle.load(f)\n';

/** Start-up figures (see the file's doc), in interleaved rounds; medians in ms. */
export async function measureStartup(bundleDir: string, rounds = 3): Promise<{ bare: number; server: number; probe: number }> {
  const py = testPython();
  const bare: number[] = [];
  const server: number[] = [];
  const probe: number[] = [];
  const serverArgs = [SERVER, '--model-dir', bundleDir, '--port', '0'];
  const ready = /model \S+ \S+ ready \(/;
  for (let r = 0; r < rounds; r++) {
    bare.push(await timeUntil(py, ['-c', BARE_LOAD, path.join(bundleDir, 'model/model.pkl')]));
    server.push(await timeUntil(py, serverArgs, ready));
    const t0 = performance.now();
    await timeUntil(py, ['-c', 'import sklearn']);
    const t1 = performance.now();
    probe.push(t1 - t0 + (await timeUntil(py, serverArgs, ready)));
  }
  return { bare: median(bare), server: median(server), probe: median(probe) };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function summarize(lat: number[], seconds: number): InProcessResult {
  const sorted = [...lat].sort((a, b) => a - b);
  return {
    calls: sorted.length,
    seconds,
    cps: sorted.length / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const f = (n: number, d = 2) => n.toFixed(d);

async function main(): Promise<void> {
  const seconds = Number(arg('seconds') ?? 20);
  const concurrency = Number(arg('concurrency') ?? 8);
  const workers = arg('workers') ?? '1';
  const rounds = Math.max(1, Number(arg('rounds') ?? 4));
  const rows = Math.max(1, Number(arg('rows') ?? 1));
  const route = (arg('route') ?? 'score') as HttpScoringOptions['route'];
  const external = arg('url');
  const startupRounds = Number(arg('startup-rounds') ?? 3);
  const { dir } = irisBundle();
  if (startupRounds > 0) {
    const st = await measureStartup(dir, startupRounds);
    console.log(`start-up (median of ${startupRounds} interleaved rounds): bare Python unpickling the model ${f(st.bare, 0)} ms; server to ready ${f(st.server, 0)} ms; import probe + server (before) ${f(st.probe, 0)} ms`);
    console.log(`ratio  server start-up / bare model load: ${f(st.server / st.bare, 2)}x (goal at most 1.2x); before (probe + server): ${f(st.probe / st.bare, 2)}x`);
  }
  const work = mkdtempSync(path.join(os.tmpdir(), 'gitml-bench-'));
  const baseline = await inProcessBaseline(dir, undefined, rows);
  const server = await startServer(dir, { args: ['--workers', workers], ready: true });
  const constant = await startListening(testPython(), ['-c', CONSTANT_SERVER], /listening on (http:\/\/\S+)/);
  const mlflow = arg('no-mlflow') === undefined && !process.argv.includes('--no-mlflow') ? await startMlflow(dir, work).catch(() => undefined) : undefined;
  try {
    console.log(`scoring bench: iris LogisticRegression (${baseline.kind}), ${rows} record${rows === 1 ? '' : 's'} per call, ${seconds} s per measurement in ${rounds} interleaved rounds, concurrency ${concurrency}, route ${route}`);
    console.log(`baselines measured in the same run: the in-process loader call, a bare Python http.server answering a constant${mlflow ? ", and MLflow's scoring server (mlflow models serve, uvicorn) on the same estimator (/invocations)" : ' (MLflow not measured: not in the venv or did not start)'}`);
    // Interleave the measurements in rounds so that noise from other processes on this shared
    // machine falls on all of them alike.
    const slice = seconds / rounds;
    const base = { lat: [] as number[], seconds: 0, cpu: 0 };
    let serverCpu = 0;
    const local: HttpScoringResult[] = [];
    const single: HttpScoringResult[] = [];
    const remote: HttpScoringResult[] = [];
    const floor: HttpScoringResult[] = [];
    const ml: HttpScoringResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const warmupSeconds = r === 0 ? 1 : 0.2;
      const b = await baseline.measure(slice);
      base.lat.push(...b.lat);
      base.seconds += b.seconds;
      base.cpu += b.cpu;
      const c0 = cpuSeconds(server.proc.pid!);
      local.push(await measureHttpScoring(server.url, { seconds: slice, concurrency, route, rows, warmupSeconds }));
      serverCpu += cpuSeconds(server.proc.pid!) - c0;
      floor.push(await measureHttpScoring(constant.url, { seconds: slice, concurrency, route, rows, warmupSeconds }));
      if (mlflow) ml.push(await measureHttpScoring(mlflow.url, { seconds: slice, concurrency, route: 'invocations', rows, warmupSeconds }));
      // one request at a time: the latency HTTP, JSON and the schema check add to a call
      single.push(await measureHttpScoring(server.url, { seconds: slice / 4, concurrency: 1, route, rows, warmupSeconds: 0.2 }));
      if (external) remote.push(await measureHttpScoring(external, { seconds: slice, concurrency, route, rows, warmupSeconds }));
    }
    const b = summarize(base.lat, base.seconds);
    console.log(`baseline   in-process loader predict: ${f(b.cps, 0)} calls/s, p50 ${f(b.p50Ms, 3)} ms, p99 ${f(b.p99Ms, 3)} ms (${b.calls} calls)`);
    const total = (rs: HttpScoringResult[]) => {
      const requests = rs.reduce((a, x) => a + x.requests, 0);
      const secs = rs.reduce((a, x) => a + x.seconds, 0);
      return { requests, errors: rs.reduce((a, x) => a + x.errors, 0), rps: requests / secs, p50: median(rs.map((x) => x.p50Ms)), p99: Math.max(...rs.map((x) => x.p99Ms)) };
    };
    const line = (label: string, rs: HttpScoringResult[], r = route) => {
      const t = total(rs);
      console.log(`${label.padEnd(22)} HTTP ${r}: ${f(t.rps, 0)} req/s, p50 ${f(t.p50)} ms, p99 ${f(t.p99)} ms (${t.requests} requests, ${t.errors} errors)`);
      return t;
    };
    const g = line(`gitml (--workers ${workers})`, local);
    const c = line('http.server constant', floor);
    const m = mlflow ? line('mlflow models serve', ml, 'invocations') : undefined;
    console.log(`ratio  gitml / in-process call:     ${f(g.rps / b.cps, 3)} of the throughput, p50 ${f(g.p50 / b.p50Ms, 1)}x`);
    // Per CPU-second: on a machine shared with other work, wall-clock rates measure how much CPU
    // each process was given as much as how fast it is; CPU time per call does not. (The warm-up
    // requests fall inside the server's CPU window, so this slightly favours the in-process call.)
    const inCps = b.calls / base.cpu;
    const served = local.reduce((a, x) => a + x.requests, 0) / serverCpu;
    console.log(`per CPU-second: in-process ${f(inCps, 0)} calls, server ${f(served, 0)} requests (${f((serverCpu * 1000) / local.reduce((a, x) => a + x.requests, 0), 3)} ms of server CPU a request); ratio ${f(served / inCps, 3)}`);
    // Issue 16's goals: at least 60 % of the in-process call rate with one row, 50 % with 100.
    const goal = rows >= 100 ? 0.5 : rows === 1 ? 0.6 : undefined;
    if (goal !== undefined) {
      const ok = (x: number) => (x >= goal ? 'met' : 'NOT met');
      console.log(`goal   served / in-process at least ${f(goal, 2)} with ${rows} row${rows === 1 ? '' : 's'}: wall clock ${ok(g.rps / b.cps)} (${f(g.rps / b.cps, 3)}), per CPU-second ${ok(served / inCps)} (${f(served / inCps, 3)})`);
    }
    console.log(`ratio  gitml / http.server constant: ${f(g.rps / c.rps, 3)} of the requests/s, p50 ${f(g.p50 / c.p50, 2)}x, p99 ${f(g.p99 / c.p99, 2)}x`);
    if (m) console.log(`ratio  gitml / mlflow models serve:  ${f(g.rps / m.rps, 2)}x the requests/s, p50 ${f(m.p50 / g.p50, 2)}x lower, p99 ${f(m.p99 / g.p99, 2)}x lower (MLflow measured in this run, same estimator, payload and load)`);
    // Concurrent requests may be scored in one estimator call (the server's Scorer); the
    // in-process baseline is one call per record. How many requests a call served:
    const metricsText = await (await fetch(`${server.url}/metrics`)).text();
    const sum = (re: RegExp) => [...metricsText.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    const scored = sum(/^gitml_requests_total\{route="[^"]*(?:score|invocations|infer)",method="POST",code="200"\} (\d+)$/gm);
    const calls = sum(/^gitml_model_calls_total (\d+)$/gm);
    if (calls > 0) console.log(`batching: ${scored} scoring requests answered in ${calls} model calls (${f(scored / calls, 2)} requests a call, concurrent requests scored together)`);
    const one = median(single.map((x) => x.p50Ms));
    console.log(`one-by-one HTTP ${route} at concurrency 1: p50 ${f(one, 3)} ms, ${f(one - b.p50Ms, 3)} ms over the in-process call`);
    if (external) line(external, remote);
  } finally {
    baseline.close();
    await server.stop();
    await constant.stop();
    if (mlflow) await mlflow.stop();
    removeDir(dir);
    removeDir(work);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
