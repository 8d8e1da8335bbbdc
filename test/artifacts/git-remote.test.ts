/**
 * The `git` artifact store over the real network transports the sync tests use (https through
 * `git http-backend` with basic auth, ssh through a private sshd): a model trained in one clone
 * is served from a fresh clone after `gitml pull` with nothing copied by hand; pushes carry only
 * what the remote lacks; `--artifacts none|registered|all` choose what comes eagerly and the rest
 * comes lazily; a forged artifact ref on the remote is refused; a corrupt copy in this clone is
 * fetched again from the remote; two clones pushing the same artifact at once both succeed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { promoteModel } from '../../core/registry/promote.js';
import { registerModel } from '../../core/registry/register.js';
import { closeRunStore } from '../../core/runs/store.js';
import { addRun, record } from '../registry/fixtures.js';
import { BIN, GIT_ENV, git, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { describeSshd, startHttpsGitServer, startSshd } from '../support/git-servers.js';
import { serveJson } from '../support/serve.js';

process.env.GITML_AUTO_GC = '0';
const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  dirs.forEach(removeDir);
});

const SCORE_PY = 'import json, os\n\n\ndef init():\n    pass\n\n\ndef run(data):\n    return [r["n"] * 2 for r in data]\n';
const FILES: Record<string, string> = {
  // 1 KiB inline: the model and its sample go to the artifact store (git, the default).
  'gitml.yaml': ['kind: Workspace', 'name: demo', 'defaults:', '  compute: local', '  environment: py', 'artifacts:', '  inlineMaxBytes: 1024', ''].join('\n'),
  'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
  'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\n',
  'gitml/experiments/train.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.json', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
  'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\n',
  'src/score.py': SCORE_PY,
};
const SAMPLE = JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ n: i, note: `sample row ${i}` })));
const modelBytes = (tag: string) => JSON.stringify({ w: 2, tag, pad: 'p'.repeat(4000) });
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

/** A process, spawned asynchronously (the https server runs in this process). */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string>): Promise<Cli> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', GIT_TERMINAL_PROMPT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

interface Transport {
  remote(name: string): string;
  bare(name: string): string;
  env: Record<string, string>;
  secret?: string;
  stop(): Promise<void>;
}

const artifactRefs = (dir: string) => git(dir, 'for-each-ref', '--format=%(refname)', 'refs/gitml/artifacts/').split('\n').filter(Boolean).map((r) => r.split('/').pop()!).sort();

function flows(name: string, start: () => Promise<Transport>): void {
  let t: Transport;
  const gitml = (cwd: string, args: string[]) => run(process.execPath, [BIN, ...args], cwd, t.env);
  beforeAll(async () => {
    t = await start();
  }, 60_000);
  afterAll(async () => t?.stop());

  /** A clone that trained two runs; the first is registered iris v0.1.0 and production. */
  async function trainer(remoteName: string) {
    const a = makeRepo(FILES);
    dirs.push(a);
    const src = { commit: git(a, 'rev-parse', 'HEAD'), tree: git(a, 'rev-parse', 'HEAD^{tree}'), branch: 'main' };
    const r1 = record({ source: src });
    await addRun(a, r1, { 'model.json': modelBytes('one'), 'sample.json': SAMPLE });
    const r2 = record({ source: src });
    await addRun(a, r2, { 'model.json': modelBytes('two'), 'sample.json': SAMPLE });
    await registerModel({ dir: a, name: 'iris', runId: r1.id, version: 'v0.1.0' });
    await promoteModel({ dir: a, name: 'iris', version: 'v0.1.0', stage: 'production' });
    const remote = t.remote(remoteName);
    const pushMain = await run('git', ['push', '-q', remote, 'HEAD:refs/heads/main'], a, t.env);
    expect(pushMain.code, pushMain.stderr).toBe(0);
    return { a, remote, r1, r2 };
  }

  async function freshClone(remote: string): Promise<string> {
    const parent = tmpDir('gitml-clone-');
    dirs.push(parent);
    const c = await run('git', ['clone', '-q', remote, 'repo'], parent, t.env);
    expect(c.code, c.stderr).toBe(0);
    return path.join(parent, 'repo');
  }

  test('a fresh clone of a repo whose model was trained elsewhere: gitml pull, then gitml serve iris#production', async () => {
    const { a, remote } = await trainer('e2e.git');
    const push = await gitml(a, ['push', remote, '--json']);
    expect(push.code, push.stderr).toBe(0);
    const pr = JSON.parse(push.stdout);
    // Two models and one sample (the same bytes twice): three stored artifacts.
    expect(pr.artifacts).toMatchObject({ store: 'git', moved: 3, skipped: 0 });
    expect(artifactRefs(t.bare('e2e.git'))).toEqual(artifactRefs(a));
    // Nothing new: a second push sends no artifact.
    const again = await gitml(a, ['push', remote, '--json']);
    expect(JSON.parse(again.stdout).artifacts).toMatchObject({ moved: 0 });

    const b = await freshClone(remote);
    const pull = await gitml(b, ['pull', '--json']);
    expect(pull.code, pull.stderr).toBe(0);
    // Default: the registered version's artifacts (its model and sample), not run two's model.
    expect(JSON.parse(pull.stdout).artifacts).toMatchObject({ store: 'git', moved: 2, mode: 'registered' });
    expect(artifactRefs(b)).toEqual([sha(modelBytes('one')), sha(SAMPLE)].sort());

    const s = await serveJson(b, ['iris#production', '--port', '0'], t.env);
    try {
      const body = { data: [{ n: 21, note: 'scored from a fresh clone' }] };
      const res = await fetch(`${s.info.url}/score`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(text).toContain('42');
    } finally {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
    if (t.secret) for (const out of [push.stdout, push.stderr, pull.stdout, pull.stderr, s.stderr()]) expect(out).not.toContain(t.secret);
  });

  test('--artifacts none leaves the bytes on the remote; a command that needs them fetches them with a progress line; --artifacts all takes the rest', async () => {
    const { a, remote, r2 } = await trainer('lazy.git');
    expect((await gitml(a, ['push', remote])).code).toBe(0);
    const c = await freshClone(remote);
    const pull = await gitml(c, ['pull', '--artifacts', 'none', '--json']);
    expect(pull.code, pull.stderr).toBe(0);
    expect(artifactRefs(c)).toEqual([]);
    const get = await gitml(c, ['artifacts', 'get', r2.id, 'model.json']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe(modelBytes('two'));
    expect(get.stderr).toMatch(/fetching artifact [0-9a-f]{12} from origin/);
    expect(artifactRefs(c)).toEqual([sha(modelBytes('two'))]);
    const all = await gitml(c, ['pull', '--artifacts', 'all', '--json']);
    expect(JSON.parse(all.stdout).artifacts).toMatchObject({ moved: 2, mode: 'all' });
    expect(artifactRefs(c)).toEqual(artifactRefs(a));
  });

  test('a forged artifact ref on the remote (bytes that do not hash to its name): refused, named, exit 3', async () => {
    const { a, remote, r1 } = await trainer('forged.git');
    expect((await gitml(a, ['push', remote])).code).toBe(0);
    // The attacker (or a broken tool) points the model's ref at other bytes under the same name.
    const bare = t.bare('forged.git');
    const digest = sha(modelBytes('one'));
    const blob = spawnSync('git', ['hash-object', '-w', '--stdin'], { cwd: bare, input: 'evil model' }).stdout.toString().trim();
    const tree = spawnSync('git', ['mktree'], { cwd: bare, input: `100644 blob ${blob}\t${digest}\n` }).stdout.toString().trim();
    const commit = spawnSync('git', ['commit-tree', tree, '-m', 'forged'], { cwd: bare, env: { ...process.env, ...GIT_ENV } }).stdout.toString().trim();
    git(bare, 'update-ref', `refs/gitml/artifacts/${digest}`, commit);
    const c = await freshClone(remote);
    expect((await gitml(c, ['pull', '--artifacts', 'none'])).code).toBe(0);
    const get = await gitml(c, ['artifacts', 'get', r1.id, 'model.json']);
    expect(get.code, get.stderr).toBe(3);
    expect(get.stdout).toBe('');
    const errors = get.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(digest.slice(0, 12));
    expect(get.stderr).not.toContain('evil model');
  });

  test("this clone's copy is corrupt and the remote holds a good one: the bad copy is dropped and the remote's fetched", async () => {
    const { a, remote, r1 } = await trainer('refetch.git');
    expect((await gitml(a, ['push', remote])).code).toBe(0);
    const c = await freshClone(remote);
    expect((await gitml(c, ['pull', '--artifacts', 'none'])).code).toBe(0);
    // This clone's ref for the model leads to other bytes (a bad disk, a broken tool).
    const digest = sha(modelBytes('one'));
    const blob = spawnSync('git', ['hash-object', '-w', '--stdin'], { cwd: c, input: 'damaged model' }).stdout.toString().trim();
    const tree = spawnSync('git', ['mktree'], { cwd: c, input: `100644 blob ${blob}\t${digest}\n` }).stdout.toString().trim();
    const commit = spawnSync('git', ['commit-tree', tree, '-m', 'damaged'], { cwd: c, env: { ...process.env, ...GIT_ENV } }).stdout.toString().trim();
    git(c, 'update-ref', `refs/gitml/artifacts/${digest}`, commit);
    const get = await gitml(c, ['artifacts', 'get', r1.id, 'model.json']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe(modelBytes('one'));
    expect(get.stderr).toMatch(/fetching artifact [0-9a-f]{12} from origin/);
    // The ref now is the remote's.
    expect(git(c, 'rev-parse', `refs/gitml/artifacts/${digest}`)).toBe(git(a, 'rev-parse', `refs/gitml/artifacts/${digest}`));
  });

  test('two clones push the same artifact at the same time: both succeed, the remote holds it once', async () => {
    const { a, remote } = await trainer('race.git');
    expect((await gitml(a, ['push', remote])).code).toBe(0);
    const [b, c] = [await freshClone(remote), await freshClone(remote)];
    // Both record a run with the same new model bytes.
    for (const d of [b, c]) {
      expect((await gitml(d, ['pull'])).code).toBe(0);
      await addRun(d, record({ source: { commit: git(d, 'rev-parse', 'HEAD'), tree: git(d, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } }), { 'model.json': modelBytes('same'), 'sample.json': SAMPLE });
    }
    const [pb, pc] = await Promise.all([gitml(b, ['push', '--json']), gitml(c, ['push', '--json'])]);
    expect(pb.code, pb.stderr).toBe(0);
    expect(pc.code, pc.stderr).toBe(0);
    const bare = t.bare('race.git');
    expect(artifactRefs(bare)).toContain(sha(modelBytes('same')));
    expect(git(bare, 'rev-parse', `refs/gitml/artifacts/${sha(modelBytes('same'))}`)).toBe(git(b, 'rev-parse', `refs/gitml/artifacts/${sha(modelBytes('same'))}`));
    expect(spawnSync('git', ['fsck', '--no-dangling'], { cwd: bare }).status).toBe(0);
    expect(readFileSync(path.join(bare, 'HEAD'), 'utf8')).toBeTruthy();
  });
}

describe('https remote (git http-backend, basic auth in the URL)', () => {
  flows('https', async () => {
    const root = tmpDir('gitml-https-art-');
    dirs.push(root);
    const auth = { user: 'ci-bot', token: 'ghp_artifactT0ken0123456789' };
    const server = await startHttpsGitServer({ root, auth });
    return {
      remote: (n) => {
        spawnSync('git', ['init', '-q', '--bare', '--initial-branch=main', path.join(root, n)]);
        return server.url(n);
      },
      bare: (n) => path.join(root, n),
      env: { GIT_SSL_CAINFO: server.caFile },
      secret: auth.token,
      stop: () => server.stop(),
    };
  });
});

describeSshd('ssh remote (a private sshd on loopback)', () => {
  flows('ssh', async () => {
    const root = tmpDir('gitml-ssh-art-');
    dirs.push(root);
    const sshd = await startSshd();
    return {
      remote: (n) => {
        spawnSync('git', ['init', '-q', '--bare', '--initial-branch=main', path.join(root, n)]);
        return sshd.url(path.join(root, n));
      },
      bare: (n) => path.join(root, n),
      env: { GIT_SSH_COMMAND: sshd.sshCommand },
      stop: () => sshd.stop(),
    };
  });
});
