/**
 * The webhook receiver on its own: an oversized delivery gets its 413 whatever the timing of
 * the sender's writes (it must not see a reset while still sending), and a signed push after
 * a burst of them is accepted.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNED_TIMESTAMP_TOLERANCE_S, startWebhook, verify, type PushHook, type WebhookServer } from '../../core/daemon/webhook.js';

const secret = 'hook-secret';
let server: WebhookServer;
const pushes: PushHook[] = [];
const refused: number[] = [];

beforeAll(async () => {
  server = await startWebhook({
    host: '127.0.0.1',
    port: 0,
    secret,
    maxBodyBytes: 1024 * 1024,
    onPush: (p) => pushes.push(p),
    onRefused: (r) => refused.push(r.status),
  });
});
afterAll(() => server.close());

/** POST `size` bytes, writing as fast as the socket takes them until an answer arrives. */
function send(size: number, declared: boolean, id: string) {
  return new Promise<{ status?: number; error?: string }>((resolve) => {
    const req = http.request({
      host: '127.0.0.1',
      port: server.address.port,
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': id, 'x-hub-signature-256': 'sha256=00', ...(declared ? { 'content-length': String(size) } : {}) },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve({ status: res.statusCode });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => answered || resolve({ error: e.code ?? e.message }));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (sent >= size) req.end();
    };
    pump();
  });
}

describe('webhook receiver', () => {
  it('every oversized delivery, declared or chunked, many at once, is answered 413 rather than reset', async () => {
    const sizes = Array.from({ length: 24 }, (_, i) => ({ size: (8 + (i % 5) * 4) * 1024 * 1024, declared: i % 2 === 0 }));
    const answers = await Promise.all(sizes.map((s, i) => send(s.size, s.declared, `big-${i}`)));
    expect(answers).toEqual(sizes.map(() => ({ status: 413 })));
    expect(refused.filter((s) => s === 413)).toHaveLength(sizes.length);
    expect(pushes).toHaveLength(0);
  }, 60_000);

  it('a signed push after the burst is accepted', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const sig = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.address.port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'after', 'x-hub-signature-256': sig } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(202);
    expect(pushes).toMatchObject([{ provider: 'github', event: 'push', ref: 'refs/heads/main', delivery: 'after' }]);
  });

  it('verifies GitLab\'s signing token by the Standard Webhooks test vector; a stale timestamp, another body or secret fail; the plain token still works', () => {
    // The test vector of the Standard Webhooks specification, the scheme GitLab's signing token follows.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const ts = 1614265330;
    const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': String(ts), 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
    const body = Buffer.from('{"test": 2432232314}');
    expect(verify('gitlab', headers, body, secret, ts * 1000)).toBe(true);
    // Several signatures (a rotated key): one that matches is enough.
    expect(verify('gitlab', { ...headers, 'webhook-signature': `v1,AAAA ${headers['webhook-signature']}` }, body, secret, ts * 1000)).toBe(true);
    expect(verify('gitlab', headers, body, secret, (ts + SIGNED_TIMESTAMP_TOLERANCE_S + 1) * 1000)).toBe(false);
    expect(verify('gitlab', headers, Buffer.from('{"test": 2432232315}'), secret, ts * 1000)).toBe(false);
    expect(verify('gitlab', headers, body, 'whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==', ts * 1000)).toBe(false);
    // A signed delivery is judged by its signature alone, even with the right plain token.
    expect(verify('gitlab', { ...headers, 'webhook-signature': 'v1,AAAA', 'x-gitlab-token': secret }, body, secret, ts * 1000)).toBe(false);
    expect(verify('gitlab', { 'x-gitlab-token': 'tok' }, body, 'tok')).toBe(true);
    expect(verify('gitlab', { 'x-gitlab-token': 'tok2' }, body, 'tok')).toBe(false);
  });

  it('verifies Gitea\'s and Forgejo\'s X-Gitea-Signature as Gitea computes it (hex HMAC-SHA256 of the body, no prefix)', () => {
    const body = Buffer.from('{"ref":"refs/heads/main"}');
    const hex = createHmac('sha256', secret).update(body).digest('hex');
    expect(verify('gitea', { 'x-gitea-signature': hex }, body, secret)).toBe(true);
    expect(verify('gitea', { 'x-gitea-signature': `sha256=${hex}` }, body, secret)).toBe(false);
    expect(verify('gitea', { 'x-gitea-signature': hex }, Buffer.from('{"ref":"refs/heads/x"}'), secret)).toBe(false);
  });
});
