/**
 * The scoring server with a real scikit-learn iris model: every route and protocol over real
 * HTTP, bad input of every kind, body limits, slow clients, metrics, OpenAPI and sampling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { removeDir, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { bundleValid, call, IRIS_COLUMNS, irisBundle, metric, parsePrometheus, rawConnect, SERVER, startServer, writeBundle, type IrisBundle, type RunningServer } from './helpers.js';

let bundle: IrisBundle;
let server: RunningServer;
let url: string;
let sampleLog: string;
const dirs: string[] = [];

beforeAll(async () => {
  bundle = irisBundle();
  dirs.push(bundle.dir);
  const logs = tmpDir('gitml-samples-');
  dirs.push(logs);
  sampleLog = path.join(logs, 'nested/samples.jsonl');
  server = await startServer(bundle.dir, { args: ['--sample-log', sampleLog, '--sample-rate', '1'], ready: true });
  url = server.url;
});

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  dirs.forEach(removeDir);
});

const records = () => bundle.expected.rows.map((r) => Object.fromEntries(IRIS_COLUMNS.map((c, i) => [c, r[i]])));
const columns = () => Object.fromEntries(IRIS_COLUMNS.map((c, i) => [c, bundle.expected.rows.map((r) => r[i])]));

describe('POST /score (Azure ML style)', () => {
  it('scores records, rows, columns, a single record and a bare list with the real model', async () => {
    const pred = bundle.expected.pred;
    expect(new Set(pred).size).toBe(3); // the three rows are one of each species
    for (const body of [{ data: records() }, { data: bundle.expected.rows }, { data: columns() }, records(), bundle.expected.rows]) {
      const r = await call(`${url}/score`, { body });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ result: pred });
    }
    const one = await call(`${url}/score`, { body: { data: records()[2] } });
    expect(one.body).toEqual({ result: [pred[2]] });
  });

  it('takes an integer where a double is expected', async () => {
    const r = await call(`${url}/score`, { body: { data: [[6, 3, 5, 2]] } });
    expect(r.status).toBe(200);
    expect(r.body.result).toHaveLength(1);
  });
});

describe('POST /invocations (MLflow scoring protocol)', () => {
  it('accepts dataframe_split in any column order, dataframe_records, instances, inputs and CSV', async () => {
    const pred = bundle.expected.pred;
    const reordered = [...IRIS_COLUMNS].reverse();
    const bodies = [
      { dataframe_split: { columns: reordered, data: records().map((r) => reordered.map((c) => r[c])) } },
      { dataframe_split: { index: [0, 1, 2], data: bundle.expected.rows } },
      { dataframe_records: records() },
      { instances: records() },
      { instances: bundle.expected.rows },
      { inputs: columns() },
      { inputs: bundle.expected.rows },
    ];
    for (const body of bodies) {
      const r = await call(`${url}/invocations`, { body });
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(r.body).toEqual({ predictions: pred });
    }
    const csv = [IRIS_COLUMNS.join(','), ...bundle.expected.rows.map((r) => r.join(','))].join('\n') + '\n';
    const c = await call(`${url}/invocations`, { raw: csv, headers: { 'content-type': 'text/csv' } });
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ predictions: pred });
  });
});

describe('Open Inference Protocol v2', () => {
  it('answers health, server metadata and model metadata from the schema', async () => {
    expect(await call(`${url}/v2/health/live`)).toMatchObject({ status: 200, body: { live: true } });
    expect(await call(`${url}/v2/health/ready`)).toMatchObject({ status: 200, body: { ready: true } });
    expect(await call(`${url}/v2/models/iris/ready`)).toMatchObject({ status: 200, body: { name: 'iris', ready: true } });
    expect(await call(`${url}/v2/models/iris/versions/v1.2.0/ready`)).toMatchObject({ status: 200 });
    const srv = await call(`${url}/v2`);
    expect(srv.body).toMatchObject({ name: 'gitml-scoring-server', extensions: ['binary_tensor_data'] });
    expect(typeof srv.body.version).toBe('string');
    const meta = await call(`${url}/v2/models/iris`);
    expect(meta.status).toBe(200);
    expect(meta.body).toEqual({
      name: 'iris',
      versions: ['v1.2.0'],
      platform: 'sklearn',
      inputs: IRIS_COLUMNS.map((name) => ({ name, datatype: 'FP64', shape: [-1] })),
      outputs: [{ name: 'prediction', datatype: 'INT64', shape: [-1] }],
    });
    expect((await call(`${url}/v2/models/iris/versions/v1.2.0`)).status).toBe(200);
    for (const p of ['/v2/models/other', '/v2/models/other/ready', '/v2/models/iris/versions/v9.9.9']) {
      const r = await call(`${url}${p}`);
      expect(r.status).toBe(404);
      expect(r.body.code).toBe('MODEL_NOT_FOUND');
      expect(typeof r.body.error).toBe('string'); // the protocol's error shape: a message string
    }
  });

  it('infers from one [N, C] tensor and from one tensor per column', async () => {
    const pred = bundle.expected.pred;
    const twoD = await call(`${url}/v2/models/iris/infer`, {
      body: { id: 'req-1', inputs: [{ name: 'input-0', shape: [3, 4], datatype: 'FP64', data: bundle.expected.rows.flat() }] },
    });
    expect(twoD.status).toBe(200);
    expect(twoD.body).toEqual({ model_name: 'iris', model_version: 'v1.2.0', id: 'req-1', outputs: [{ name: 'prediction', shape: [3], datatype: 'INT64', data: pred }] });
    // nested row-major data is the same tensor
    const nested = await call(`${url}/v2/models/iris/versions/v1.2.0/infer`, {
      body: { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: bundle.expected.rows }] },
    });
    expect(nested.body.outputs[0].data).toEqual(pred);
    const perColumn = await call(`${url}/v2/models/iris/infer`, {
      body: {
        inputs: IRIS_COLUMNS.map((name, i) => ({
          name,
          shape: i === 0 ? [3, 1] : [3],
          datatype: i === 1 ? 'FP32' : 'FP64',
          data: bundle.expected.rows.map((r) => (i === 0 ? [r[i]] : r[i])),
        })),
        outputs: [{ name: 'prediction' }],
      },
    });
    expect(perColumn.status).toBe(200);
    expect(perColumn.body.outputs).toEqual([{ name: 'prediction', shape: [3], datatype: 'INT64', data: pred }]);
  });
});

describe('bad requests', () => {
  const v2 = (inputs: unknown) => ({ inputs });
  // built when the table is declared, before the model exists: a fixed iris row
  const row0: Record<string, unknown> = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };
  const rec = (over: Record<string, unknown>, drop?: string) => {
    const r: Record<string, unknown> = { ...row0, ...over };
    if (drop) delete r[drop];
    return r;
  };
  const cases: Array<[string, string, { body?: unknown; raw?: string; headers?: Record<string, string> }, number, string]> = [
    ['truncated JSON', '/score', { raw: '{"data": [' }, 400, 'BAD_JSON'],
    ['empty body', '/score', { raw: '' }, 400, 'BAD_JSON'],
    ['NaN is not JSON', '/score', { raw: '{"data": [[NaN, 1, 2, 3]]}' }, 400, 'BAD_JSON'],
    ['nesting 100000 deep', '/score', { raw: '['.repeat(100_000) }, 400, 'BAD_JSON'],
    ['a missing column', '/score', { body: { data: [rec({}, 'petal_width')] } }, 400, 'MISSING_COLUMN'],
    ['an unknown column', '/score', { body: { data: [rec({ colour: 'red' })] } }, 400, 'UNKNOWN_COLUMN'],
    ['a string for a double', '/score', { body: { data: [rec({ sepal_length: '5.1' })] } }, 400, 'WRONG_TYPE'],
    ['null for a double', '/score', { body: { data: [rec({ sepal_length: null })] } }, 400, 'WRONG_TYPE'],
    ['a boolean for a double', '/score', { body: { data: [rec({ sepal_length: true })] } }, 400, 'WRONG_TYPE'],
    // 1e999 is valid JSON that Python reads as infinity; 400 digits overflow a double
    ['1e999 for a double', '/score', { raw: '{"data": [[1e999, 3.5, 1.4, 0.2]]}' }, 400, 'WRONG_TYPE'],
    ['a 400-digit integer for a double', '/invocations', { raw: `{"instances": [[1${'0'.repeat(400)}, 3.5, 1.4, 0.2]]}` }, 400, 'WRONG_TYPE'],
    ['-1e999 in a v2 FP64 tensor', '/v2/models/iris/infer', { raw: '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [-1e999, 3.5, 1.4, 0.2]}]}' }, 400, 'WRONG_TYPE'],
    // MLflow reads 1e999 in CSV as infinity and hands it on; this estimator refuses it (400, not 500)
    ['1e999 in a CSV cell', '/invocations', { raw: `${IRIS_COLUMNS.join(',')}\n1e999,2,3,4\n`, headers: { 'content-type': 'text/csv' } }, 400, 'MODEL_REJECTED_INPUT'],
    ['NaN for an estimator without an imputer', '/invocations', { raw: '{"instances": [[NaN, 3.5, 1.4, 0.2]]}' }, 400, 'MODEL_REJECTED_INPUT'],
    ['null for a double on /invocations too', '/invocations', { body: { dataframe_records: [rec({ sepal_length: null })] } }, 400, 'MODEL_REJECTED_INPUT'],
    ['a string for a double on /invocations', '/invocations', { body: { dataframe_records: [rec({ sepal_length: 'NaN' })] } }, 400, 'WRONG_TYPE'],
    ['Parquet', '/invocations', { raw: 'PAR1', headers: { 'content-type': 'application/vnd.apache.parquet' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['text/plain', '/invocations', { raw: '{"instances": [[1, 2, 3, 4]]}', headers: { 'content-type': 'text/plain' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a charset other than UTF-8', '/invocations', { raw: '{"instances": [[1, 2, 3, 4]]}', headers: { 'content-type': 'application/json; charset=latin-1' } }, 415, 'UNSUPPORTED_CHARSET'],
    ['params that are not an object', '/invocations', { body: { instances: [[1, 2, 3, 4]], params: [1] } }, 400, 'BAD_REQUEST'],
    ['CSV on /score', '/score', { raw: 'a,b\n1,2\n', headers: { 'content-type': 'text/csv' } }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a binary header longer than the body', '/v2/models/iris/infer', { raw: '{}', headers: { 'inference-header-content-length': '99' } }, 400, 'BAD_REQUEST'],
    ['binary sizes that do not add up', '/v2/models/iris/infer', { raw: '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}]}' + 'x'.repeat(31), headers: { 'inference-header-content-length': '94' } }, 400, 'WRONG_SHAPE'],
    ['a short row', '/score', { body: { data: [[1, 2, 3]] } }, 400, 'WRONG_SHAPE'],
    ['a mix of rows and records', '/score', { body: { data: [[1, 2, 3, 4], rec({})] } }, 400, 'WRONG_SHAPE'],
    ['no rows', '/score', { body: { data: [] } }, 400, 'WRONG_SHAPE'],
    ['a scalar', '/score', { body: { data: 5 } }, 400, 'WRONG_SHAPE'],
    ['an extra field', '/score', { body: { data: [[1, 2, 3, 4]], extra: 1 } }, 400, 'BAD_REQUEST'],
    ['two MLflow fields', '/invocations', { body: { dataframe_records: [row0], instances: [row0] } }, 400, 'BAD_REQUEST'],
    ['no MLflow field', '/invocations', { body: {} }, 400, 'BAD_REQUEST'],
    ['unknown split columns', '/invocations', { body: { dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: [[1, 2, 3, 4]] } } }, 400, 'UNKNOWN_COLUMN'],
    ['a split row of the wrong width', '/invocations', { body: { dataframe_split: { columns: [...IRIS_COLUMNS], data: [[1, 2]] } } }, 400, 'WRONG_SHAPE'],
    ['a CSV cell that is not a number', '/invocations', { raw: `${IRIS_COLUMNS.join(',')}\n1,2,x,4\n`, headers: { 'content-type': 'text/csv' } }, 400, 'WRONG_TYPE'],
    ['data that does not fill the shape', '/v2/models/iris/infer', { body: v2([{ name: 'x', shape: [2, 4], datatype: 'FP64', data: [1, 2, 3, 4, 5, 6, 7] }]) }, 400, 'WRONG_SHAPE'],
    ['a 2-D tensor of the wrong width', '/v2/models/iris/infer', { body: v2([{ name: 'x', shape: [1, 3], datatype: 'FP64', data: [1, 2, 3] }]) }, 400, 'WRONG_SHAPE'],
    ['an unknown datatype', '/v2/models/iris/infer', { body: v2([{ name: 'x', shape: [1, 4], datatype: 'FP128', data: [1, 2, 3, 4] }]) }, 400, 'WRONG_TYPE'],
    ['a BYTES tensor for doubles', '/v2/models/iris/infer', { body: v2([{ name: 'x', shape: [1, 4], datatype: 'BYTES', data: ['1', '2', '3', '4'] }]) }, 400, 'WRONG_TYPE'],
    ['a fraction in an INT64 tensor', '/v2/models/iris/infer', { body: v2([{ name: 'x', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3.5, 4] }]) }, 400, 'WRONG_TYPE'],
    ['a missing column tensor', '/v2/models/iris/infer', { body: v2(IRIS_COLUMNS.slice(0, 3).map((name) => ({ name, shape: [1], datatype: 'FP64', data: [1] }))) }, 400, 'MISSING_COLUMN'],
    ['an unknown column tensor', '/v2/models/iris/infer', { body: v2([...IRIS_COLUMNS, 'colour'].map((name) => ({ name, shape: [1], datatype: 'FP64', data: [1] }))) }, 400, 'UNKNOWN_COLUMN'],
    ['columns of different lengths', '/v2/models/iris/infer', { body: v2(IRIS_COLUMNS.map((name, i) => ({ name, shape: [i ? 1 : 2], datatype: 'FP64', data: i ? [1] : [1, 2] }))) }, 400, 'WRONG_SHAPE'],
    ['no inputs', '/v2/models/iris/infer', { body: { inputs: [] } }, 400, 'BAD_REQUEST'],
    ['an unknown requested output', '/v2/models/iris/infer', { body: { ...v2([{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }]), outputs: [{ name: 'nope' }] } }, 400, 'UNKNOWN_OUTPUT'],
    ['an unknown model', '/v2/models/nope/infer', { body: v2([{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }]) }, 404, 'MODEL_NOT_FOUND'],
  ];
  it.each(cases)('%s (%s) → %s %s', async (_name, route, req, status, code) => {
    const r = await call(`${url}${route}`, req);
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    if (route.startsWith('/v2')) {
      expect(r.body.code).toBe(code);
      expect(typeof r.body.error).toBe('string');
    } else {
      expect(r.body.error.code).toBe(code);
      expect(typeof r.body.error.message).toBe('string');
    }
  });

  it('still scores after all of them', async () => {
    expect((await call(`${url}/score`, { body: { data: records() } })).body).toEqual({ result: bundle.expected.pred });
  });

  it('answers 404 for an unknown route, 405 with Allow for a wrong method, JSON for protocol errors', async () => {
    const nf = await call(`${url}/nope`);
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe('NOT_FOUND');
    const wrong = await call(`${url}/score`, { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('POST');
    const del = await call(`${url}/v2/health/live`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toContain('GET');
    for (const [line, status] of [
      ['BREW /score HTTP/1.1', 405],
      ['TRACE /score HTTP/1.1', 405],
      ['CONNECT /score HTTP/1.1', 405],
      ['this is not http', 400],
    ] as const) {
      const c = await rawConnect(server.port);
      c.socket.write(`${line}\r\nHost: x\r\n\r\n`);
      const res = await c.response();
      expect(res.status).toBe(status);
      expect(JSON.parse(res.body).error.code).toMatch(/^[A-Z_]+$/);
      c.socket.destroy();
    }
  });
});

describe('limits and slow clients', () => {
  it('refuses a 100 MB body from its Content-Length before reading it', async () => {
    const c = await rawConnect(server.port);
    c.socket.write(`POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
    c.socket.write(Buffer.alloc(64 * 1024, 0x20)); // the first 64 KB of 100 MB, and no more
    const res = await c.response();
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.head).toMatch(/connection: close/i);
    await c.closed; // the server closed the connection: it does not wait for the rest
    c.socket.destroy();
    // curl sends `Expect: 100-continue` for large bodies: the refusal comes instead of 100
    const e = await rawConnect(server.port);
    e.socket.write(`POST /invocations HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
    const er = await e.response();
    expect(er.status).toBe(413);
    e.socket.destroy();
  });

  it('refuses a chunked body once it passes the cap', async () => {
    const c = await rawConnect(server.port);
    c.socket.write('POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.concat([Buffer.from(`${(1024 * 1024).toString(16)}\r\n`), Buffer.alloc(1024 * 1024, 0x20), Buffer.from('\r\n')]);
    let sent = 0;
    let answered = false;
    void c.response(60_000).then(() => (answered = true), () => undefined);
    while (!answered && sent < 100 && !c.socket.destroyed) {
      const ok = c.socket.write(chunk);
      sent++;
      if (!ok) await new Promise((r) => { c.socket.once('drain', r); c.socket.once('close', r); });
    }
    const res = await c.response();
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(sent).toBeLessThan(100); // answered long before the client sent 100 MB
    c.socket.destroy();
  });

  it('a client holding a connection half-sent does not block others; requests run concurrently', async () => {
    const slowHeaders = await rawConnect(server.port);
    slowHeaders.socket.write('POST /score HTTP/1.1\r\nHost: x\r\nContent-Le');
    const slowBody = await rawConnect(server.port);
    slowBody.socket.write('POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"data": [');
    const many = await Promise.all(
      Array.from({ length: 24 }, (_, i) => call(`${url}/score`, { body: { data: [bundle.expected.rows[i % 3]] } })),
    );
    many.forEach((r, i) => expect(r.body).toEqual({ result: [bundle.expected.pred[i % 3]] }));
    expect((await call(`${url}/v2/health/ready`)).status).toBe(200);
    // the slow ones are still waiting, unanswered
    expect(slowHeaders.received().length).toBe(0);
    expect(slowBody.received().length).toBe(0);
    // and the one that finishes its body is answered
    const rest = JSON.stringify(bundle.expected.rows[0]) + ']}';
    slowBody.socket.write(rest.padEnd(200 - '{"data": ['.length, ' '));
    const res = await slowBody.response();
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ result: [bundle.expected.pred[0]] });
    slowHeaders.socket.destroy();
    slowBody.socket.destroy();
  });
});

describe('GET /metrics', () => {
  it('is Prometheus text whose counters and histogram grow with requests', async () => {
    const scrape = async () => {
      const r = await fetch(`${url}/metrics`);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePrometheus(await r.text());
    };
    // Earlier tests' connections (closed mid-request) may still be counted as they wind down:
    // start from a moment when the /score counters have stopped moving.
    const scoreCounts = (m: Awaited<ReturnType<typeof scrape>>) =>
      ['200', '400', '408'].map((code) => metric(m, 'gitml_requests_total', 'gitml_requests_total', { route: '/score', method: 'POST', code })).join();
    let before = await scrape();
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const again = await scrape();
      const settled = scoreCounts(again) === scoreCounts(before);
      before = again;
      if (settled) break;
    }
    for (let i = 0; i < 5; i++) await call(`${url}/score`, { body: { data: bundle.expected.rows } });
    await call(`${url}/score`, { body: { data: [[1, 2]] } });
    await call(`${url}/nope`);
    const after = await scrape();

    const ok = { route: '/score', method: 'POST', code: '200' };
    expect(metric(after, 'gitml_requests_total', 'gitml_requests_total', ok) - metric(before, 'gitml_requests_total', 'gitml_requests_total', ok)).toBe(5);
    const bad = { route: '/score', method: 'POST', code: '400' };
    expect(metric(after, 'gitml_requests_total', 'gitml_requests_total', bad) - metric(before, 'gitml_requests_total', 'gitml_requests_total', bad)).toBe(1);
    const err = { route: '/score', code: 'WRONG_SHAPE' };
    expect(metric(after, 'gitml_request_errors_total', 'gitml_request_errors_total', err) - metric(before, 'gitml_request_errors_total', 'gitml_request_errors_total', err)).toBe(1);
    expect(metric(after, 'gitml_request_errors_total', 'gitml_request_errors_total', { route: 'unmatched', code: 'NOT_FOUND' })).toBeGreaterThanOrEqual(1);
    expect(metric(after, 'gitml_scored_rows_total', 'gitml_scored_rows_total') - metric(before, 'gitml_scored_rows_total', 'gitml_scored_rows_total')).toBe(15);
    expect(metric(after, 'gitml_model_ready', 'gitml_model_ready', { model: 'iris', version: 'v1.2.0' })).toBe(1);

    const h = after.get('gitml_request_duration_seconds')!;
    expect(h.type).toBe('histogram');
    const buckets = h.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.route === '/score');
    expect(buckets.length).toBeGreaterThan(5);
    const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
    expect(les).toEqual([...les].sort((a, b) => a - b));
    buckets.slice(1).forEach((b, i) => expect(b.value).toBeGreaterThanOrEqual(buckets[i].value));
    const count = metric(after, 'gitml_request_duration_seconds', 'gitml_request_duration_seconds_count', { route: '/score' });
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
    expect(buckets.at(-1)!.value).toBe(count);
    expect(count - metric(before, 'gitml_request_duration_seconds', 'gitml_request_duration_seconds_count', { route: '/score' })).toBe(6);
    expect(metric(after, 'gitml_request_duration_seconds', 'gitml_request_duration_seconds_sum', { route: '/score' })).toBeGreaterThan(0);
    expect(after.get('gitml_requests_total')!.type).toBe('counter');
    expect(after.get('gitml_model_ready')!.type).toBe('gauge');
  });
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.0 document for every route, and real requests and answers match it', async () => {
    const doc = (await call(`${url}/openapi.json`)).body;
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: 'v1.2.0' });

    // Structure: operations with responses and descriptions, declared path parameters,
    // unique operationIds, resolvable $refs, and only keywords OpenAPI 3.0 schemas allow.
    const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
    const ids = new Set<string>();
    for (const [p, item] of Object.entries<any>(doc.paths)) {
      expect(p.startsWith('/')).toBe(true);
      for (const [m, op] of Object.entries<any>(item)) {
        expect(methods).toContain(m);
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const [code, r] of Object.entries<any>(op.responses)) {
          expect(code).toMatch(/^[1-5]\d\d$|^default$/);
          expect(typeof r.description).toBe('string');
        }
        const declared = (op.parameters ?? []).filter((x: any) => x.in === 'path').map((x: any) => x.name).sort();
        const templated = [...p.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]).sort();
        expect(declared).toEqual(templated);
        for (const prm of op.parameters ?? []) if (prm.in === 'path') expect(prm.required).toBe(true);
      }
    }
    const refs: string[] = [];
    const walk = (x: unknown, inSchema: boolean): void => {
      if (Array.isArray(x)) return x.forEach((v) => walk(v, inSchema));
      if (!x || typeof x !== 'object') return;
      for (const [k, v] of Object.entries(x)) {
        if (k === '$ref') refs.push(v as string);
        if (inSchema) {
          expect(['const', 'prefixItems', '$defs', '$schema', 'examples', 'if', 'then', 'else', 'dependentRequired']).not.toContain(k);
          if (k === 'type') expect(typeof v).toBe('string');
        }
        // property names inside `properties` are data, not keywords
        if (k === 'properties') for (const s of Object.values(v as object)) walk(s, true);
        else walk(v, inSchema || k === 'schema' || k === 'schemas');
      }
    };
    walk(doc, false);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split('/').pop()!]).toBeDefined();
    }

    // Every route the server lists is described.
    const index = (await call(`${url}/`)).body;
    for (const route of index.routes as string[]) {
      const [m, p] = route.split(' ');
      const templ = p.replace('/v2/models/iris', '/v2/models/{model_name}');
      expect(doc.paths[templ]?.[m.toLowerCase()], route).toBeDefined();
    }

    // The schemas are the truth about the server: its answers validate, bad bodies do not.
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: 'api' });
    const schemaOf = (p: string, m: string, status: string) => {
      const s = doc.paths[p][m].responses[status].content['application/json'].schema;
      return ajv.compile({ $ref: `api${s.$ref}` });
    };
    const reqSchema = (p: string) => ajv.compile({ $ref: `api${doc.paths[p].post.requestBody.content['application/json'].schema.$ref}` });
    const expectValid = (validate: ReturnType<Ajv['compile']>, body: unknown) => expect(validate(body), JSON.stringify(validate.errors)).toBe(true);

    const scoreReq = { data: records() };
    expectValid(reqSchema('/score'), scoreReq);
    expect(reqSchema('/score')({ data: [{ ...records()[0], colour: 'red' }] })).toBe(false);
    expect(reqSchema('/score')({ data: [[1, 2, 3]] })).toBe(false);
    expectValid(schemaOf('/score', 'post', '200'), (await call(`${url}/score`, { body: scoreReq })).body);
    expectValid(schemaOf('/score', 'post', '400'), (await call(`${url}/score`, { body: { data: [[1]] } })).body);
    const mlReq = { dataframe_split: { columns: [...IRIS_COLUMNS], data: bundle.expected.rows } };
    expectValid(reqSchema('/invocations'), mlReq);
    expect(reqSchema('/invocations')({ dataframe_records: records(), instances: records() })).toBe(false);
    expectValid(schemaOf('/invocations', 'post', '200'), (await call(`${url}/invocations`, { body: mlReq })).body);
    const inferReq = { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP64', data: bundle.expected.rows.flat() }] };
    expectValid(reqSchema('/v2/models/{model_name}/infer'), inferReq);
    expectValid(schemaOf('/v2/models/{model_name}/infer', 'post', '200'), (await call(`${url}/v2/models/iris/infer`, { body: inferReq })).body);
    expectValid(schemaOf('/v2/models/{model_name}/infer', 'post', '400'), (await call(`${url}/v2/models/iris/infer`, { body: { inputs: [] } })).body);
    expectValid(schemaOf('/v2/models/{model_name}', 'get', '200'), (await call(`${url}/v2/models/iris`)).body);
    expectValid(schemaOf('/v2', 'get', '200'), (await call(`${url}/v2`)).body);
    expectValid(schemaOf('/', 'get', '200'), index);
    expect(doc.components.schemas.Record.example).toEqual(records()[0]);
  });
});

describe('request sampling', () => {
  it('appends one JSON line per scored request, with inputs as records and the outputs', async () => {
    const lines = () => (existsSync(sampleLog) ? readFileSync(sampleLog, 'utf8').split('\n').filter(Boolean) : []);
    const before = lines().length;
    await call(`${url}/invocations`, { body: { instances: bundle.expected.rows } });
    await call(`${url}/score`, { body: { data: [[1]] } }); // refused: not sampled
    await Promise.all(Array.from({ length: 20 }, () => call(`${url}/score`, { body: { data: [bundle.expected.rows[1]] } })));
    const all = lines();
    expect(all.length - before).toBe(21);
    const parsed = all.slice(before).map((l) => JSON.parse(l));
    const first = parsed.find((p) => p.route === '/invocations');
    expect(first).toMatchObject({ model: 'iris', version: 'v1.2.0', inputs: records(), outputs: bundle.expected.pred });
    expect(Number.isNaN(Date.parse(first.ts))).toBe(false);
    expect(parsed.filter((p) => p.route === '/score')).toHaveLength(20);
  });
});

describe('--check', () => {
  it('loads the model, scores sample.json and prints the result', () => {
    expect(bundleValid(bundle.dir)).toBe(true);
    const r = spawnSync(testPython(), [SERVER, '--model-dir', bundle.dir, '--check'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ result: bundle.expected.pred });
  });
});

// A pipeline that selects columns by name only works on a DataFrame; asking for
// predict_proba gives one row of probabilities per record: a [N, 3] output tensor.
const TRAIN_PIPELINE = `
import json, pickle, sys
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
out = sys.argv[1]
d = load_iris(as_frame=True)
X = d.data.copy()
X.columns = ${JSON.stringify(IRIS_COLUMNS)}
m = make_pipeline(ColumnTransformer([("petals", StandardScaler(), ["petal_length", "petal_width"])]), LogisticRegression(max_iter=1000)).fit(X, d.target)
with open(out + "/model/model.pkl", "wb") as f:
    pickle.dump(m, f)
rows = X.iloc[[0, 60, 120]]
json.dump(rows.to_dict(orient="records"), open(out + "/sample.json", "w"))
json.dump({"rows": rows.values.tolist(), "proba": m.predict_proba(rows).tolist()}, open(out + "/expected.json", "w"))
`;

describe('built-in loader: a DataFrame-only pipeline with method predict_proba', () => {
  let s: RunningServer;
  let expected: { rows: number[][]; proba: number[][] };
  beforeAll(async () => {
    const dir = tmpDir('gitml-serve-pipe-');
    dirs.push(dir);
    writeBundle(dir, {
      'server.json': { model: 'iris-proba', version: 'v2.0.0', flavor: 'sklearn', artifact: 'model/model.pkl', scoring: null, runtime: '1.0.0', method: 'predict_proba' },
      'schema.json': { inputs: IRIS_COLUMNS.map((name) => ({ name, type: 'double' })), outputs: [{ name: 'probabilities', type: 'double' }] },
      'model/.keep': '',
    });
    const r = spawnSync(testPython(), ['-c', TRAIN_PIPELINE, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
    s = await startServer(dir, { ready: true });
  });
  afterAll(async () => {
    expect(await s?.stop()).toBe(0);
  });

  it('scores through a DataFrame and returns one probability row per record on every protocol', async () => {
    const close = (got: number[][]) => got.forEach((row, i) => row.forEach((p, j) => expect(p).toBeCloseTo(expected.proba[i][j], 12)));
    const a = await call(`${s.url}/score`, { body: { data: expected.rows } });
    expect(a.status).toBe(200);
    close(a.body.result);
    const b = await call(`${s.url}/invocations`, { body: { dataframe_split: { columns: [...IRIS_COLUMNS].reverse(), data: expected.rows.map((r) => [...r].reverse()) } } });
    close(b.body.predictions);
    const c = await call(`${s.url}/v2/models/iris-proba/infer`, { body: { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP64', data: expected.rows }] } });
    expect(c.status).toBe(200);
    const [t] = c.body.outputs;
    expect(t).toMatchObject({ name: 'probabilities', shape: [3, 3], datatype: 'FP64' });
    close([t.data.slice(0, 3), t.data.slice(3, 6), t.data.slice(6, 9)]);
  });
});
