/**
 * `gitml push` / `gitml pull` over the network transports, against real servers on loopback:
 * https (a Node https server with a self-signed certificate in front of `git http-backend`, with
 * basic auth from credentials in the URL) and ssh (a private sshd). test/runs/sync.test.ts covers
 * the merge rules over local paths; this file checks that the same flows work over the wire,
 * that gitml's git processes get the environment that configures the transport
 * (GIT_SSL_CAINFO, GIT_SSH_COMMAND), and that a credential in the URL never shows up in output,
 * errors, commit messages or reflogs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { redactUrls } from '../../core/redact.js';
import { closeRunStore, listRuns, recordRun } from '../../core/runs/store.js';
import { BIN, GIT_ENV, git, makeRepo, removeDir, tmpDir, type CliResult } from '../support/repo.js';
import { describeSshd, startHttpsGitServer, startSshd, type HttpsGitServer, type Sshd } from '../support/git-servers.js';
import { rec } from './helpers.js';

// No background `git gc --auto` while tests delete repositories.
process.env.GITML_AUTO_GC = '0';

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

const repo = () => {
  const d = makeRepo({ 'README.md': '# p\n' });
  dirs.push(d);
  return d;
};

/** A bare repository `name` under `root`, as a forge would hold it. */
function bare(root: string, name: string): string {
  const d = path.join(root, name);
  spawnSync('git', ['init', '-q', '--bare', d]);
  return d;
}

const ids = async (dir: string) => (await listRuns({ dir })).runs.map((r) => r.id).sort();

/**
 * The gitml CLI, spawned asynchronously: the https server runs in this process, so a
 * spawnSync would block it. `env` is given to gitml alone (not to this process), so a transport
 * that works proves gitml's git children inherit it.
 */
function gitmlAsync(cwd: string, args: string[], env: Record<string, string>): Promise<CliResult & { ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Every file of a repository's .git that is not a (compressed) object, as text. */
function gitMetadataText(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) {
        if (p !== path.join(dir, '.git', 'objects')) walk(p);
      } else out.push(readFileSync(p, 'latin1'));
    }
  };
  walk(path.join(dir, '.git'));
  return out.join('\n');
}

/** Commit and tag messages of every ref, decompressed by git. */
function allMessages(dir: string): string {
  return git(dir, 'log', '--all', '--format=%B') + git(dir, 'for-each-ref', '--format=%(contents)', 'refs/tags');
}

interface Transport {
  /** URL of the bare repository `name` (created under the server's root when missing). */
  remote(name: string): string;
  /** Environment gitml needs for this transport. */
  env: Record<string, string>;
  /** A credential that must never be printed or recorded (https basic auth token). */
  secret?: string;
  /** The remote as it may appear in messages. */
  shown(name: string): string;
  /** Path of the bare repository `name` on the server side. */
  bare(name: string): string;
  stop(): Promise<void>;
}

const times: string[] = [];
afterAll(() => {
  if (times.length) console.log(`sync over the network (wall clock of one gitml process each):\n  ${times.join('\n  ')}`);
});

function expectClean(t: Transport, ...texts: string[]): void {
  if (!t.secret) return;
  for (const text of texts) expect(text).not.toContain(t.secret);
}

/** The same flows for each transport. */
function syncFlows(name: string, start: () => Promise<Transport>): void {
  let t: Transport;
  beforeAll(async () => {
    t = await start();
  });
  afterAll(async () => {
    await t?.stop();
  });

  test('push runs and a model tag to an empty remote; a second clone pulls the union; pushes fast-forward', async () => {
    const remote = t.remote('union.git');
    const a = repo();
    const b = repo();
    const a1 = rec();
    const first = await recordRun({ dir: a, record: a1 });
    git(a, 'tag', '-a', 'iris@v1.0.0', '-m', 'register iris v1.0.0', first.commit);

    const push = await gitmlAsync(a, ['push', remote, '--json'], t.env);
    expect(push.code, push.stderr).toBe(0);
    const pr = JSON.parse(push.stdout);
    expect(pr).toMatchObject({ pushed: true, attempts: 1 });
    expect(git(t.bare('union.git'), 'rev-parse', 'runs')).toBe(first.commit);
    expect(git(t.bare('union.git'), 'rev-parse', 'iris@v1.0.0^{}')).toBe(first.commit);
    times.push(`${name}: push to an empty remote ${(push.ms / 1000).toFixed(2)} s`);

    // B recorded its own run: pull merges (union), and brings the tag.
    const b1 = rec();
    await recordRun({ dir: b, record: b1 });
    const pull = await gitmlAsync(b, ['pull', remote, '--json'], t.env);
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout).action).toBe('merge');
    expect(await ids(b)).toEqual([a1.id, b1.id].sort());
    expect(git(b, 'rev-parse', 'iris@v1.0.0^{}')).toBe(first.commit);
    times.push(`${name}: pull with a union merge ${(pull.ms / 1000).toFixed(2)} s`);

    // B's push is a fast-forward of the remote; A's pull a fast-forward of A.
    const pushB = await gitmlAsync(b, ['push', remote], t.env);
    expect(pushB.code, pushB.stderr).toBe(0);
    expect(git(t.bare('union.git'), 'rev-parse', 'runs')).toBe(git(b, 'rev-parse', 'runs'));
    const pullA = await gitmlAsync(a, ['pull', remote], t.env);
    expect(pullA.code, pullA.stderr).toBe(0);
    expect(pullA.stdout).toMatch(/fast-forwarded runs/);
    expect(await ids(a)).toEqual(await ids(b));

    expectClean(t, push.stdout, push.stderr, pull.stdout, pull.stderr, pushB.stdout, pushB.stderr, pullA.stdout, pullA.stderr);
    for (const d of [a, b]) expectClean(t, gitMetadataText(d), allMessages(d));
    if (t.secret) {
      // The human summary names the remote with its credential masked.
      expect(pushB.stdout).toContain(t.shown('union.git'));
    }
  });

  test('two diverged clones push at the same time: the rejected one fetches, merges and retries', async () => {
    const remote = t.remote('race.git');
    const a = repo();
    const b = repo();
    const base = rec();
    await recordRun({ dir: a, record: base });
    expect((await gitmlAsync(a, ['push', remote], t.env)).code).toBe(0);
    expect((await gitmlAsync(b, ['pull', remote], t.env)).code).toBe(0);
    const [a2, b2, b3] = [rec(), rec(), rec()];
    await recordRun({ dir: a, record: a2 });
    await recordRun({ dir: b, record: b2 });
    await recordRun({ dir: b, record: b3 });

    const [pa, pb] = await Promise.all([gitmlAsync(a, ['push', remote, '--json'], t.env), gitmlAsync(b, ['push', remote, '--json'], t.env)]);
    expect(pa.code, pa.stderr).toBe(0);
    expect(pb.code, pb.stderr).toBe(0);
    const [ra, rb] = [JSON.parse(pa.stdout), JSON.parse(pb.stdout)];
    expect(ra.pushed && rb.pushed).toBe(true);
    // Whichever landed second was rejected first (not a fast-forward, or the ref had moved
    // under it), merged the other's runs and pushed again.
    expect(ra.attempts + rb.attempts).toBeGreaterThanOrEqual(3);
    expect([ra.action, rb.action]).toContain('merge');
    times.push(`${name}: two concurrent pushes ${(Math.max(pa.ms, pb.ms) / 1000).toFixed(2)} s (attempts ${ra.attempts} + ${rb.attempts})`);

    const origin = t.bare('race.git');
    const union = [base.id, a2.id, b2.id, b3.id].sort();
    for (const d of [a, b]) {
      const p = await gitmlAsync(d, ['pull', remote], t.env);
      expect(p.code, p.stderr).toBe(0);
      expect(await ids(d)).toEqual(union);
      expect(git(d, 'rev-parse', 'runs')).toBe(git(origin, 'rev-parse', 'runs'));
      expectClean(t, gitMetadataText(d), allMessages(d));
    }
    expect(git(origin, 'rev-list', '--parents', '-1', 'runs').split(' ')).toHaveLength(3);
    expect(spawnSync('git', ['fsck', '--no-dangling'], { cwd: origin }).status).toBe(0);
    expectClean(t, pa.stdout, pa.stderr, pb.stdout, pb.stderr, allMessages(origin));
  });

  if (name === 'https') {
    test('a wrong token: exit 3, one error line, neither token printed', async () => {
      const a = repo();
      await recordRun({ dir: a, record: rec() });
      const wrong = t.remote('union.git').replace(t.secret!, 'wr0ng-t0ken-123');
      for (const verb of ['push', 'pull']) {
        const r = await gitmlAsync(a, [verb, wrong], t.env);
        expect(r.code, r.stderr).toBe(3);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
        expect(errors, r.stderr).toHaveLength(1);
        expect(r.stderr + r.stdout).not.toContain('wr0ng-t0ken-123');
        expectClean(t, r.stderr, r.stdout);
      }
    });
  }

  test('the server is gone: one error line naming the remote, exit 3, no stack trace, no credential', async () => {
    const remote = t.remote('union.git');
    const a = repo();
    await recordRun({ dir: a, record: rec() });
    await t.stop();
    for (const verb of ['push', 'pull']) {
      const r = await gitmlAsync(a, [verb, remote], t.env);
      expect(r.code, r.stderr).toBe(3);
      const lines = r.stderr.trim().split('\n');
      const errors = lines.filter((l) => l.startsWith('error: '));
      expect(errors, r.stderr).toHaveLength(1);
      // Besides the error, at most the progress line ("pushing to …") that non-TTY stderr gets.
      expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(errors[0]).toContain(t.shown('union.git'));
      expect(errors[0]).toMatch(/refused|connect|could not read/i);
      expectClean(t, r.stderr, r.stdout);
    }
  });
}

test.each([
  ['https://ci:s3cret@git.example/r.git', 'https://ci:***@git.example/r.git'],
  ['https://x-access-token:ghs_abc@github.example/o/r', 'https://x-access-token:***@github.example/o/r'],
  // a token as the user (as CI systems write it) is masked whole for http(s)
  ['https://ghp_abc123@github.example/o/r.git', 'https://***@github.example/o/r.git'],
  // a raw '@' in the password: masked up to the last '@' before the host
  ['https://u:p@ss@host:8443/r.git', 'https://u:***@host:8443/r.git'],
  ["fatal: unable to access 'https://u:tok@127.0.0.1:1/r.git/': refused", "fatal: unable to access 'https://u:***@127.0.0.1:1/r.git/': refused"],
  ['"http://u:tok@h/r" and https://v:t2@h2/r', '"http://u:***@h/r" and https://v:***@h2/r'],
  // an ssh login name is no secret; an ssh password is
  ['ssh://git@host:22/srv/r.git', 'ssh://git@host:22/srv/r.git'],
  ['ssh://git:pw@host/srv/r.git', 'ssh://git:***@host/srv/r.git'],
  ['git@host:org/r.git', 'git@host:org/r.git'],
  ['/srv/repos/r.git', '/srv/repos/r.git'],
  ['https://host/r.git?user=a@b', 'https://host/r.git?user=a@b'],
])('redactUrls(%j)', (input, want) => {
  expect(redactUrls(input)).toBe(want);
});

describe('https remote (git http-backend, basic auth in the URL)', () => {
  syncFlows('https', async () => {
    const root = tmpDir('gitml-https-root-');
    dirs.push(root);
    const auth = { user: 'ci-bot', token: 'ghp_s3cretT0ken0123456789' };
    const server: HttpsGitServer = await startHttpsGitServer({ root, auth });
    return {
      remote: (n) => {
        bare(root, n);
        return server.url(n);
      },
      shown: (n) => `https://ci-bot:***@127.0.0.1:${server.port}/${n}`,
      bare: (n) => path.join(root, n),
      env: { GIT_SSL_CAINFO: server.caFile },
      secret: auth.token,
      stop: () => server.stop(),
    };
  });
});

describeSshd('ssh remote (a private sshd on loopback)', () => {
  syncFlows('ssh', async () => {
    const root = tmpDir('gitml-ssh-root-');
    dirs.push(root);
    const sshd: Sshd = await startSshd();
    return {
      remote: (n) => {
        bare(root, n);
        return sshd.url(path.join(root, n));
      },
      shown: (n) => sshd.url(path.join(root, n)),
      bare: (n) => path.join(root, n),
      env: { GIT_SSH_COMMAND: sshd.sshCommand },
      stop: () => sshd.stop(),
    };
  });
});
