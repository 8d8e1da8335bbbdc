/**
 * Scoring throughput (issue 5): `npx tsx bench/scoring.ts [--seconds 20] [--concurrency 8]
 * [--workers 1] [--route score|invocations|infer] [--url http://host:port]`.
 *
 *   baseline  the limit: in the same Python, the server's own loader (Model.predict of
 *             templates/server/gitml_server.py) called in a loop on one record — per-call
 *             latency and calls/s, no HTTP, no JSON, no schema check;
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
 * `measureHttpScoring(baseUrl, options)` is exported for other benches (the container figure).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
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

function requestFor(route: NonNullable<HttpScoringOptions['route']>, model: string, row: number[]): { path: string; body: Buffer } {
  const record = Object.fromEntries(IRIS_COLUMNS.map((c, i) => [c, row[i]]));
  const body =
    route === 'score'
      ? { data: [record] }
      : route === 'invocations'
        ? { dataframe_records: [record] }
        : { inputs: [{ name: 'input-0', shape: [1, row.length], datatype: 'FP64', data: row }] };
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
  const { seconds = 20, concurrency = 8, route = 'score', model = 'iris', row = [5.1, 3.5, 1.4, 0.2], warmupSeconds = 1 } = opts;
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const { path: reqPath, body } = requestFor(route, model, row);
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
record = [dict(zip([c.name for c in bundle.inputs], json.loads(sys.argv[3])))]
for _ in range(50):
    model.predict(record)
print(json.dumps({"ready": True, "kind": model.kind}), flush=True)
for line in sys.stdin:
    seconds = float(line)
    lat = []
    end = time.perf_counter() + seconds
    t_start = time.perf_counter()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        model.predict(record)
        lat.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"seconds": time.perf_counter() - t_start, "lat": lat}), flush=True)
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
export async function inProcessBaseline(bundleDir: string, row: number[] = [5.1, 3.5, 1.4, 0.2]) {
  const proc = spawn(testPython(), ['-c', IN_PROCESS, SERVER, bundleDir, JSON.stringify(row)], { stdio: ['pipe', 'pipe', 'pipe'] });
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
    async measure(seconds: number): Promise<{ lat: number[]; seconds: number }> {
      proc.stdin.write(`${seconds}\n`);
      return (await next()) as { lat: number[]; seconds: number };
    },
    close(): void {
      proc.stdin.end();
    },
  };
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
  const route = (arg('route') ?? 'score') as HttpScoringOptions['route'];
  const external = arg('url');
  const { dir } = irisBundle();
  const baseline = await inProcessBaseline(dir);
  const server = await startServer(dir, { args: ['--workers', workers], ready: true });
  try {
    console.log(`scoring bench: iris LogisticRegression (${baseline.kind}), one record per call, ${seconds} s per measurement in ${rounds} interleaved rounds, concurrency ${concurrency}, route ${route}`);
    // Interleave the measurements in rounds so that noise from other processes on this shared
    // machine falls on all of them alike.
    const slice = seconds / rounds;
    const base = { lat: [] as number[], seconds: 0 };
    const local: HttpScoringResult[] = [];
    const single: HttpScoringResult[] = [];
    const remote: HttpScoringResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const b = await baseline.measure(slice);
      base.lat.push(...b.lat);
      base.seconds += b.seconds;
      local.push(await measureHttpScoring(server.url, { seconds: slice, concurrency, route, warmupSeconds: r === 0 ? 1 : 0.2 }));
      // one request at a time: the latency HTTP, JSON and the schema check add to a call
      single.push(await measureHttpScoring(server.url, { seconds: slice / 4, concurrency: 1, route, warmupSeconds: 0.2 }));
      if (external) remote.push(await measureHttpScoring(external, { seconds: slice, concurrency, route, warmupSeconds: r === 0 ? 1 : 0.2 }));
    }
    const b = summarize(base.lat, base.seconds);
    console.log(`baseline   in-process loader predict: ${f(b.cps, 0)} calls/s, p50 ${f(b.p50Ms, 3)} ms, p99 ${f(b.p99Ms, 3)} ms (${b.calls} calls)`);
    const report = (label: string, rs: HttpScoringResult[]) => {
      const requests = rs.reduce((a, x) => a + x.requests, 0);
      const secs = rs.reduce((a, x) => a + x.seconds, 0);
      const errors = rs.reduce((a, x) => a + x.errors, 0);
      // percentiles over all rounds: recombine from per-round figures weighted by count
      const rps = requests / secs;
      const p50 = median(rs.map((x) => x.p50Ms));
      const p99 = Math.max(...rs.map((x) => x.p99Ms));
      console.log(`${label.padEnd(10)} HTTP ${route}: ${f(rps, 0)} req/s, p50 ${f(p50)} ms, p99 ${f(p99)} ms (${requests} requests, ${errors} errors)`);
      console.log(`ratio      ${label} / in-process: ${f(rps / b.cps, 3)} of the throughput, p50 latency ${f(p50 / b.p50Ms, 1)}x`);
    };
    report(`local (--workers ${workers})`, local);
    const one = median(single.map((x) => x.p50Ms));
    console.log(`one-by-one HTTP ${route} at concurrency 1: p50 ${f(one, 3)} ms, ${f(one - b.p50Ms, 3)} ms over the in-process call`);
    if (external) report(external, remote);
  } finally {
    baseline.close();
    await server.stop();
    removeDir(dir);
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
