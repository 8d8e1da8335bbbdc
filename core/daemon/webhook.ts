/**
 * Push webhooks from GitHub, GitLab and Gitea, each verified by its own scheme against one
 * shared secret: GitHub's `X-Hub-Signature-256` (`sha256=` + HMAC-SHA256 of the body), Gitea's
 * `X-Gitea-Signature` (hex HMAC-SHA256 of the body), GitLab's `X-Gitlab-Token` (the secret
 * itself). A verified push only wakes the daemon for a fetch: the payload is never trusted
 * for what changed, the fetched refs are.
 *
 * Answers: 202 accepted; 200 for a verified delivery that triggers nothing (a ping, another
 * event, a replayed delivery id); 401 wrong or missing signature (nothing queued); 400
 * malformed JSON; 413 a body over the limit, refused from its Content-Length or as soon as the
 * bytes read pass the limit, never buffered; 405 not a POST. A handler error is a 500, never
 * a crash of the daemon.
 *
 * @example
 *   const s = await startWebhook({ host: '127.0.0.1', port: 9000, secret, onPush: (p) => fetchNow(p) });
 *   await s.close();
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Provider = 'github' | 'gitlab' | 'gitea';

export interface PushHook {
  provider: Provider;
  delivery?: string;
  event: string;
  ref?: string;
}

export interface WebhookOptions {
  host: string;
  port: number;
  secret: string;
  /** Largest body read (bytes); GitHub caps payloads at 25 MB. */
  maxBodyBytes?: number;
  onPush: (p: PushHook) => void;
  /** Every refused or ignored delivery, for the log. */
  onRefused?: (r: { status: number; reason: string; provider?: Provider; delivery?: string }) => void;
}

export interface WebhookServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export const MAX_WEBHOOK_BODY = 25 * 1024 * 1024;
const SEEN_MAX = 10_000;
/** How long, and how many more bytes, an oversized body is read and dropped after its 413. */
const LINGER_MS = 30_000;
const LINGER_BYTES = 128 * 1024 * 1024;

const PUSH_EVENTS: Record<Provider, string[]> = {
  github: ['push', 'create'],
  gitea: ['push', 'create'],
  gitlab: ['Push Hook', 'Tag Push Hook'],
};

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sameBytes(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Which provider sent it (Gitea also sends GitHub's headers, so it is asked first). */
function providerOf(req: http.IncomingMessage): Provider | undefined {
  if (header(req, 'x-gitea-event')) return 'gitea';
  if (header(req, 'x-gitlab-event')) return 'gitlab';
  if (header(req, 'x-github-event')) return 'github';
  return undefined;
}

/** How far a signed GitLab delivery's `webhook-timestamp` may be from this clock (Standard Webhooks' default). */
export const SIGNED_TIMESTAMP_TOLERANCE_S = 5 * 60;

/**
 * GitLab's signing token (the Standard Webhooks scheme): `webhook-signature` holds one or more
 * space-separated `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>`, keyed
 * by the secret (a `whsec_<base64>` secret is decoded first, as the specification's libraries
 * do); a timestamp outside the tolerance is refused, so a captured delivery cannot be replayed.
 */
function standardWebhookValid(h: (n: string) => string | undefined, body: Buffer, secret: string, nowMs: number): boolean {
  const id = h('webhook-id');
  const ts = h('webhook-timestamp');
  const sig = h('webhook-signature');
  if (!id || !ts || !sig || !/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(nowMs / 1000 - Number(ts)) > SIGNED_TIMESTAMP_TOLERANCE_S) return false;
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const want = createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
  return sig.split(' ').some((entry) => entry.startsWith('v1,') && sameBytes(entry.slice(3), want));
}

/**
 * Whether the delivery carries the right signature for its provider: GitHub's
 * `X-Hub-Signature-256: sha256=<hex>` and Gitea's (and Forgejo's) `X-Gitea-Signature: <hex>`,
 * HMAC-SHA256 of the exact body; GitLab's signing token when the delivery is signed
 * (`webhook-signature`), else its secret token (`X-Gitlab-Token`, the secret itself).
 */
export function verify(provider: Provider, headers: http.IncomingHttpHeaders, body: Buffer, secret: string, nowMs = Date.now()): boolean {
  const h = (n: string) => {
    const v = headers[n];
    return Array.isArray(v) ? v[0] : v;
  };
  const hmac = () => createHmac('sha256', secret).update(body).digest('hex');
  if (provider === 'gitlab') {
    if (h('webhook-signature') !== undefined) return standardWebhookValid(h, body, secret, nowMs);
    const t = h('x-gitlab-token');
    return t !== undefined && sameBytes(t, secret);
  }
  if (provider === 'gitea') {
    const s = h('x-gitea-signature');
    return s !== undefined && sameBytes(s.toLowerCase(), hmac());
  }
  const s = h('x-hub-signature-256');
  return s !== undefined && sameBytes(s.toLowerCase(), `sha256=${hmac()}`);
}

function deliveryOf(provider: Provider, req: http.IncomingMessage): string | undefined {
  if (provider === 'github') return header(req, 'x-github-delivery');
  if (provider === 'gitea') return header(req, 'x-gitea-delivery');
  return header(req, 'x-gitlab-event-uuid') ?? header(req, 'webhook-id') ?? header(req, 'idempotency-key');
}

export async function startWebhook(o: WebhookOptions): Promise<WebhookServer> {
  const max = o.maxBodyBytes ?? MAX_WEBHOOK_BODY;
  const seen = new Map<string, true>();
  const reply = (res: http.ServerResponse, status: number, body: Record<string, unknown>) => {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body) + '\n');
  };

  const server = http.createServer((req, res) => {
    const refuse = (status: number, reason: string, extra: { provider?: Provider; delivery?: string } = {}) => {
      o.onRefused?.({ status, reason, ...extra });
      reply(res, status, { error: reason });
    };
    try {
      if (req.method !== 'POST') {
        req.resume();
        return refuse(405, 'webhooks are POST requests');
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      const tooBig = () => {
        over = true;
        chunks.length = 0;
        // A lingering close: the answer goes out at once, what the client still sends is read
        // and dropped (never kept), and the connection is ended when the body ends, or cut
        // once LINGER_MS or LINGER_BYTES more have passed whatever it sends. Answering with
        // `Connection: close` instead makes Node destroy the socket as soon as the answer is
        // flushed, so a sender still writing its body sees a reset (EPIPE), not the 413.
        refuse(413, `body over ${max} bytes`);
        const socket = req.socket;
        let dropped = 0;
        req.on('data', (c: Buffer) => {
          dropped += c.length;
          if (dropped > LINGER_BYTES) socket.destroy();
        });
        req.once('end', () => socket.end());
        req.resume();
        setTimeout(() => socket.destroy(), LINGER_MS).unref();
      };
      const declared = Number(header(req, 'content-length') ?? NaN);
      if (declared > max) return tooBig();
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > max) return tooBig();
        chunks.push(c);
      });
      req.on('error', () => req.socket.destroy());
      req.on('end', () => {
        if (over) return;
        try {
          handle(req, res, Buffer.concat(chunks), refuse);
        } catch {
          refuse(500, 'internal error');
        }
      });
    } catch {
      refuse(500, 'internal error');
    }
  });

  function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, refuse: (s: number, r: string, x?: { provider?: Provider; delivery?: string }) => void): void {
    const provider = providerOf(req);
    if (!provider) return refuse(401, 'no GitHub, GitLab or Gitea webhook headers');
    const delivery = deliveryOf(provider, req);
    if (!verify(provider, req.headers, body, o.secret)) return refuse(401, `wrong or missing ${provider} signature`, { provider, delivery });
    let payload: { ref?: unknown };
    try {
      payload = JSON.parse(body.toString('utf8')) as { ref?: unknown };
    } catch {
      return refuse(400, 'the body is not JSON', { provider, delivery });
    }
    if (delivery !== undefined && seen.has(delivery)) {
      o.onRefused?.({ status: 200, reason: 'replayed delivery', provider, delivery });
      return reply(res, 200, { ignored: 'replayed delivery' });
    }
    if (delivery !== undefined) {
      seen.set(delivery, true);
      if (seen.size > SEEN_MAX) seen.delete(seen.keys().next().value as string);
    }
    const event = header(req, `x-${provider}-event`) ?? '';
    if (!PUSH_EVENTS[provider].includes(event)) {
      o.onRefused?.({ status: 200, reason: `event ${event} triggers nothing`, provider, delivery });
      return reply(res, 200, { ignored: event });
    }
    const ref = payload && typeof payload === 'object' && typeof payload.ref === 'string' ? payload.ref : undefined;
    reply(res, 202, { accepted: true });
    o.onPush({ provider, delivery, event, ref });
  }

  server.on('clientError', (_e, socket) => socket.destroy());
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
