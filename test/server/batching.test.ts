/**
 * Concurrent scoring requests batched into one call of the estimator (the built-in loader's
 * Scorer): each request still gets the answers for its own rows, on every protocol, and
 * requests that cannot be batched (values the fast path does not take, values the model
 * refuses) are scored alone, with their own answer or error. A call expected to be long runs
 * on a worker thread, so the event loop keeps answering while it runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { call, IRIS_COLUMNS, irisBundle, metric, parsePrometheus, rawConnect, startServer, writeBundle, type IrisBundle, type RunningServer } from './helpers.js';

let bundle: IrisBundle;
let server: RunningServer;

beforeAll(async () => {
  bundle = irisBundle();
  server = await startServer(bundle.dir, { ready: true });
});

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  removeDir(bundle.dir);
});

const record = (i: number) => Object.fromEntries(IRIS_COLUMNS.map((c, k) => [c, bundle.expected.rows[i]![k]]));

async function counters(): Promise<{ calls: number; rows: number }> {
  const m = parsePrometheus((await call(`${server.url}/metrics`)).text);
  return { calls: metric(m, 'gitml_model_calls_total', 'gitml_model_calls_total'), rows: metric(m, 'gitml_scored_rows_total', 'gitml_scored_rows_total') };
}

describe('batching concurrent requests (built-in loader)', () => {
  it('is used for an estimator that scores rows independently, and says so', () => {
    expect(server.log()).toMatch(/ready \(built-in sklearn loader, 2-D list input, concurrent requests batched,/);
  });

  it('answers every request with its own rows, on every protocol, in fewer model calls than requests', async () => {
    const { pred } = bundle.expected;
    // Request i scores rows (i, i+1, ...) mod 3, 1 to 3 of them, by one of four payloads.
    const rowsOf = (i: number) => Array.from({ length: (i % 3) + 1 }, (_, k) => (i + k) % 3);
    const send = (i: number) => {
      const rows = rowsOf(i);
      switch (i % 4) {
        case 0:
          return call(`${server.url}/score`, { body: { data: rows.map(record) } }).then((r) => ({ r, got: (r.body as { result: number[] }).result }));
        case 1:
          return call(`${server.url}/score`, { body: { data: rows.map((k) => bundle.expected.rows[k]) } }).then((r) => ({ r, got: (r.body as { result: number[] }).result }));
        case 2:
          return call(`${server.url}/invocations`, { body: { dataframe_split: { columns: IRIS_COLUMNS, data: rows.map((k) => bundle.expected.rows[k]) } } }).then((r) => ({ r, got: (r.body as { predictions: number[] }).predictions }));
        default:
          return call(`${server.url}/v2/models/iris/infer`, {
            body: { inputs: [{ name: 'x', shape: [rows.length, 4], datatype: 'FP64', data: rows.flatMap((k) => bundle.expected.rows[k]) }] },
          }).then((r) => ({ r, got: (r.body as { outputs: { data: number[] }[] }).outputs[0]!.data }));
      }
    };
    let batched = false;
    // A burst of concurrent requests; again, a few times at most, until one call served more
    // than one request (the scheduling decides how many wait together).
    for (let round = 0; round < 5 && !batched; round++) {
      const before = await counters();
      const answers = await Promise.all(Array.from({ length: 96 }, (_, i) => send(i + round)));
      answers.forEach(({ r, got }, i) => {
        expect(r.status).toBe(200);
        expect(got).toEqual(rowsOf(i + round).map((k) => pred[k]));
      });
      const after = await counters();
      expect(after.rows - before.rows).toBe(answers.reduce((a, _, i) => a + rowsOf(i + round).length, 0));
      expect(after.calls - before.calls).toBeLessThanOrEqual(96);
      batched = after.calls - before.calls < 96;
    }
    expect(batched).toBe(true);
  });

  it('scores alone what it cannot batch: an integer for a double, and NaN the model refuses (400)', async () => {
    const asInts = { data: [{ sepal_length: 6, sepal_width: 3, petal_length: 5, petal_width: 2 }] };
    const alone = (await call(`${server.url}/score`, { body: asInts })).body;
    const answers = await Promise.all(
      Array.from({ length: 48 }, (_, i) =>
        i % 3 === 0
          ? call(`${server.url}/score`, { body: asInts })
          : i % 3 === 1
            ? call(`${server.url}/invocations`, { raw: `{"dataframe_records": [{"sepal_length": NaN, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}` })
            : call(`${server.url}/score`, { body: { data: [record(i % 3)] } }),
      ),
    );
    answers.forEach((r, i) => {
      if (i % 3 === 0) expect(r.body).toEqual(alone);
      else if (i % 3 === 1) {
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ error: { code: 'MODEL_REJECTED_INPUT' } });
      } else expect(r.body).toEqual({ result: [bundle.expected.pred[i % 3]] });
    });
    expect((await call(`${server.url}/v2/health/ready`)).status).toBe(200);
  });
});

// A nearest-neighbour model over 20,000 points: about a millisecond for a few rows, over a
// second for 40,000 (brute force), and it scores rows independently (batchable).
const TRAIN_KNN = `
import json, pickle, sys
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
out = sys.argv[1]
rng = np.random.default_rng(7)
X = rng.random((20000, 4))
m = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(X, (X[:, 0] + X[:, 1] > 1).astype(int))
with open(out + "/model/model.pkl", "wb") as f:
    pickle.dump(m, f)
cols = ["a", "b", "c", "d"]
json.dump([dict(zip(cols, map(float, r))) for r in X[:3]], open(out + "/sample.json", "w"))
big = rng.random((40000, 4)).round(6)
json.dump({"rows": big.tolist(), "pred": m.predict(big).tolist()}, open(out + "/big.json", "w"))
`;

describe('a long call of the model (built-in loader)', () => {
  let dir: string;
  let knn: RunningServer;
  let big: { rows: number[][]; pred: number[] };
  beforeAll(async () => {
    dir = tmpDir('gitml-knn-');
    mkdirSync(path.join(dir, 'model'));
    writeBundle(dir, {
      'server.json': { model: 'knn', version: 'v1.0.0', flavor: 'sklearn', artifact: 'model/model.pkl', scoring: null, runtime: '1.0.0' },
      'schema.json': { inputs: ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'double' })), outputs: [{ name: 'prediction', type: 'long' }] },
    });
    const r = spawnSync(testPython(), ['-c', TRAIN_KNN, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    big = JSON.parse(readFileSync(path.join(dir, 'big.json'), 'utf8'));
    knn = await startServer(dir, { ready: true });
  });
  afterAll(async () => {
    if (knn) expect(await knn.stop()).toBe(0);
    if (dir) removeDir(dir);
  });

  it('runs on a worker thread: health probes are answered while it runs, short calls before and after score', async () => {
    expect(knn.log()).toContain('concurrent requests batched');
    // Short calls first: the server learns how long a call takes (these may run on the loop).
    for (let i = 0; i < 20; i++) expect((await call(`${knn.url}/score`, { body: { data: [big.rows[i]] } })).body).toEqual({ result: [big.pred[i]] });
    const t0 = Date.now();
    let bigDone = 0;
    const answer = call(`${knn.url}/score`, { body: { data: big.rows } }).then((r) => ((bigDone = Date.now()), r));
    await new Promise((r) => setTimeout(r, 300)); // the 1.6 MB body is read and parsed, the call starts
    const probes: { ms: number; status: number; at: number }[] = [];
    while (!bigDone && probes.length < 50) {
      const p0 = Date.now();
      const r = await call(`${knn.url}/v2/health/live`);
      probes.push({ ms: Date.now() - p0, status: r.status, at: Date.now() });
    }
    const r = await answer;
    expect(r.status).toBe(200);
    expect((r.body as { result: number[] }).result).toEqual(big.pred);
    const during = probes.filter((p) => p.at < bigDone);
    // The call took long enough for the test to mean something, and probes got through during it.
    expect(bigDone - t0).toBeGreaterThan(600);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.every((p) => p.status === 200)).toBe(true);
    expect(Math.max(...during.map((p) => p.ms))).toBeLessThan((bigDone - t0) / 3);
    expect((await call(`${knn.url}/score`, { body: { data: [big.rows[1]] } })).body).toEqual({ result: [big.pred[1]] });
  });

  it('a client that leaves while its long call runs: the call ends unanswered, the server goes on', async () => {
    const body = JSON.stringify({ data: big.rows });
    const c = await rawConnect(knn.port);
    c.socket.write(`POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await new Promise((r) => setTimeout(r, 400));
    c.socket.destroy();
    expect((await call(`${knn.url}/v2/health/live`)).status).toBe(200);
    expect((await call(`${knn.url}/score`, { body: { data: [big.rows[2]] } })).body).toEqual({ result: [big.pred[2]] });
    const m = parsePrometheus((await call(`${knn.url}/metrics`)).text);
    expect(metric(m, 'gitml_inflight_requests', 'gitml_inflight_requests')).toBe(1); // this one
    expect(knn.log()).not.toMatch(/Traceback|error:/);
  });
});
