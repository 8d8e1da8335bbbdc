/**
 * Helpers for the scoring-server tests: a real iris model trained with scikit-learn, serving
 * bundles written from literals, the real server started as a Python process, raw-socket
 * requests, and a Prometheus text-format parser.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import net from 'node:net';
import path from 'node:path';
import { ROOT, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';

export const SERVER = path.join(ROOT, 'templates/server/gitml_server.py');

export const IRIS_COLUMNS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] as const;

// Trains on scikit-learn's bundled copy of iris (no download) with named columns, as the
// `sklearn` project template does, and pickles the estimator.
const TRAIN = `
import json, pickle, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
out = sys.argv[1]
d = load_iris(as_frame=True)
X = d.data.copy()
X.columns = ${JSON.stringify(IRIS_COLUMNS)}
m = LogisticRegression(max_iter=1000)
if len(sys.argv) > 2:  # an imputer first: missing values (MLflow's NaN and null) have an answer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    m = make_pipeline(SimpleImputer(), m)
m = m.fit(X, d.target)
with open(out + "/model/model.pkl", "wb") as f:
    pickle.dump(m, f)
with open(out + "/sample.json", "w") as f:
    json.dump(X.iloc[[0, 60, 120]].to_dict(orient="records"), f)
with open(out + "/expected.json", "w") as f:
    json.dump({"rows": X.iloc[[0, 60, 120]].values.tolist(), "pred": m.predict(X.iloc[[0, 60, 120]]).tolist(),
               "proba": m.predict_proba(X.iloc[[0, 60, 120]]).tolist()}, f)
`;

export interface IrisBundle {
  dir: string;
  /** three iris rows in column order, with the predictions and probabilities of the trained model */
  expected: { rows: number[][]; pred: number[]; proba: number[][] };
}

/** Train the iris model and write a complete `sklearn` serving bundle around it. */
export function irisBundle(server: Record<string, unknown> = {}, opts: { imputer?: boolean } = {}): IrisBundle {
  const dir = tmpDir('gitml-serve-');
  mkdirSync(path.join(dir, 'model'));
  const r = spawnSync(testPython(), ['-c', TRAIN, dir, ...(opts.imputer ? ['imputer'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`training the iris model failed:\n${r.stderr}`);
  writeBundle(dir, {
    'server.json': { model: 'iris', version: 'v1.2.0', flavor: 'sklearn', artifact: 'model/model.pkl', scoring: null, runtime: '1.0.0', ...server },
    'schema.json': {
      inputs: IRIS_COLUMNS.map((name) => ({ name, type: 'double' })),
      outputs: [{ name: 'prediction', type: 'long' }],
    },
  });
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
  return { dir, expected };
}

/** Write bundle files: objects become JSON, strings are written as they are. */
export function writeBundle(dir: string, files: Record<string, unknown>): string {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(dir, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

// schemas/serving-bundle.schema.json: server.json at the top, schema.json as $defs/signature.
const ajv = new Ajv2020({ allErrors: true, strict: false });
const bundleSchema = JSON.parse(readFileSync(path.join(ROOT, 'schemas/serving-bundle.schema.json'), 'utf8'));
ajv.addSchema(bundleSchema);
const validServer = ajv.getSchema(bundleSchema.$id)!;
const validSignature = ajv.getSchema(`${bundleSchema.$id}#/$defs/signature`)!;
const validSample = ajv.getSchema(`${bundleSchema.$id}#/$defs/sample`)!;
/** Whether a bundle folder's JSON files pass schemas/serving-bundle.schema.json. */
export function bundleValid(dir: string): boolean {
  const read = (f: string) => {
    try {
      return JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
    } catch {
      return undefined;
    }
  };
  const sample = existsSync(path.join(dir, 'sample.json')) ? validSample(read('sample.json')) === true : true;
  return validServer(read('server.json')) === true && validSignature(read('schema.json')) === true && sample;
}

export interface RunningServer {
  url: string;
  port: number;
  proc: ChildProcess;
  /** everything the server wrote to stderr so far */
  log(): string;
  /** resolves with the exit code once the process has exited */
  exited: Promise<number | null>;
  /** SIGTERM, then wait for the exit */
  stop(): Promise<number | null>;
}

/**
 * Start the real server on a free port (`--port 0`; the port is read from its "listening on"
 * line) and resolve once it listens. `ready: true` also waits until the model is loaded.
 */
export async function startServer(
  modelDir: string,
  opts: { args?: string[]; env?: Record<string, string>; ready?: boolean; python?: string } = {},
): Promise<RunningServer> {
  // modelDir '' leaves the folder and port to the environment (GITML_MODEL_DIR, GITML_PORT)
  const base = modelDir ? ['--model-dir', modelDir, '--port', '0'] : [];
  const proc = spawn(opts.python ?? testPython(), [SERVER, ...base, ...(opts.args ?? [])], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 60_000);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${stderr}`));
    });
  });
  const server: RunningServer = {
    url,
    port: Number(new URL(url).port),
    proc,
    log: () => stderr,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  if (opts.ready) await waitFor(async () => (await fetch(`${url}/v2/health/ready`)).status === 200, 60_000);
  return server;
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** POST (or any method) with a JSON or raw string body; parses the JSON answer. */
export async function call(url: string, opts: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<JsonResponse> {
  const method = opts.method ?? (opts.body !== undefined || opts.raw !== undefined ? 'POST' : 'GET');
  const body = opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
  const res = await fetch(url, { method, body, headers: { 'content-type': 'application/json', ...opts.headers } });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** An HTTP response read off a raw socket. */
export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/** Parse the first complete HTTP response in `buf` (Content-Length framed), or undefined. */
export function parseRaw(buf: Buffer): RawResponse | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (buf.length < end + 4 + len) return undefined;
  return { status: Number(head.split(' ')[1]), head, body: buf.subarray(end + 4, end + 4 + len).toString('utf8') };
}

/** A raw TCP connection to the server, collecting whatever it answers. */
export function rawConnect(port: number): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void>; response: (timeoutMs?: number) => Promise<RawResponse> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {
      /* resets after a refusal are expected; the test reads what arrived */
    });
    const received = () => Buffer.concat(chunks);
    const response = async (timeoutMs = 10_000) => {
      let res: RawResponse | undefined;
      await waitFor(() => (res = parseRaw(received())) !== undefined, timeoutMs);
      return res!;
    };
    socket.once('connect', () => resolve({ socket, received, closed, response }));
    socket.once('error', reject);
  });
}

// ---- Prometheus text exposition format 0.0.4 -------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every sample belongs to a family
 * declared by `# TYPE` before it, names and label syntax follow the grammar, values parse.
 * Throws on anything else.
 */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const familyOf = (sample: string): Family | undefined => {
    const direct = families.get(sample);
    if (direct) return direct;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sample.endsWith(suffix)) {
        const f = families.get(sample.slice(0, -suffix.length));
        if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
      }
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // other comments are allowed
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      const f = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type ${rest}`);
        if (f.samples.length) throw new Error(`TYPE after samples for ${name}`);
        f.type = rest;
      } else f.help = rest;
      families.set(name, f);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        if (!l) throw new Error(`bad labels in: ${line}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const raw = m[4];
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : raw === 'NaN' ? NaN : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value in: ${line}`);
    const f = familyOf(m[1]);
    if (!f || f.type === 'untyped') throw new Error(`sample ${m[1]} has no # TYPE before it`);
    f.samples.push({ name: m[1], labels, value });
  }
  return families;
}

/** The value of one sample whose labels include `labels`, or 0 when absent. */
export function metric(families: Map<string, Family>, family: string, sample: string, labels: Record<string, string> = {}): number {
  const f = families.get(family);
  const s = f?.samples.find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

/**
 * Run a program to its end without blocking the event loop (unlike spawnSync): a server
 * started by this process keeps its stderr pipe drained, so its log cannot stall it.
 */
export function runAsync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
