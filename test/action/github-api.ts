/**
 * A local HTTP server standing in for GitHub's REST API, held to GitHub's published OpenAPI
 * description (@octokit/openapi, api.github.com): every request must match an operation of the
 * description (method and path), its path and query parameters and its JSON body must validate
 * against the operation's schemas, and it must carry the token. Answers are the description's
 * own examples, with the fields the Action reads (ids, bodies) filled in from the server's
 * state, so comments are listed, created and edited as on GitHub.
 *
 * Faults are scripted per operation id (`fail('checks/create', { status: 503 })`): each answer
 * is used once, in order; `deny` answers 403 every time (a token without that permission).
 * GitHub's size limits are enforced as GitHub does (422): comment bodies up to 65,536
 * characters, check-run output text up to 65,535 bytes.
 */
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Ajv, type ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let specCache: Json;
function spec(): Json {
  return (specCache ??= require('@octokit/openapi/generated/api.github.com.json'));
}

interface Route {
  method: string;
  template: string;
  re: RegExp;
  names: string[];
  op: Json;
}

let routesCache: Route[] | undefined;
function routes(): Route[] {
  if (routesCache) return routesCache;
  const out: Route[] = [];
  for (const [template, item] of Object.entries<Json>(spec().paths)) {
    const names: string[] = [];
    const re = new RegExp('^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_m, n: string) => (names.push(n), '([^/]+)')) + '$');
    for (const method of ['get', 'post', 'patch', 'put', 'delete']) if (item[method]) out.push({ method: method.toUpperCase(), template, re, names, op: item[method] });
  }
  // Literal segments win over parameters (`/issues/comments/{id}` before `/issues/{number}/comments`).
  out.sort((a, b) => a.names.length - b.names.length);
  return (routesCache = out);
}

function resolve(x: Json): Json {
  let v = x;
  while (v && typeof v === 'object' && typeof v.$ref === 'string') {
    v = v.$ref
      .slice(2)
      .split('/')
      .reduce((o: Json, k: string) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], spec());
  }
  return v;
}

let ajvCache: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();
/** A validator for the schema at `pointer` in the description (refs resolved by ajv against the document). */
function validator(pointer: string): ValidateFunction {
  let v = compiled.get(pointer);
  if (!v) {
    if (!ajvCache) {
      // OpenAPI 3.0 schemas: `nullable` is ajv's own keyword; `example` and x- keywords are not JSON Schema; formats are not checked.
      ajvCache = new Ajv({ strict: false, allErrors: true, validateFormats: false });
      ajvCache.addSchema({ ...spec(), $id: 'gh' });
    }
    v = ajvCache.compile({ $ref: `gh#${pointer}` });
    compiled.set(pointer, v);
  }
  return v;
}

const ptr = (...parts: string[]) => '/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

export interface RecordedRequest {
  method: string;
  path: string;
  operationId?: string;
  body?: Json;
  status: number;
  /** Milliseconds since the server started. */
  at: number;
  /** Where the request broke the description (empty: it conforms). */
  problems: string[];
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: Json;
}

export interface FakeGitHub {
  url: string;
  requests: RecordedRequest[];
  /** Requests that broke the description. */
  violations(): RecordedRequest[];
  comments: Array<{ id: number; body: string; issue: number }>;
  checkRuns: Json[];
  fail(operationId: string, ...answers: Answer[]): void;
  deny(operationId: string): void;
  /** Forget requests, scripted answers and denials (comments and check runs stay). */
  clear(): void;
  stop(): Promise<void>;
}

function example(op: Json, status: string): Json {
  const content = resolve(op.responses?.[status])?.content?.['application/json'];
  if (!content) return undefined;
  const ex = content.examples ? resolve(Object.values<Json>(content.examples)[0]) : undefined;
  return structuredClone(ex?.value ?? content.example);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((done, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeGitHub(opts: { token: string }): Promise<FakeGitHub> {
  const started = Date.now();
  const requests: RecordedRequest[] = [];
  const comments: FakeGitHub['comments'] = [];
  const checkRuns: Json[] = [];
  const scripted = new Map<string, Answer[]>();
  const denied = new Set<string>();
  let nextId = 1000;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = await readBody(req);
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: u.pathname + u.search, status: 0, at: Date.now() - started, problems: [] };
    requests.push(rec);
    const send = (a: Answer) => {
      rec.status = a.status;
      res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8', 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4999', ...a.headers });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    };
    if (req.headers.authorization !== `token ${opts.token}` && req.headers.authorization !== `Bearer ${opts.token}`) rec.problems.push('no valid token in Authorization');
    const route = routes().find((r) => r.method === rec.method && r.re.test(u.pathname));
    if (!route) {
      rec.problems.push(`no operation ${rec.method} ${u.pathname} in GitHub's description`);
      return send({ status: 404, body: { message: 'Not Found' } });
    }
    rec.operationId = route.op.operationId;
    const m = route.re.exec(u.pathname)!;
    const pathParams = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    for (const p0 of route.op.parameters ?? []) {
      const p = resolve(p0);
      if (p.in !== 'path' && p.in !== 'query') continue;
      const v = p.in === 'path' ? pathParams[p.name] : (u.searchParams.get(p.name) ?? undefined);
      if (v === undefined) {
        if (p.required) rec.problems.push(`missing ${p.in} parameter ${p.name}`);
        continue;
      }
      const t = resolve(p.schema)?.type;
      if (t === 'integer' && !/^-?\d+$/.test(v)) rec.problems.push(`${p.in} parameter ${p.name}=${v} is not an integer`);
    }
    for (const k of u.searchParams.keys()) {
      if (!(route.op.parameters ?? []).some((p0: Json) => resolve(p0).in === 'query' && resolve(p0).name === k)) rec.problems.push(`unknown query parameter ${k}`);
    }
    let body: Json;
    const rb = resolve(route.op.requestBody);
    if (text) {
      try {
        body = JSON.parse(text);
        rec.body = body;
      } catch {
        rec.problems.push('request body is not JSON');
      }
    }
    if (rb?.content?.['application/json']) {
      if (body === undefined && rb.required) rec.problems.push('missing request body');
      else if (body !== undefined) {
        const v = validator(ptr('paths', route.template, route.method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema'));
        if (!v(body)) rec.problems.push(...(v.errors ?? []).map((e) => `body${e.instancePath} ${e.message}`));
      }
    } else if (body !== undefined) rec.problems.push('this operation takes no JSON body');
    if (rec.problems.length) return send({ status: 422, body: { message: 'Validation Failed', errors: rec.problems } });

    const id = rec.operationId!;
    const queue = scripted.get(id);
    if (queue?.length) return send(queue.shift()!);
    if (denied.has(id)) return send({ status: 403, body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' } });

    switch (id) {
      case 'issues/list-comments': {
        const issue = Number(pathParams.issue_number);
        const proto = example(route.op, '200')[0];
        return send({ status: 200, body: comments.filter((c) => c.issue === issue).map((c) => ({ ...proto, id: c.id, body: c.body })) });
      }
      case 'issues/create-comment': {
        if (body.body.length > 65_536) return send({ status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'IssueComment', code: 'custom', field: 'body', message: 'body is too long (maximum is 65536 characters)' }] } });
        const c = { id: nextId++, body: body.body, issue: Number(pathParams.issue_number) };
        comments.push(c);
        return send({ status: 201, body: { ...example(route.op, '201'), id: c.id, body: c.body } });
      }
      case 'issues/update-comment': {
        const c = comments.find((x) => x.id === Number(pathParams.comment_id));
        if (!c) return send({ status: 404, body: { message: 'Not Found' } });
        if (body.body.length > 65_536) return send({ status: 422, body: { message: 'Validation Failed' } });
        c.body = body.body;
        return send({ status: 200, body: { ...example(route.op, '200'), id: c.id, body: c.body } });
      }
      case 'checks/create': {
        const o = body.output ?? {};
        if (['summary', 'text'].some((k) => typeof o[k] === 'string' && Buffer.byteLength(o[k]) > 65_535)) return send({ status: 422, body: { message: 'Invalid request.\n\nOnly 65535 characters are allowed.' } });
        const run = { ...example(route.op, '201'), id: nextId++, head_sha: body.head_sha, name: body.name, status: body.status, conclusion: body.conclusion, output: { ...o } };
        checkRuns.push(run);
        return send({ status: 201, body: run });
      }
      default: {
        const ok = Object.keys(route.op.responses ?? {}).find((s) => /^2/.test(s)) ?? '200';
        return send({ status: Number(ok), body: example(route.op, ok) });
      }
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    violations: () => requests.filter((r) => r.problems.length),
    comments,
    checkRuns,
    fail: (op, ...answers) => scripted.set(op, [...(scripted.get(op) ?? []), ...answers]),
    deny: (op) => void denied.add(op),
    clear: () => {
      requests.splice(0);
      scripted.clear();
      denied.clear();
    },
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
