/**
 * The `s3` artifact store against a real S3-compatible server (moto on loopback, started by this
 * file): the store's contract (content-addressed, verified, multipart with parallel parts),
 * a corrupted object refused and named, an interrupted upload leaving nothing visible, an
 * interrupted download (the server drops the connection; the gitml process is killed) leaving
 * nothing in place and a retry that succeeds, and refused credentials through the CLI (exit 3,
 * no secret printed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CreateBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ArtifactStore } from '../../core/artifacts/s3-store.js';
import { cacheFile } from '../../core/artifacts/cache.js';
import { isGitmlError } from '../../core/errors.js';
import { closeRunStore, recordRun } from '../../core/runs/store.js';
import { BIN, GIT_ENV, git, gitml, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { serveJson } from '../support/serve.js';
import { addRun, record } from '../registry/fixtures.js';
import { registerModel } from '../../core/registry/register.js';
import { promoteModel } from '../../core/registry/promote.js';
import { S3_ENV, startMoto, type Moto } from '../support/moto.js';
import { rec } from '../runs/helpers.js';
import { runAsync } from '../server/helpers.js';

process.env.GITML_AUTO_GC = '0';
const dirs: string[] = [];
let moto: Moto;
let client: S3Client;
const BUCKET = 'gitml-artifacts';

beforeAll(async () => {
  Object.assign(process.env, S3_ENV);
  moto = await startMoto();
  client = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 60_000);
afterAll(async () => {
  closeRunStore();
  client?.destroy();
  await moto?.stop();
  dirs.forEach(removeDir);
});

function store(prefix = 'proj/', extra: Partial<ConstructorParameters<typeof S3ArtifactStore>[0]> = {}) {
  const cache = tmpDir('gitml-s3-cache-');
  dirs.push(cache);
  return new S3ArtifactStore({ type: 's3', bucket: BUCKET, prefix, endpoint: moto.endpoint, forcePathStyle: true, cache, partSize: 5 * 1024 * 1024, queueSize: 4, ...extra });
}

function bigFile(bytes: number): { file: string; sha256: string } {
  const d = tmpDir('gitml-s3-src-');
  dirs.push(d);
  const file = path.join(d, 'model.bin');
  const buf = randomBytes(bytes);
  writeFileSync(file, buf);
  return { file, sha256: createHash('sha256').update(buf).digest('hex') };
}


/**
 * A TCP proxy in front of moto whose answers can be cut off after `cutAfter` bytes (the server
 * drops the connection mid-transfer) or slowed to about 1 MB/s; `mode` switches at any time.
 */
async function faultyProxy(target: string, cutAfter = 512 * 1024): Promise<{ endpoint: string; mode: 'pass' | 'cut' | 'slow'; close(): Promise<void> }> {
  const up = new URL(target);
  const socks = new Set<net.Socket>();
  const ctl = { mode: 'pass' as 'pass' | 'cut' | 'slow' };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(up.port), up.hostname);
    socks.add(client).add(upstream);
    let sent = 0;
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (ctl.mode === 'cut' && sent + chunk.length > cutAfter) {
        client.write(chunk.subarray(0, Math.max(0, cutAfter - sent)));
        client.destroy();
        upstream.destroy();
        return;
      }
      sent += chunk.length;
      client.write(chunk);
      if (ctl.mode === 'slow') {
        upstream.pause();
        setTimeout(() => upstream.resume(), 50);
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('end', () => client.end());
    upstream.on('error', end);
    client.on('error', end);
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return Object.assign(ctl, {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const x of socks) x.destroy();
        server.close(() => r());
      }),
  });
}

/** Every file under `root` (relative paths). */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isGitmlError(e) ? e.code : String(e)));

describe('s3 store contract (moto)', () => {
  test('a multipart upload (4 parts in parallel) is content-addressed, listed, fetched into the cache and verified', async () => {
    const s = store();
    const { file, sha256 } = bigFile(17 * 1024 * 1024 + 3);
    expect(await s.has(sha256)).toBe(false);
    const put = await s.putFile(file);
    expect(put).toEqual({ sha256, size: 17 * 1024 * 1024 + 3 });
    expect(await s.has(sha256)).toBe(true);
    // The key is the digest under the prefix; moto reports a multipart ETag ("-<parts>").
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `proj/sha256/${sha256.slice(0, 2)}/${sha256.slice(2)}` }));
    expect(head.ETag).toMatch(/-4"$/);
    expect(head.ContentLength).toBe(put.size);
    // A second store (another clone) with an empty cache downloads and verifies it.
    const other = store();
    const f = await other.localPath(sha256);
    expect(createHash('sha256').update(readFileSync(f)).digest('hex')).toBe(sha256);
    const listed = [];
    for await (const a of other.list()) listed.push(a);
    expect(listed).toContainEqual({ sha256, size: put.size });
    // Storing it again is a no-op; a small buffer goes as one PutObject.
    expect(await s.putFile(file)).toEqual(put);
    const small = await s.putBuffer(Buffer.from('logs\n'));
    expect((await other.read(small.sha256)).toString()).toBe('logs\n');
    await other.remove(small.sha256);
    expect(await s.has(small.sha256)).toBe(false);
    expect(await codeOf(other.localPath(small.sha256))).toBe('ARTIFACT_MISSING');
  });

  test('a corrupted object is refused and named; nothing reaches the cache; a damaged cached copy is fetched again', async () => {
    const s = store('corrupt/');
    const { file, sha256 } = bigFile(1024 * 1024);
    await s.putFile(file);
    const key = s.key(sha256);
    // Someone overwrites the object with other bytes (bit rot, a bad copy, a forgery).
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from('not the model') }));
    const fresh = store('corrupt/');
    const err = await fresh.localPath(sha256).then(() => undefined, (e) => e);
    expect(isGitmlError(err, 'ARTIFACT_CORRUPT'), String(err)).toBe(true);
    expect(err.data.sha256).toBe(sha256);
    expect(String(err.data.store)).toContain(BUCKET);
    expect(existsSync(cacheFile(fresh.config.cache, sha256))).toBe(false);

    // Restore the object; a cached copy damaged on disk is dropped and downloaded again.
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: readFileSync(file) }));
    const f = await fresh.localPath(sha256);
    spawnSync('chmod', ['u+w', f]);
    writeFileSync(f, 'garbage');
    const again = await fresh.localPath(sha256);
    expect(createHash('sha256').update(readFileSync(again)).digest('hex')).toBe(sha256);
  });

  test('an interrupted multipart upload leaves no object and no pending upload; a retry stores it', async () => {
    const s = store('interrupted/');
    const { file, sha256 } = bigFile(26 * 1024 * 1024);
    const ac = new AbortController();
    // Abort once the first parts are on their way.
    const s3 = s as unknown as { client: S3Client };
    const send = s3.client.send.bind(s3.client);
    let parts = 0;
    s3.client.send = ((cmd: { constructor: { name: string } }, ...rest: unknown[]) => {
      if (cmd.constructor.name === 'UploadPartCommand' && ++parts === 2) setTimeout(() => ac.abort(), 0);
      return (send as (...a: unknown[]) => unknown)(cmd, ...rest);
    }) as typeof s3.client.send;
    expect(await codeOf(s.putFile(file, { signal: ac.signal }))).toBe('CANCELED');
    s3.client.send = send;
    expect(await s.has(sha256)).toBe(false);
    // No multipart upload is left open under the prefix (the store aborts it before reporting).
    const open = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'interrupted/' }));
    expect(open.Uploads ?? []).toEqual([]);
    expect((await s.putFile(file)).sha256).toBe(sha256);
    expect(await s.has(sha256)).toBe(true);
  });
  test('a download the server drops mid-transfer keeps nothing (no file under its name, no temporary); a retry fetches it', async () => {
    const s = store('dropped/');
    const { file, sha256 } = bigFile(3 * 1024 * 1024);
    await s.putFile(file);
    const proxy = await faultyProxy(moto.endpoint);
    try {
      const fresh = store('dropped/', { endpoint: proxy.endpoint });
      proxy.mode = 'cut';
      const err = await fresh.localPath(sha256).then(() => undefined, (e) => e);
      expect(isGitmlError(err, 'ARTIFACT_STORE'), String(err)).toBe(true);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/broke off after .* nothing was kept/);
      expect(filesUnder(fresh.config.cache)).toEqual([]);
      proxy.mode = 'pass';
      const f = await fresh.localPath(sha256);
      expect(createHash('sha256').update(readFileSync(f)).digest('hex')).toBe(sha256);
      expect(filesUnder(fresh.config.cache)).toEqual([path.relative(fresh.config.cache, f)]);
    } finally {
      await proxy.close();
    }
  });
});

describe('s3 store through the CLI', () => {
  let authMoto: Moto;
  beforeAll(async () => {
    authMoto = await startMoto({ auth: true });
  }, 60_000);
  afterAll(async () => authMoto?.stop());

  function s3Repo(endpoint: string): string {
    const d = makeRepo({
      'gitml.yaml': ['kind: Workspace', 'name: demo', 'artifacts:', '  inlineMaxBytes: 1024', '  store:', '    type: s3', `    bucket: ${BUCKET}`, '    prefix: cli/', `    endpoint: ${endpoint}`, '    forcePathStyle: true', ''].join('\n'),
    });
    dirs.push(d);
    return d;
  }

  test('record, ls --json and get through the s3 store; the object is in the bucket', async () => {
    const dir = s3Repo(moto.endpoint);
    const out = tmpDir('gitml-s3-out-');
    dirs.push(out);
    mkdirSync(path.join(out, 'm'));
    const bytes = randomBytes(300_000);
    writeFileSync(path.join(out, 'm', 'model.bin'), bytes);
    const r = rec();
    await recordRun({ dir, record: r, outputsDir: out });
    const sha = createHash('sha256').update(bytes).digest('hex');
    await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `cli/sha256/${sha.slice(0, 2)}/${sha.slice(2)}` }));
    const ls = gitml(dir, ['artifacts', 'ls', '--json'], { env: S3_ENV });
    expect(ls.code, ls.stderr).toBe(0);
    const inv = JSON.parse(ls.stdout);
    expect(inv.store.type).toBe('s3');
    expect(inv.artifacts.find((a: { sha256: string }) => a.sha256 === sha)).toMatchObject({ stored: true, runs: [{ run: r.id, path: 'm/model.bin' }] });
    const dest = path.join(out, 'got.bin');
    const get = gitml(dir, ['artifacts', 'get', r.id, 'm/model.bin', '-o', dest], { env: S3_ENV });
    expect(get.code, get.stderr).toBe(0);
    expect(readFileSync(dest).equals(bytes)).toBe(true);
    expect(get.stderr).not.toMatch(/NodeVersionSupportWarning/);
  });

  test('a fresh clone of a repo whose model was trained elsewhere (s3 store): gitml pull, then gitml serve iris#production', async () => {
    const files = {
      'gitml.yaml': ['kind: Workspace', 'name: demo', 'defaults:', '  compute: local', '  environment: py', 'artifacts:', '  inlineMaxBytes: 1024', '  store:', '    type: s3', `    bucket: ${BUCKET}`, '    prefix: e2e/', `    endpoint: ${moto.endpoint}`, '    forcePathStyle: true', ''].join('\n'),
      'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
      'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\n',
      'gitml/experiments/train.yaml': ['kind: Experiment', 'command: [python3, train.py]', 'outputs:', '  model: model.json', '  sample: sample.json', 'compute: local', 'environment: py', ''].join('\n'),
      'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nflavor: python\nscoring: src/score.py\nsample: sample\n',
      'src/score.py': 'def init():\n    pass\n\n\ndef run(data):\n    return [r["n"] * 2 for r in data]\n',
    };
    const a = makeRepo(files);
    dirs.push(a);
    const r = record({ source: { commit: git(a, 'rev-parse', 'HEAD'), tree: git(a, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
    const sample = JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ n: i, note: `row ${i}` })));
    await addRun(a, r, { 'model.json': JSON.stringify({ w: 2, pad: 'q'.repeat(5000) }), 'sample.json': sample });
    await registerModel({ dir: a, name: 'iris', runId: r.id, version: 'v0.1.0' });
    await promoteModel({ dir: a, name: 'iris', version: 'v0.1.0', stage: 'production' });
    const root = tmpDir('gitml-s3-remote-');
    dirs.push(root);
    const bare = path.join(root, 'r.git');
    spawnSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
    git(a, 'push', '-q', bare, 'HEAD:refs/heads/main');
    const push = gitml(a, ['push', bare, '--json'], { env: S3_ENV });
    expect(push.code, push.stderr).toBe(0);
    // The bytes are in the bucket, not on the git remote.
    expect(JSON.parse(push.stdout).artifacts).toMatchObject({ store: 's3', moved: 0 });
    expect(git(bare, 'for-each-ref', 'refs/gitml/artifacts/')).toBe('');

    git(root, 'clone', '-q', bare, 'b');
    const b = path.join(root, 'b');
    const pull = gitml(b, ['pull', '--json'], { env: S3_ENV });
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout).artifacts).toMatchObject({ store: 's3', moved: 2, mode: 'registered' });
    const s = await serveJson(b, ['iris#production', '--port', '0'], S3_ENV);
    try {
      const res = await fetch(`${s.info.url}/score`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ data: [{ n: 21, note: 'from s3' }] }) });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(text).toContain('42');
    } finally {
      s.proc.kill('SIGTERM');
      await s.exited;
    }
    for (const out of [push.stdout, push.stderr, pull.stdout, pull.stderr, s.stderr()]) expect(out).not.toContain(S3_ENV.AWS_SECRET_ACCESS_KEY);
  }, 120_000);

  test('gitml killed mid-download (SIGKILL): nothing under the final name, no -o file; the retry fetches it and clears the debris', async () => {
    const proxy = await faultyProxy(moto.endpoint);
    try {
      const dir = s3Repo(proxy.endpoint);
      const out = tmpDir('gitml-s3-kill-');
      dirs.push(out);
      const bytes = randomBytes(12 * 1024 * 1024);
      writeFileSync(path.join(out, 'model.bin'), bytes);
      const r = rec();
      await recordRun({ dir, record: r, outputsDir: out });
      closeRunStore();
      const sha = createHash('sha256').update(bytes).digest('hex');
      const cache = path.join(dir, '.git', 'gitml', 'cache', 'artifacts');
      const dest = path.join(out, 'got.bin');
      proxy.mode = 'slow';
      const child = spawn(process.execPath, [BIN, 'artifacts', 'get', r.id, 'model.bin', '-o', dest], { cwd: dir, env: { ...process.env, ...GIT_ENV, ...S3_ENV }, stdio: 'ignore' });
      const exited = new Promise((res) => child.once('exit', res));
      // Kill it once part of the object has arrived in the cache's temporary file.
      const deadline = Date.now() + 60_000;
      let partial: string | undefined;
      while (!partial && Date.now() < deadline) {
        partial = filesUnder(cache).find((f) => f.endsWith('.tmp') && statSync(path.join(cache, f)).size > 0);
        if (!partial) await new Promise((res) => setTimeout(res, 50));
      }
      expect(partial, 'the download never started').toBeDefined();
      child.kill('SIGKILL');
      await exited;
      expect(existsSync(cacheFile(cache, sha))).toBe(false);
      expect(existsSync(dest)).toBe(false);
      expect(statSync(path.join(cache, partial!)).size).toBeLessThan(bytes.length); // what SIGKILL leaves
      proxy.mode = 'pass';
      // Not spawnSync: the proxy lives in this process and must keep forwarding.
      const again = await runAsync(process.execPath, [BIN, 'artifacts', 'get', r.id, 'model.bin', '-o', dest], { cwd: dir, env: { ...process.env, ...GIT_ENV, ...S3_ENV }, timeoutMs: 60_000 });
      expect(again.status, again.stderr).toBe(0);
      expect(readFileSync(dest).equals(bytes)).toBe(true);
      expect(filesUnder(cache)).toEqual([path.relative(cache, cacheFile(cache, sha))]);
    } finally {
      await proxy.close();
    }
  }, 120_000);

  test('refused credentials: exit 3, one error line, no secret printed', () => {
    const dir = s3Repo(authMoto.endpoint);
    for (const args of [['artifacts', 'ls'], ['artifacts', 'gc', '--dry-run']]) {
      const r = gitml(dir, args, { env: S3_ENV });
      expect(r.code, r.stderr).toBe(3);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
      expect(errors, r.stderr).toHaveLength(1);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout + r.stderr).not.toContain(S3_ENV.AWS_SECRET_ACCESS_KEY);
      expect(r.stdout + r.stderr).not.toContain(S3_ENV.AWS_ACCESS_KEY_ID);
    }
  });

  test('the store is down: exit 3 and a clear error, no secret', () => {
    const dir = s3Repo('http://127.0.0.1:9');
    const r = gitml(dir, ['artifacts', 'ls', '--json'], { env: S3_ENV });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout + r.stderr).not.toContain(S3_ENV.AWS_SECRET_ACCESS_KEY);
  });
});
