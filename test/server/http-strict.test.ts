/**
 * The scoring server behind a proxy: request framing must be read one way only, or a proxy and
 * the server can disagree on where a request ends (request smuggling). Lenient readings the
 * server used to accept: chunk sizes in Python's int() syntax (0x12, 1_2, +12, -0), two
 * Transfer-Encoding headers, a Content-Length of non-ASCII digits (a 500). And what a client
 * puts in a URL (a model name with escapes, `..`) is never a file path and never a raw log line.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeDir, tmpDir } from '../support/repo.js';
import { rawConnect, startServer, waitFor, writeBundle, type RunningServer } from './helpers.js';

let dir = '';
let server: RunningServer;
beforeAll(async () => {
  dir = writeBundle(tmpDir('gitml-strict-'), {
    'server.json': { model: 'm', version: 'v1.0.0', flavor: 'python', scoring: 'score.py', runtime: '1.0.0' },
    'schema.json': { inputs: [{ name: 'x', type: 'double' }], outputs: [] },
    'score.py': 'def init():\n    pass\n\ndef run(data):\n    if data[0]["x"] == 13:\n        raise SystemExit(3)\n    return [r["x"] * 2 for r in data]\n',
  });
  server = await startServer(dir, { ready: true });
});
afterAll(async () => {
  await server?.stop();
  removeDir(dir);
});

const BODY = '{"data":[{"x":1}]}';

async function send(raw: Buffer | string, opts: { waitClose?: boolean } = {}): Promise<{ status: number; body: string; closed: boolean }> {
  const c = await rawConnect(server.port);
  c.socket.write(raw);
  const r = await c.response();
  // A refused framing must also end the connection: what follows is not a request.
  const closed = opts.waitClose ? await Promise.race([c.closed.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 2000))]) : false;
  c.socket.destroy();
  return { status: r.status, body: r.body, closed };
}

const chunked = (size: string) => `POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n${BODY}\r\n0\r\n\r\n`;

describe('one connection', () => {
  test('Expect: 100-continue gets 100 Continue before the body, for a Content-Length and a chunked body', async () => {
    for (const framing of [`Content-Length: ${BODY.length}`, 'Transfer-Encoding: chunked']) {
      const c = await rawConnect(server.port);
      c.socket.write(`POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n${framing}\r\n\r\n`);
      await waitFor(() => c.received().toString().startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 5_000);
      c.socket.write(framing.startsWith('Content') ? BODY : `${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`);
      await waitFor(() => c.received().toString().includes('{"result":[2.0]}'), 5_000);
      expect(c.received().toString()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
      c.socket.destroy();
    }
  });

  test('run() calling sys.exit() fails its request (500), not the server', async () => {
    const r = await fetch(`${server.url}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"data":[{"x":13}]}' });
    expect(r.status).toBe(500);
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toEqual({ code: 'SCORING_FAILED', message: 'run() raised RuntimeError: SystemExit: 3' });
    const ok = await fetch(`${server.url}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
    expect(await ok.text()).toBe('{"result":[2.0]}');
    expect(server.log()).toMatch(/raise SystemExit\(3\)/); // the traceback names the line in score.py
  });

  test('pipelined requests, sent in one write and a byte at a time, are answered in order', async () => {
    const reqs = [1, 2, 3].map((x) => {
      const body = `{"data":[{"x":${x}}]}`;
      return `POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    });
    const wire = reqs.join('') + 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n';
    for (const bytewise of [false, true]) {
      const c = await rawConnect(server.port);
      if (bytewise) for (const ch of wire) c.socket.write(ch);
      else c.socket.write(wire);
      await waitFor(() => (c.received().toString().match(/HTTP\/1\.1 200/g) ?? []).length === 4, 10_000);
      const text = c.received().toString();
      const bodies = text.split(/\r\n\r\n/).slice(1).map((b) => b.replace(/HTTP\/1\.1[\s\S]*$/, ''));
      expect(bodies).toEqual(['{"result":[2.0]}', '{"result":[4.0]}', '{"result":[6.0]}', '{"live":true}']);
      c.socket.destroy();
    }
  });
});

describe('a client that does not read its answers', () => {
  test('pipelining requests without reading: the server stops reading, its memory stays bounded, others are served', async () => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))![1]) / 1024;
    const before = rss();
    const c = await rawConnect(server.port);
    // 1 MB of requests for the OpenAPI document: answered whole, a few GB of answers.
    const one = Buffer.from('GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n');
    c.socket.pause(); // never read
    c.socket.write(Buffer.concat(Array.from({ length: Math.ceil(1e6 / one.length) }, () => one)));
    await new Promise((r) => setTimeout(r, 3000));
    expect(rss() - before).toBeLessThan(64);
    const r = await fetch(`${server.url}/v2/health/ready`);
    expect(r.status).toBe(200);
    c.socket.destroy();
  });
});

describe('request framing is strict', () => {
  test('a well-formed chunked body is accepted (hex size, optional extension)', async () => {
    const n = BODY.length.toString(16);
    expect((await send(chunked(n))).status).toBe(200);
    expect((await send(chunked(`${n.toUpperCase()};name=value`))).status).toBe(200);
  });

  test.each(['0x12', '1_2', '+12', ' 0x12'])('chunk size %j is refused with 400 and the connection closed', async (size) => {
    const r = await send(chunked(size), { waitClose: true });
    expect(r.status).toBe(400);
    expect(r.closed).toBe(true);
  });

  test('a last chunk of "-0" is refused', async () => {
    const r = await send(`POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe('BAD_REQUEST');
  });

  test('two Transfer-Encoding headers are refused', async () => {
    const r = await send(`POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`, { waitClose: true });
    expect(r.status).toBe(400);
    expect(r.closed).toBe(true);
  });

  // The e-mail parser http.server uses took a line that is no field for the start of a body:
  // the fields after it (a Content-Length here) were ignored, and the body read as the next request.
  test.each([
    ['a line with no colon', 'X-Note\r\n'],
    ['obs-fold (a continuation line)', 'X-Note: a\r\n  b\r\n'],
    ['space before the colon', 'X-Note : a\r\n'],
    ['an empty field name', ': a\r\n'],
  ])('a header block with %s is refused with 400 and the connection closed', async (_what, bad) => {
    const r = await send(`POST /score HTTP/1.1\r\nHost: x\r\n${bad}Content-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`, { waitClose: true });
    expect(r.status).toBe(400);
    expect(r.closed).toBe(true);
  });

  test('header names are case-insensitive and a field may repeat; 101 fields are too many (431)', async () => {
    const ok = await send(`POST /score HTTP/1.1\r\nhOsT: x\r\nCONTENT-TYPE: application/json\r\nX-A: 1\r\nX-A: 2\r\ncontent-length: ${BODY.length}\r\n\r\n${BODY}`);
    expect([ok.status, JSON.parse(ok.body)]).toEqual([200, { result: [2] }]);
    const many = Array.from({ length: 101 }, (_, i) => `X-${i}: v\r\n`).join('');
    expect((await send(`GET /ping HTTP/1.1\r\nHost: x\r\n${many}\r\n`)).status).toBe(431);
  });

  test('a Content-Length of non-ASCII digits is a 400, not a 500', async () => {
    const r = await send(Buffer.concat([Buffer.from('POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: '), Buffer.from([0xb2]), Buffer.from('\r\n\r\n')]));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.code).toBe('BAD_REQUEST');
  });
});

describe('what a client puts in the URL', () => {
  test.each(['/v2/models/../../etc/passwd', '/v2/models/%2e%2e%2f%2e%2e%2fetc%2fpasswd/ready', '/v2/models/m%00/infer'])('%s is an unknown model, nothing is read', async (p) => {
    const r = await send(`GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect([404, 405]).toContain(r.status);
    expect(r.body).not.toMatch(/root:/);
  });

  test('a model name with escapes and a newline comes back JSON-escaped and leaves one clean log line', async () => {
    const before = server.log().length;
    const r = await send(`GET /v2/models/%1b%5b2J%0aFORGED%20200/ready HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).code).toBe('MODEL_NOT_FOUND');
    // access lines may be written together, up to 50 ms after the answer
    await waitFor(() => server.log().slice(before).includes(' 404 '), 5_000);
    const logged = server.log().slice(before);
    expect(logged).not.toMatch(/\x1b/);
    expect(logged.trim().split('\n')).toHaveLength(1);
  });
});
