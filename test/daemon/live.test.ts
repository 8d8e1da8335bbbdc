/**
 * The long-running daemon, in the background as a user starts it: following a remote (fetch,
 * run, push the run back; an unreachable remote backed off and recovered), `gitml daemon
 * status`, the refs watch waking it for a local commit, push webhooks of GitHub, GitLab and
 * Gitea (verified, replays ignored, a 50 MB body and malformed JSON refused, the daemon
 * unharmed), and a second SIGTERM handing a run in flight back to the queue.
 */
import { createHmac } from 'node:crypto';
import { appendFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../core/daemon/webhook.js';
import { git, gitml, removeDir, tmpDir } from '../support/repo.js';
import { startDaemon, type Running } from './support.js';

let parent: string;
let work: string;
let bare: string;
let ci: string;
const daemons: Running[] = [];

beforeAll(() => {
  parent = tmpDir('gitml-daemon-live-');
  work = path.join(parent, 'work');
  bare = path.join(parent, 'remote.git');
  ci = path.join(parent, 'ci');
  const r = gitml(parent, ['init', work, '--template', 'python']);
  if (r.code !== 0) throw new Error(r.stderr);
  git(parent, 'init', '-q', '--bare', '-b', 'main', bare);
  git(work, 'remote', 'add', 'origin', bare);
  git(work, 'push', '-q', 'origin', 'main');
  git(parent, 'clone', '-q', bare, ci);
});
afterAll(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  removeDir(parent);
});

function start(dir: string, args: string[], env: Record<string, string> = {}): Running {
  const d = startDaemon(dir, args, env);
  daemons.push(d);
  return d;
}

/** Commit a change to the experiment's code in `dir` (and push it when `push`). */
function change(dir: string, text: string, push = true): string {
  appendFileSync(path.join(dir, 'src/train.py'), `\n${text}\n`);
  git(dir, 'commit', '-qam', `train: ${text.split('\n')[0]}`);
  if (push) git(dir, 'push', '-q', 'origin', 'main');
  return git(dir, 'rev-parse', 'HEAD');
}

const statusJson = (dir: string) => {
  const r = gitml(dir, ['daemon', 'status', '--json']);
  return { code: r.code, s: JSON.parse(r.stdout) as Record<string, any> };
};

describe('gitml daemon --remote', () => {
  let d: Running;

  it('a pushed commit touching the code runs in the daemon\'s clone and its run reaches the remote\'s runs branch', async () => {
    d = start(ci, ['--remote', 'origin', '--interval', '1s']);
    await d.waitFor((e) => e.event === 'commit' && e.branch === 'main');
    const c = change(work, '# tweak');
    const fin = await d.waitFor((e) => e.event === 'run-finished', 120_000);
    expect(d.events.find((e) => e.event === 'run-started')).toMatchObject({ experiment: 'train', commit: c });
    expect(fin.status).toBe('completed');
    await d.waitFor((e) => e.event === 'pushed' && e.runs === true, 60_000);
    // From the user's clone: the run is on the remote, recorded for the pushed commit.
    expect(gitml(work, ['pull']).code).toBe(0);
    const runs = (JSON.parse(gitml(work, ['runs', 'list', '--json']).stdout) as { runs: Array<{ id: string; source: { commit: string }; trigger?: { kind: string } }> }).runs;
    expect(runs.find((r) => r.id === fin.runId)).toMatchObject({ source: { commit: c }, trigger: { kind: 'daemon' } });
  }, 240_000);

  it('gitml daemon status shows the pid, the remote, the last commit per branch and the queue', () => {
    const { code, s } = statusJson(ci);
    expect(code).toBe(0);
    expect(s).toMatchObject({ running: true, pid: d.child.pid, sources: { remote: { name: 'origin', failures: 0 }, refs: 'watch' }, queue: { queued: 0, running: 0 }, inflight: [] });
    expect(s.branches.main.commit).toBe(git(work, 'rev-parse', 'HEAD'));
    const human = gitml(ci, ['daemon', 'status']);
    expect(human.stdout).toMatch(/^running: pid \d+/);
    expect(human.stdout).toMatch(/remote origin/);
  });

  it('an unreachable remote is retried with a growing delay, said so, and recovered from', async () => {
    const from = d.events.length;
    renameSync(bare, bare + '.away');
    try {
      const first = await d.waitFor((e) => e.event === 'remote-unreachable' && e.failures === 1, 30_000, from);
      const second = await d.waitFor((e) => e.event === 'remote-unreachable' && e.failures === 2, 30_000, from);
      expect(second.retryInMs as number).toBeGreaterThan(first.retryInMs as number);
      expect((first.error as { message: string }).message).toMatch(/origin/);
      const { s } = statusJson(ci);
      expect(s.lastError).toMatchObject({ event: 'remote-unreachable' });
      expect(s.sources.remote.failures).toBeGreaterThanOrEqual(2);
      expect(d.child.exitCode).toBeNull();
    } finally {
      renameSync(bare + '.away', bare);
    }
    await d.waitFor((e) => e.event === 'remote-recovered', 30_000, from);
  }, 90_000);

  it('SIGTERM: exit 0; status then says no daemon serves the repository', async () => {
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(d.events.at(-1)?.event).toBe('stop');
    const { code, s } = statusJson(ci);
    expect(code).toBe(1);
    expect(s.running).toBe(false);
  });
});

describe('gitml daemon: refs watch and stopping', () => {
  it('a local commit wakes a daemon whose interval is an hour', async () => {
    const d = start(work, ['--interval', '1h']);
    await d.waitFor((e) => e.event === 'commit' && e.branch === 'main');
    const from = d.events.length;
    const c = change(work, '# local only', false);
    const started = await d.waitFor((e) => e.event === 'run-started', 20_000, from);
    expect(started).toMatchObject({ commit: c, experiment: 'train' });
    await d.waitFor((e) => e.event === 'run-finished', 120_000, from);
    expect(await d.stop()).toBe(0);
  }, 180_000);

  it('a second SIGTERM stops the run in flight and hands its entry back to the queue; exit 0', async () => {
    const d = start(work, ['--interval', '1h']);
    await d.waitFor((e) => e.event === 'start');
    const c = change(work, 'import time\ntime.sleep(60)', false);
    const started = await d.waitFor((e) => e.event === 'run-started' && e.commit === c, 30_000);
    d.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    d.child.kill('SIGTERM');
    const t0 = Date.now();
    expect(await d.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000); // not the run's 60 s
    expect(d.events.find((e) => e.event === 'run-handed-back')).toMatchObject({ id: started.id });
    const q = JSON.parse(gitml(work, ['queue', 'list', '--json']).stdout) as Array<{ id: string; state: string; attempts: number }>;
    expect(q.find((e) => e.id === started.id)).toMatchObject({ state: 'queued', attempts: 0 });
    expect(gitml(work, ['queue', 'cancel', started.id as string]).code).toBe(0);
    git(work, 'revert', '--no-edit', 'HEAD');
  }, 120_000);
});

describe('gitml daemon --webhook', () => {
  const SECRET = 'webhook secret for the test';
  let d: Running;
  let port: number;

  /** POST to the webhook; resolves with the status (and body) the daemon answered. */
  function post(headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  const sig = (body: string) => createHmac('sha256', SECRET).update(body).digest('hex');
  const github = (body: string, delivery: string, signature = `sha256=${sig(body)}`) => post({ 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': signature }, body);

  beforeAll(async () => {
    d = start(ci, ['--remote', 'origin', '--interval', '1h', '--reconcile', '0', '--webhook', '127.0.0.1:0'], { GITML_WEBHOOK_SECRET: SECRET });
    const s = await d.waitFor((e) => e.event === 'start');
    port = Number(String(s.webhook).split(':').pop());
    await d.waitFor((e) => e.event === 'ready');
  }, 60_000);

  it('verifies GitHub\'s signature as GitHub documents it', () => {
    // The example of docs.github.com "Validating webhook deliveries".
    const ok = verify('github', { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' }, Buffer.from('Hello, World!'), "It's a Secret to Everybody");
    expect(ok).toBe(true);
    expect(verify('github', { 'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18' }, Buffer.from('Hello, World!'), "It's a Secret to Everybody")).toBe(false);
  });

  it('a wrong or missing signature is 401 and fetches nothing; a verified GitHub push fetches at once and runs the commit', async () => {
    const c = change(work, '# for the webhook');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: c });
    expect((await github(body, 'd-1', `sha256=${sig(body + 'x')}`)).status).toBe(401);
    expect((await post({ 'x-github-event': 'push', 'x-github-delivery': 'd-2' }, body)).status).toBe(401);
    expect((await post({}, body)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1500));
    expect(d.events.find((e) => e.event === 'run-started' && e.commit === c)).toBeUndefined();
    const from = d.events.length;
    expect((await github(body, 'd-3')).status).toBe(202);
    const started = await d.waitFor((e) => e.event === 'run-started', 20_000, from);
    expect(started.commit).toBe(c);
    expect(d.events.slice(from).find((e) => e.event === 'webhook')).toMatchObject({ provider: 'github', delivery: 'd-3', ref: 'refs/heads/main' });
  }, 60_000);

  it('a replayed delivery id is ignored; GitLab\'s token and Gitea\'s signature are checked; malformed JSON is 400', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const replay = await github(body, 'd-3');
    expect(replay.status).toBe(200);
    expect(JSON.parse(replay.body)).toEqual({ ignored: 'replayed delivery' });
    expect((await post({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET, 'x-gitlab-event-uuid': 'gl-1' }, body)).status).toBe(202);
    expect((await post({ 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'wrong', 'x-gitlab-event-uuid': 'gl-2' }, body)).status).toBe(401);
    expect((await post({ 'x-gitea-event': 'push', 'x-gitea-delivery': 'gt-1', 'x-gitea-signature': sig(body) }, body)).status).toBe(202);
    expect((await post({ 'x-gitea-event': 'push', 'x-gitea-delivery': 'gt-2', 'x-gitea-signature': sig('other') }, body)).status).toBe(401);
    expect((await github('{"ref": ', 'd-4', `sha256=${sig('{"ref": ')}`)).status).toBe(400);
    expect((await post({ 'x-github-event': 'ping', 'x-github-delivery': 'd-5', 'x-hub-signature-256': `sha256=${sig('{}')}` }, '{}')).status).toBe(200);
    expect(d.events.filter((e) => e.event === 'webhook').map((e) => e.delivery)).toEqual(['d-3', 'gl-1', 'gt-1']);
  });

  /** Send `size` bytes (declared in Content-Length, or chunked) until the daemon answers. */
  const big = (size: number, declared: boolean) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', ...(declared ? { 'content-length': String(size) } : {}), 'x-github-event': 'push', 'x-github-delivery': `big-${declared}`, 'x-hub-signature-256': 'sha256=00' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', (e) => (got ? undefined : reject(e)));
      let got = false;
      req.on('response', () => (got = true));
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (!got && sent < size) {
          sent += chunk.length;
          if (!req.write(chunk)) return req.once('drain', pump);
        }
        if (sent >= size) req.end();
      };
      pump();
    });

  it('a 50 MB body is refused with 413 before it is read, a chunked one as it passes the limit; the daemon serves on', async () => {
    expect(await big(50 * 1024 * 1024, true)).toBe(413);
    expect(await big(30 * 1024 * 1024, false)).toBe(413);
    expect(d.events.filter((e) => e.event === 'webhook-refused' && e.status === 413)).toHaveLength(2);
    expect(d.child.exitCode).toBeNull();
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    expect((await github(body, 'after-big')).status).toBe(202);
    expect(statusJson(ci).s).toMatchObject({ running: true, sources: { webhook: `127.0.0.1:${port}` } });
    await d.waitFor((e) => e.event === 'run-finished', 120_000);
    expect(await d.stop()).toBe(0);
  }, 180_000);
});
