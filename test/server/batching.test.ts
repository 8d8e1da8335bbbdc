/**
 * Concurrent scoring requests batched into one call of the estimator (the built-in loader's
 * Batcher): each request still gets the answers for its own rows, on every protocol, and
 * requests that cannot be batched (values the fast path does not take, values the model
 * refuses) are scored alone, with their own answer or error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir } from '../support/repo.js';
import { call, IRIS_COLUMNS, irisBundle, metric, parsePrometheus, startServer, type IrisBundle, type RunningServer } from './helpers.js';

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
