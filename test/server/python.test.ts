/**
 * The scoring server with the `python` flavor: a standard-library-only score.py with init()
 * and run(data). Faults of the user's code (init() or run() raising), concurrency, timeouts,
 * shutdown, sampling rates, configuration from the environment, and broken bundles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { removeDir, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { bundleValid, call, metric, parsePrometheus, rawConnect, SERVER, startServer, waitFor, writeBundle, type RunningServer } from './helpers.js';

// A model without scikit-learn: y = scale * x + n, plus hooks the tests use to make run()
// raise, wait for a second concurrent call, or take a moment.
const SCORE_PY = `
import json, os, threading, time

model = None
barrier = threading.Barrier(2, timeout=float(os.environ.get("BARRIER_TIMEOUT", "20")))


def init():
    global model
    with open(os.environ["GITML_MODEL_PATH"], encoding="utf-8") as f:
        model = json.load(f)


def run(data):
    out = []
    for r in data:
        if r["label"] == "boom":
            raise ValueError("boom requested")
        if r["label"] == "barrier":
            try:
                barrier.wait()
                met = True
            except threading.BrokenBarrierError:
                met = False
            out.append({"y": 0.0, "label": "barrier", "flag": met})
            continue
        if r["label"] == "slow":
            open(os.environ["SLOW_MARKER"], "w").close()
            time.sleep(1.0)
        assert type(r["x"]) is float and type(r["n"]) is int and type(r["flag"]) is bool
        out.append({"y": model["scale"] * r["x"] + r["n"], "label": r["label"].upper(), "flag": not r["flag"]})
    return out
`;

const SCHEMA = {
  inputs: [
    { name: 'x', type: 'double' },
    { name: 'n', type: 'long' },
    { name: 'label', type: 'string' },
    { name: 'flag', type: 'boolean' },
  ],
  outputs: [
    { name: 'y', type: 'double' },
    { name: 'label', type: 'string' },
    { name: 'flag', type: 'boolean' },
  ],
};

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function pyBundle(score = SCORE_PY, server: Record<string, unknown> = {}): string {
  const dir = tmpDir('gitml-serve-py-');
  dirs.push(dir);
  return writeBundle(dir, {
    'server.json': { model: 'affine', version: 'v0.3.1', flavor: 'python', artifact: 'model/params.json', scoring: 'src/score.py', runtime: '1.0.0', ...server },
    'schema.json': SCHEMA,
    'sample.json': [{ x: 1.5, n: 2, label: 'a', flag: true }],
    'model/params.json': { scale: 2 },
    'src/score.py': score,
  });
}

describe('python flavor with a standard-library score.py (2 workers)', () => {
  let s: RunningServer;
  let marker: string;
  let sampleLog: string;
  beforeAll(async () => {
    const dir = pyBundle();
    marker = path.join(dir, 'slow-started');
    sampleLog = path.join(dir, 'samples.jsonl');
    s = await startServer(dir, { args: ['--workers', '2', '--sample-log', sampleLog, '--sample-rate', '0.5'], env: { SLOW_MARKER: marker }, ready: true });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('init() reads GITML_MODEL_PATH; run() gets records checked and typed by the schema', async () => {
    const r = await call(`${s.url}/score`, { body: { data: [{ x: 1.5, n: 2, label: 'a', flag: true }, { x: 3, n: 4.0, label: 'b', flag: false }] } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ result: [{ y: 5, label: 'A', flag: false }, { y: 10, label: 'B', flag: true }] });
    const rows = await call(`${s.url}/score`, { body: [[3, 4, 'b', false]] });
    expect(rows.body).toEqual({ result: [{ y: 10, label: 'B', flag: true }] });
    const ml = await call(`${s.url}/invocations`, { body: { dataframe_split: { columns: ['label', 'flag', 'n', 'x'], data: [['c', true, -1, 0.25]] } } });
    expect(ml.body).toEqual({ predictions: [{ y: -0.5, label: 'C', flag: false }] });
  });

  it('v2: typed column tensors in, one output tensor per result field out', async () => {
    const r = await call(`${s.url}/v2/models/affine/infer`, {
      body: {
        inputs: [
          { name: 'x', shape: [2], datatype: 'FP64', data: [1, 2] },
          { name: 'n', shape: [2, 1], datatype: 'INT32', data: [[0], [1]] },
          { name: 'label', shape: [2], datatype: 'BYTES', data: ['p', 'q'] },
          { name: 'flag', shape: [2], datatype: 'BOOL', data: [true, false] },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.outputs).toEqual([
      { name: 'y', shape: [2], datatype: 'FP64', data: [2, 5] },
      { name: 'label', shape: [2], datatype: 'BYTES', data: ['P', 'Q'] },
      { name: 'flag', shape: [2], datatype: 'BOOL', data: [false, true] },
    ]);
    const meta = await call(`${s.url}/v2/models/affine`);
    expect(meta.body.inputs.map((i: any) => i.datatype)).toEqual(['FP64', 'INT64', 'BYTES', 'BOOL']);
    expect(meta.body.platform).toBe('python');
    const cases: Array<[unknown, string]> = [
      [[{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }], 'WRONG_TYPE'], // a number tensor cannot feed `label`
      [[{ name: 'x', shape: [1], datatype: 'BYTES', data: ['1'] }, { name: 'n', shape: [1], datatype: 'INT64', data: [1] }, { name: 'label', shape: [1], datatype: 'BYTES', data: ['a'] }, { name: 'flag', shape: [1], datatype: 'BOOL', data: [true] }], 'WRONG_TYPE'],
      [[{ name: 'x', shape: [1], datatype: 'FP64', data: [1] }, { name: 'n', shape: [1], datatype: 'FP64', data: [1] }, { name: 'label', shape: [1], datatype: 'BYTES', data: ['a'] }, { name: 'flag', shape: [1], datatype: 'BOOL', data: [true] }], 'WRONG_TYPE'],
      [[{ name: 'x', shape: [1], datatype: 'FP64', data: [1] }, { name: 'n', shape: [1], datatype: 'UINT8', data: [-1] }, { name: 'label', shape: [1], datatype: 'BYTES', data: ['a'] }, { name: 'flag', shape: [1], datatype: 'BOOL', data: [true] }], 'WRONG_TYPE'],
      [[{ name: 'x', shape: [1], datatype: 'FP64', data: [1] }, { name: 'n', shape: [1], datatype: 'INT64', data: [1] }, { name: 'label', shape: [1], datatype: 'BYTES', data: ['a'] }, { name: 'flag', shape: [1], datatype: 'BOOL', data: [1] }], 'WRONG_TYPE'],
    ];
    for (const [inputs, code] of cases) {
      const bad = await call(`${s.url}/v2/models/affine/infer`, { body: { inputs } });
      expect(bad.status, JSON.stringify(inputs)).toBe(400);
      expect(bad.body.code).toBe(code);
    }
  });

  it('refuses values of the wrong type for long, string and boolean columns', async () => {
    for (const rec of [
      { x: 1, n: 1.5, label: 'a', flag: true },
      { x: 1, n: '1', label: 'a', flag: true },
      { x: 1, n: 1, label: 5, flag: true },
      { x: 1, n: 1, label: 'a', flag: 'true' },
      { x: 1, n: 1, label: 'a', flag: 1 },
    ]) {
      const r = await call(`${s.url}/score`, { body: { data: [rec] } });
      expect(r.status, JSON.stringify(rec)).toBe(400);
      expect(r.body.error.code).toBe('WRONG_TYPE');
    }
  });

  it('run() raising answers 500 with the error on every protocol, and the server stays up', async () => {
    const boom = { x: 1, n: 1, label: 'boom', flag: true };
    const a = await call(`${s.url}/score`, { body: { data: [boom] } });
    expect(a.status).toBe(500);
    expect(a.body.error.code).toBe('SCORING_FAILED');
    expect(a.body.error.message).toContain('ValueError');
    const b = await call(`${s.url}/invocations`, { body: { dataframe_records: [boom] } });
    expect(b.status).toBe(500);
    const c = await call(`${s.url}/v2/models/affine/infer`, {
      body: { inputs: Object.entries(boom).map(([name, v]) => ({ name, shape: [1], datatype: { x: 'FP64', n: 'INT64', label: 'BYTES', flag: 'BOOL' }[name], data: [v] })) },
    });
    expect(c.status).toBe(500);
    expect(c.body.code).toBe('SCORING_FAILED');
    expect((await call(`${s.url}/score`, { body: { data: [[1, 1, 'ok', true]] } })).status).toBe(200);
    expect((await call(`${s.url}/v2/health/ready`)).status).toBe(200);
    const m = parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
    expect(metric(m, 'gitml_request_errors_total', 'gitml_request_errors_total', { route: '/score', code: 'SCORING_FAILED' })).toBe(1);
    expect(metric(m, 'gitml_requests_total', 'gitml_requests_total', { route: '/v2/models/{model}/infer', code: '500' })).toBe(1);
  });

  it('runs up to --workers scoring calls at once', async () => {
    const wait = () => call(`${s.url}/score`, { body: { data: [[0, 0, 'barrier', true]] } });
    const [a, b] = await Promise.all([wait(), wait()]);
    // each call waited on a two-party barrier inside run(): both pass only if they overlap
    expect(a.body.result[0].flag).toBe(true);
    expect(b.body.result[0].flag).toBe(true);
  });

  it('samples about the configured fraction of scoring requests', async () => {
    const before = existsSync(sampleLog) ? readFileSync(sampleLog, 'utf8').split('\n').filter(Boolean).length : 0;
    for (let i = 0; i < 10; i++) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => call(`${s.url}/score`, { body: [[i, j, 's', false]] })));
    }
    const lines = readFileSync(sampleLog, 'utf8').split('\n').filter(Boolean).slice(before);
    // rate 0.5 over 200 requests: a count outside 40..160 has a probability below 1e-17
    expect(lines.length).toBeGreaterThan(40);
    expect(lines.length).toBeLessThan(160);
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ model: 'affine', route: '/score', inputs: [{ label: 's', flag: false }] });
  });

  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const pending = call(`${s.url}/score`, { body: { data: [[1, 1, 'slow', true]] } });
    await waitFor(() => existsSync(marker), 10_000);
    s.proc.kill('SIGTERM');
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body.result[0].label).toBe('SLOW');
    expect(await s.exited).toBe(0);
  });
});

describe('python flavor with one worker and a short client timeout', () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await startServer(pyBundle(), { args: ['--timeout', '1'], env: { BARRIER_TIMEOUT: '0.3' }, ready: true });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it('never calls run() concurrently with --workers 1', async () => {
    const wait = () => call(`${s.url}/score`, { body: { data: [[0, 0, 'barrier', true]] } });
    const [a, b] = await Promise.all([wait(), wait()]);
    expect([a.body.result[0].flag, b.body.result[0].flag]).toEqual([false, false]);
  });

  it('cuts off a client that stalls mid-body (408) or mid-headers, and keeps serving', async () => {
    const body = await rawConnect(s.port);
    body.socket.write('POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"data"');
    const headers = await rawConnect(s.port);
    headers.socket.write('GET /v2/health/live HTTP/1.1\r\nHo');
    const res = await body.response(15_000);
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error.code).toBe('REQUEST_TIMEOUT');
    await body.closed;
    await headers.closed;
    expect(headers.received().length).toBe(0);
    expect((await call(`${s.url}/score`, { body: [[1, 1, 'a', true]] })).status).toBe(200);
  });
});

describe('slow clients at the connection limit (slowloris)', () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await startServer(pyBundle(), { args: ['--max-connections', '6', '--timeout', '2'], ready: true });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it('a new client takes the place of the slowest; a client trickling bytes is cut off after --timeout', async () => {
    // Twice the limit of clients that never finish a request: headers a few bytes at a time
    // (every 300 ms, so the socket timeout never fires), or a body that stalls.
    const slow = await Promise.all(Array.from({ length: 12 }, () => rawConnect(s.port)));
    slow.forEach((c, i) => c.socket.write(i % 3 ? 'POST /score HTTP/1.1\r\nHost: x\r\n' : 'POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"data":'));
    const drip = setInterval(() => slow.forEach((c, i) => i % 3 && !c.socket.destroyed && c.socket.write('X-Drip: 1\r\n')), 300);
    try {
      // New clients (fresh connections: a pooled keep-alive one may be the slowest, closed)
      for (let i = 0; i < 3; i++) {
        const c = await rawConnect(s.port);
        const body = JSON.stringify([[1.5, 2, 'a', true]]);
        c.socket.write(`POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        const r = await c.response();
        c.socket.destroy();
        expect(r.status, r.body).toBe(200);
        expect(JSON.parse(r.body).result).toEqual([{ y: 5, label: 'A', flag: false }]);
      }
      // Every slow client is closed within --timeout (2 s) plus a poll, dripping or not.
      const t0 = Date.now();
      await Promise.all(slow.map((c) => c.closed));
      expect(Date.now() - t0).toBeLessThan(8_000);
      for (const [i, c] of slow.entries()) if (i % 3) expect(c.received().length).toBe(0);
    } finally {
      clearInterval(drip);
      slow.forEach((c) => c.socket.destroy());
    }
    expect(s.log()).toMatch(/note: closed \d+ slow connections? \(the server is at --max-connections\)/);
    const c = await rawConnect(s.port);
    c.socket.write('GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await c.response()).status).toBe(200);
    c.socket.destroy();
    // Successful health probes are not in the access log; everything else is (in order, once
    // the lines written together are out: the 404 after the probe says they are).
    expect((await call(`${s.url}/after-the-probe`)).status).toBe(404);
    await waitFor(() => s.log().includes('GET /after-the-probe 404'), 5_000);
    expect(s.log()).not.toContain('GET /v2/health/ready 200');
    expect(s.log()).toContain('POST /score 200');
  });
});

describe('init() raising', () => {
  let s: RunningServer;
  beforeAll(async () => {
    const dir = pyBundle('def init():\n    raise RuntimeError("cannot open the model")\n\n\ndef run(data):\n    return data\n');
    s = await startServer(dir);
    await waitFor(() => s.log().includes('failed to load'), 30_000);
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it('stays up and live, reports not ready (503), refuses scoring with 503, logs the traceback once', async () => {
    expect(await call(`${s.url}/v2/health/live`)).toMatchObject({ status: 200, body: { live: true } });
    expect(await call(`${s.url}/v2/health/ready`)).toMatchObject({ status: 503, body: { ready: false } });
    expect(await call(`${s.url}/v2/models/affine/ready`)).toMatchObject({ status: 503, body: { ready: false } });
    expect((await call(`${s.url}/ping`)).status).toBe(503);
    // One line that says where it failed: GET / has it, and `gitml serve` reports it.
    expect((await call(`${s.url}/`)).body).toMatchObject({ ready: false, state: 'failed', error: 'init() in score.py raised RuntimeError: cannot open the model' });
    expect(s.log()).toContain('failed to load: init() in score.py raised RuntimeError: cannot open the model; the server stays up');
    await waitFor(() => s.log().includes('GET /v2/health/ready 503'), 5_000);
    for (let i = 0; i < 3; i++) {
      const r = await call(`${s.url}/score`, { body: [[1, 1, 'a', true]] });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('MODEL_NOT_READY');
    }
    const v2 = await call(`${s.url}/v2/models/affine/infer`, { body: { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] } });
    expect(v2.status).toBe(503);
    expect(v2.body.code).toBe('MODEL_NOT_READY');
    expect((await call(`${s.url}/invocations`, { body: { instances: [[1, 1, 'a', true]] } })).status).toBe(503);
    const m = parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
    expect(metric(m, 'gitml_model_ready', 'gitml_model_ready', { model: 'affine' })).toBe(0);
    expect(s.log().match(/Traceback \(most recent call last\)/g)).toHaveLength(1);
    expect(s.log()).toContain('RuntimeError');
  });
});

describe('configuration and broken bundles', () => {
  it('the bundles the server serves in these tests pass the bundle schema', () => {
    expect(bundleValid(pyBundle())).toBe(true);
    expect(bundleValid(pyBundle(SCORE_PY, { scoring: 'src/score.py', artifact: null }))).toBe(true);
  });

  it('takes its settings from GITML_* environment variables', async () => {
    const dir = pyBundle();
    const s = await startServer('', { env: { GITML_MODEL_DIR: dir, GITML_PORT: '0', GITML_MAX_BODY_BYTES: '200' }, ready: true });
    try {
      expect((await call(`${s.url}/score`, { body: [[1, 1, 'a', true]] })).status).toBe(200);
      const big = await call(`${s.url}/score`, { body: Array.from({ length: 20 }, () => [1, 1, 'a', true]) });
      expect(big.status).toBe(413);
      expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('a score.py without run() leaves the server up but not ready', async () => {
    const s = await startServer(pyBundle('def init():\n    pass\n'));
    try {
      await waitFor(() => s.log().includes('failed to load'));
      expect((await call(`${s.url}/v2/health/ready`)).status).toBe(503);
      expect((await call(`${s.url}/v2/health/live`)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it.each([
    ['no server.json', (d: string) => writeBundle(d, { 'schema.json': SCHEMA })],
    ['server.json is not JSON', (d: string) => writeBundle(d, { 'server.json': '{nope', 'schema.json': SCHEMA })],
    ['an artifact outside the bundle', (d: string) => writeBundle(d, { 'server.json': { model: 'm', version: 'v1.0.0', flavor: 'sklearn', artifact: '../../etc/passwd' }, 'schema.json': SCHEMA })],
    ['an absolute scoring path', (d: string) => writeBundle(d, { 'server.json': { model: 'm', version: 'v1.0.0', flavor: 'python', scoring: '/etc/passwd' }, 'schema.json': SCHEMA })],
    ['the python flavor without a script', (d: string) => writeBundle(d, { 'server.json': { model: 'm', version: 'v1.0.0', flavor: 'python', artifact: 'a.bin' }, 'a.bin': 'x', 'schema.json': SCHEMA })],
    ['an unknown column type', (d: string) => writeBundle(d, { 'server.json': { model: 'm', version: 'v1.0.0', flavor: 'sklearn', artifact: 'a.bin' }, 'a.bin': 'x', 'schema.json': { inputs: [{ name: 'x', type: 'decimal' }] } })],
    ['no inputs', (d: string) => writeBundle(d, { 'server.json': { model: 'm', version: 'v1.0.0', flavor: 'sklearn', artifact: 'a.bin' }, 'a.bin': 'x', 'schema.json': { inputs: [] } })],
    ['a model name with a space', (d: string) => writeBundle(d, { 'server.json': { model: 'my model', version: 'v1.0.0', flavor: 'sklearn', artifact: 'a.bin', runtime: '1.0.0' }, 'a.bin': 'x', 'schema.json': SCHEMA })],
  ])('refuses to start (exit 2) with %s, as schemas/serving-bundle.schema.json does', (_name, make) => {
    const d = tmpDir('gitml-bad-bundle-');
    dirs.push(d);
    make(d);
    expect(bundleValid(d)).toBe(false);
    const r = spawnSync(testPython(), [SERVER, '--model-dir', d, '--port', '0'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot serve');
    expect(r.stderr).not.toContain('Traceback');
  });

  // The oldest Python the server supports, when this machine has it (pyenv puts one on PATH here).
  const pyenv = path.join(process.env.PYENV_ROOT ?? path.join(homedir(), '.pyenv'), 'versions');
  const pyenv39 = existsSync(pyenv) ? readdirSync(pyenv).filter((v) => v.startsWith('3.9.')).map((v) => path.join(pyenv, v, 'bin/python3')) : [];
  const py39 = [process.env.GITML_TEST_PYTHON39 ?? 'python3.9', '/usr/bin/python3.9', ...pyenv39].find((p) => spawnSync(p, ['-c', 'import sys; assert sys.version_info[:2] == (3, 9)']).status === 0);
  if (!py39) console.warn('test/server: no python3.9 on this machine; the server is checked on 3.9 syntax only');
  it.skipIf(!py39)('serves a python-flavor bundle on Python 3.9', async () => {
    const s = await startServer(pyBundle(), { python: py39, ready: true });
    try {
      expect((await call(`${s.url}/score`, { body: [[1, 2, 'a', true]] })).body).toEqual({ result: [{ y: 4, label: 'A', flag: false }] });
      expect((await call(`${s.url}/score`, { body: [[1, 2, 'boom', true]] })).body.error.code).toBe('SCORING_FAILED');
      expect((await call(`${s.url}/score`, { body: [[1, 2.5, 'a', true]] })).body.error.code).toBe('WRONG_TYPE');
      parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('is Python 3.9 syntax', () => {
    const r = spawnSync(testPython(), ['-c', 'import ast, sys; ast.parse(open(sys.argv[1]).read(), feature_version=(3, 9))', SERVER], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
