/**
 * Artifact store benchmark: `npx tsx bench/artifacts.ts [--mb 1024] [--s3-mb 256] [--runs 100]
 * [--only throughput|s3|negotiation|push] [--keep]`
 * (run `npx tsc -p tsconfig.json` first: the measured stores run from dist/ in child processes,
 * as the CLI runs them, so their peak RSS is gitml's own and not the benchmark's).
 *
 * Measures, as ratios to a baseline taken in the same run:
 *   1. storing and fetching a --mb file: git store vs `git hash-object -w` / `git cat-file blob`;
 *      local store vs `cp`; s3 store (moto on loopback, --s3-mb) vs the SDK's own upload example
 *      (`new Upload({ client, params }).done()`) and a plain GetObject to a file. Peak RSS of each.
 *   2. the cost of one ref per artifact in push negotiation at 1,000 artifacts: pushing a runs
 *      commit to a remote with 0 artifact refs, 1,000 artifact refs, and one tree ref holding
 *      the 1,000 blobs; the ref advertisement's size; fetching one artifact by its ref against
 *      fetching the tree ref (the only selective-free way with a tree).
 *   3. `gitml push` of --runs runs with 10 stored artifacts each, 90 % already on the remote,
 *      against pushing only the runs branch with `git push`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.GITML_AUTO_GC = '0';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist/core');
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const MB = Number(arg('mb', '1024'));
const S3_MB = Number(arg('s3-mb', '256'));
const RUNS = Number(arg('runs', '100'));
const KEEP = process.argv.includes('--keep');
const work = mkdtempSync(path.join(tmpdir(), 'gitml-bench-art-'));
const ENV = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@b' };

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}
function timed(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}
function newRepo(name: string, bare = false): string {
  const d = path.join(work, name);
  git(work, 'init', '-q', ...(bare ? ['--bare'] : []), '--initial-branch=main', d);
  return d;
}

/** Run `body` (an async ESM snippet with `dist` in scope) in a fresh node; returns its ms and peak RSS. */
function child(body: string, env: NodeJS.ProcessEnv = {}): Promise<{ ms: number; rssMb: number; out: string }> {
  const script = `const dist = ${JSON.stringify(DIST)}; const t0 = performance.now(); let out = ''; ${body}; const ms = performance.now() - t0; process.stdout.write(JSON.stringify({ ms, rssMb: process.resourceUsage().maxRSS / 1024, out: String(out) })); process.exit(0);`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let so = '';
    let se = '';
    p.stdout.on('data', (d) => (so += d));
    p.stderr.on('data', (d) => (se += d));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(so)) : reject(new Error(`child failed (${code}): ${se}`))));
  });
}

async function bigFile(mb: number, name: string): Promise<{ file: string; sha256: string }> {
  const file = path.join(work, name);
  const h = createHash('sha256');
  const ws = createWriteStream(file);
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < mb; i++) {
    // Vary every MiB so no two chunks are alike (git would delta them otherwise).
    chunk.writeUInt32LE(i, 0);
    h.update(chunk);
    if (!ws.write(chunk)) await new Promise((r) => ws.once('drain', r));
  }
  await new Promise<void>((r) => ws.end(r));
  return { file, sha256: h.digest('hex') };
}

const mbps = (mb: number, ms: number) => `${((mb * 1000) / ms).toFixed(0)} MB/s`;
const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  console.log(s);
};

async function throughput(): Promise<void> {
  const { file, sha256 } = await bigFile(MB, 'big.bin');
  say(`\n1. ${MB} MiB artifact (peak RSS of the gitml process in brackets)`);
  // git store
  const g = newRepo('gstore');
  const cache = path.join(g, '.git/gitml/cache/artifacts');
  const gconf = JSON.stringify({ type: 'git', dir: g, cache });
  const put = await child(`const { artifactStoreFor } = await import(dist + '/artifacts/index.js'); out = (await artifactStoreFor(${gconf}).putFile(${JSON.stringify(file)})).sha256`);
  if (put.out !== sha256) throw new Error('git store digest mismatch');
  const base = newRepo('gbase');
  const hashObj = timed(() => git(base, 'hash-object', '-w', '--', file));
  say(`   git store   put   ${mbps(MB, put.ms)} [${put.rssMb.toFixed(0)} MB]  vs git hash-object -w ${mbps(MB, hashObj)}  ratio ${(put.ms / hashObj).toFixed(2)}x`);
  const get = await child(`const { artifactStoreFor } = await import(dist + '/artifacts/index.js'); out = await artifactStoreFor(${gconf}).localPath(${JSON.stringify(sha256)})`);
  const outFile = path.join(work, 'catfile.out');
  const fd = openSync(outFile, 'w');
  const t = performance.now();
  spawnSync('git', ['cat-file', 'blob', `refs/gitml/artifacts/${sha256}:${sha256}`], { cwd: g, stdio: ['ignore', fd, 'inherit'] });
  const catMs = performance.now() - t;
  closeSync(fd);
  rmSync(outFile);
  say(`   git store   fetch ${mbps(MB, get.ms)} [${get.rssMb.toFixed(0)} MB]  vs git cat-file blob > file ${mbps(MB, catMs)}  ratio ${(get.ms / catMs).toFixed(2)}x  (includes the sha256 check)`);
  rmSync(g, { recursive: true, force: true });
  rmSync(base, { recursive: true, force: true });
  // local store
  const lroot = path.join(work, 'lstore');
  const lconf = JSON.stringify({ type: 'local', path: lroot });
  const lput = await child(`const { artifactStoreFor } = await import(dist + '/artifacts/index.js'); out = (await artifactStoreFor(${lconf}).putFile(${JSON.stringify(file)})).sha256`);
  const cpMs = timed(() => spawnSync('cp', [file, path.join(work, 'cp.bin')]));
  rmSync(path.join(work, 'cp.bin'));
  say(`   local store put   ${mbps(MB, lput.ms)} [${lput.rssMb.toFixed(0)} MB]  vs cp ${mbps(MB, cpMs)}  ratio ${(lput.ms / cpMs).toFixed(2)}x`);
  const lget = await child(`const { artifactStoreFor } = await import(dist + '/artifacts/index.js'); out = await artifactStoreFor(${lconf}).localPath(${JSON.stringify(sha256)})`);
  say(`   local store read  ${mbps(MB, lget.ms)} [${lget.rssMb.toFixed(0)} MB]  (verify in place) vs cp ${mbps(MB, cpMs)}  ratio ${(lget.ms / cpMs).toFixed(2)}x`);
  rmSync(lroot, { recursive: true, force: true });
  rmSync(file);
}

async function s3(): Promise<void> {
  const bin = path.join(ROOT, '.venv/bin/moto_server');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const moto = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        await fetch(endpoint);
        break;
      } catch {
        if (i > 200) throw new Error('moto did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const env = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' };
    const { file, sha256 } = await bigFile(S3_MB, 's3.bin');
    const sdk = `const { S3Client, CreateBucketCommand, GetObjectCommand } = await import(${JSON.stringify(path.join(ROOT, 'node_modules/@aws-sdk/client-s3/dist-cjs/index.js'))}); const { Upload } = await import(${JSON.stringify(path.join(ROOT, 'node_modules/@aws-sdk/lib-storage/dist-cjs/index.js'))}); const fs = await import('node:fs'); const { pipeline } = await import('node:stream/promises'); const client = new S3Client({ endpoint: ${JSON.stringify(endpoint)}, forcePathStyle: true, region: 'us-east-1' });`;
    await child(`${sdk} await client.send(new CreateBucketCommand({ Bucket: 'bench' }))`, env);
    const conf = JSON.stringify({ type: 's3', bucket: 'bench', prefix: 'g/', endpoint, forcePathStyle: true, cache: path.join(work, 's3cache') });
    say(`\n   s3 (moto on loopback), ${S3_MB} MiB`);
    const put = await child(`const { artifactStoreFor } = await import(dist + '/artifacts/index.js'); out = (await artifactStoreFor(${conf}).putFile(${JSON.stringify(file)})).sha256`, env);
    const ex = await child(`${sdk} await new Upload({ client, params: { Bucket: 'bench', Key: 'example/obj', Body: fs.createReadStream(${JSON.stringify(file)}) } }).done()`, env);
    say(`   s3 store    put   ${mbps(S3_MB, put.ms)} [${put.rssMb.toFixed(0)} MB]  vs the SDK's Upload example ${mbps(S3_MB, ex.ms)} [${ex.rssMb.toFixed(0)} MB]  ratio ${(put.ms / ex.ms).toFixed(2)}x  (includes hashing first)`);
    const get = await child(`const { artifactStoreFor } = await import(dist + '/artifacts/index.js'); out = await artifactStoreFor(${conf}).localPath(${JSON.stringify(sha256)})`, env);
    const plain = await child(`${sdk} const r = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: 'example/obj' })); await pipeline(r.Body, fs.createWriteStream(${JSON.stringify(path.join(work, 'plain.bin'))}))`, env);
    say(`   s3 store    fetch ${mbps(S3_MB, get.ms)} [${get.rssMb.toFixed(0)} MB]  vs plain GetObject to a file ${mbps(S3_MB, plain.ms)}  ratio ${(get.ms / plain.ms).toFixed(2)}x`);
    rmSync(file);
  } finally {
    moto.kill('SIGTERM');
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function negotiation(): Promise<void> {
  const N = 1000;
  say(`\n2. ref layout at ${N} artifacts (median of 5)`);
  const src = newRepo('neg-src');
  // N small distinct blobs, one ref each, and one tree holding all of them.
  const input = Array.from({ length: N }, (_, i) => `artifact ${i} ${randomBytes(512).toString('hex')}`);
  const dir = path.join(work, 'neg-blobs');
  mkdirSync(dir);
  input.forEach((t, i) => writeFileSync(path.join(dir, `${i}`), t));
  const oids = git(src, 'hash-object', '-w', ...input.map((_, i) => path.join(dir, `${i}`))).split('\n');
  const shas = input.map((t) => createHash('sha256').update(t).digest('hex'));
  const updates: string[] = [];
  const treeLines: string[] = [];
  for (let i = 0; i < N; i++) {
    const tree = spawnSync('git', ['mktree'], { cwd: src, input: `100644 blob ${oids[i]}\t${shas[i]}\n`, encoding: 'utf8' }).stdout.trim();
    const commit = spawnSync('git', ['commit-tree', tree, '-m', 'a'], { cwd: src, env: ENV, encoding: 'utf8' }).stdout.trim();
    updates.push(`create refs/gitml/artifacts/${shas[i]} ${commit}`);
    treeLines.push(`100644 blob ${oids[i]}\t${shas[i]}`);
  }
  spawnSync('git', ['update-ref', '--stdin'], { cwd: src, input: updates.join('\n') + '\n' });
  const bigTree = spawnSync('git', ['mktree'], { cwd: src, input: treeLines.join('\n') + '\n', encoding: 'utf8' }).stdout.trim();
  git(src, 'update-ref', 'refs/gitml/artifact-tree', git(src, 'commit-tree', bigTree, '-m', 'all'));
  const remotes = { none: newRepo('neg-none.git', true), perRef: newRepo('neg-perref.git', true), tree: newRepo('neg-tree.git', true) };
  git(src, 'push', '-q', remotes.perRef, 'refs/gitml/artifacts/*:refs/gitml/artifacts/*');
  git(src, 'push', '-q', remotes.tree, 'refs/gitml/artifact-tree:refs/gitml/artifact-tree');
  // A runs branch that grows one commit per push.
  const push: Record<string, number[]> = { none: [], perRef: [], tree: [] };
  let parent = '';
  for (let k = 0; k < 5; k++) {
    writeFileSync(path.join(dir, 'run.json'), `{"run": ${k}}`);
    const blob = git(src, 'hash-object', '-w', path.join(dir, 'run.json'));
    const tree = spawnSync('git', ['mktree'], { cwd: src, input: `100644 blob ${blob}\trun.json\n`, encoding: 'utf8' }).stdout.trim();
    parent = git(src, 'commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', `run ${k}`);
    git(src, 'update-ref', 'refs/heads/runs', parent);
    for (const [name, r] of Object.entries(remotes)) push[name].push(timed(() => git(src, 'push', '-q', `file://${r}`, 'refs/heads/runs:refs/heads/runs')));
  }
  const adv = (r: string) => spawnSync('git', ['ls-remote', `file://${r}`], { encoding: 'utf8' }).stdout.length;
  say(`   push a runs commit: no artifact refs ${median(push.none).toFixed(0)} ms; ${N} per-artifact refs ${median(push.perRef).toFixed(0)} ms (${(median(push.perRef) / median(push.none)).toFixed(2)}x); one tree ref ${median(push.tree).toFixed(0)} ms (${(median(push.tree) / median(push.none)).toFixed(2)}x)`);
  say(`   ref advertisement: ${adv(remotes.none)} B / ${adv(remotes.perRef)} B / ${adv(remotes.tree)} B`);
  const clone1 = newRepo('neg-c1');
  const one = timed(() => git(clone1, 'fetch', '-q', `file://${remotes.perRef}`, `refs/gitml/artifacts/${shas[7]}:refs/gitml/artifacts/${shas[7]}`));
  const objs1 = git(clone1, 'count-objects', '-v').match(/count: (\d+)[\s\S]*in-pack: (\d+)/);
  const clone2 = newRepo('neg-c2');
  const all = timed(() => git(clone2, 'fetch', '-q', `file://${remotes.tree}`, 'refs/gitml/artifact-tree:refs/gitml/artifact-tree'));
  const objs2 = git(clone2, 'count-objects', '-v').match(/count: (\d+)[\s\S]*in-pack: (\d+)/);
  const n = (m: RegExpMatchArray | null) => (m ? Number(m[1]) + Number(m[2]) : NaN);
  say(`   fetch one artifact: by its ref ${one.toFixed(0)} ms, ${n(objs1)} objects; through the tree ref ${all.toFixed(0)} ms, ${n(objs2)} objects (every artifact)`);
}

async function pushRuns(): Promise<void> {
  say(`\n3. gitml push of ${RUNS} runs x 10 stored artifacts (64 KiB each), 90 % already on the remote`);
  const a = newRepo('push-a');
  git(a, 'commit', '-q', '--allow-empty', '-m', 'init');
  writeFileSync(path.join(a, 'gitml.yaml'), 'kind: Workspace\nname: bench\nartifacts:\n  inlineMaxBytes: 1024\n');
  const rec = await child(
    `const { recordRun, newRunId, closeRunStore } = await import(dist + '/runs/store.js'); const fs = await import('node:fs'); const crypto = await import('node:crypto'); const path = await import('node:path');
     for (let r = 0; r < ${RUNS}; r++) {
       const out = fs.mkdtempSync(path.join(${JSON.stringify(work)}, 'out-'));
       for (let k = 0; k < 10; k++) fs.writeFileSync(path.join(out, 'a' + k + '.bin'), crypto.randomBytes(65536));
       const id = newRunId();
       await recordRun({ dir: ${JSON.stringify(a)}, record: { schema: 1, id, experiment: 'train', status: 'completed', params: {}, metrics: {}, source: { commit: 'a'.repeat(40), tree: 'b'.repeat(40), branch: 'main' }, inputs: {}, compute: { name: 'local', type: 'local' }, host: 'bench', startedAt: new Date().toISOString(), artifacts: [] }, outputsDir: out });
       fs.rmSync(out, { recursive: true });
     }
     closeRunStore();`,
  );
  const refs = git(a, 'for-each-ref', '--format=%(refname)', 'refs/gitml/artifacts/').split('\n');
  say(`   recorded ${RUNS} runs, ${refs.length} artifacts in ${(rec.ms / 1000).toFixed(1)} s`);
  const already = refs.slice(0, Math.floor(refs.length * 0.9));
  const r1 = newRepo('push-r1.git', true);
  const r2 = newRepo('push-r2.git', true);
  const r3 = newRepo('push-r3.git', true);
  for (const r of [r1, r2, r3]) {
    for (let i = 0; i < already.length; i += 300) git(a, 'push', '-q', r, ...already.slice(i, i + 300).map((x) => `${x}:${x}`));
  }
  const runsOnly = timed(() => git(a, 'push', '-q', r2, 'refs/heads/runs:refs/heads/runs'));
  const t = performance.now();
  const g = spawnSync(process.execPath, [path.join(ROOT, 'bin/gitml.js'), 'push', r1, '--json'], { cwd: a, env: ENV, encoding: 'utf8' });
  const gm = performance.now() - t;
  if (g.status !== 0) throw new Error(g.stderr);
  const moved = JSON.parse(g.stdout).artifacts.moved;
  say(`   gitml push (${moved} artifacts + runs + tags + status) ${gm.toFixed(0)} ms vs git push of the runs branch alone ${runsOnly.toFixed(0)} ms: ${(gm / runsOnly).toFixed(2)}x`);
  const rest = refs.slice(already.length);
  const rawArtifacts = timed(() => git(a, 'push', '-q', r3, ...rest.map((x) => `${x}:${x}`), 'refs/heads/runs:refs/heads/runs'));
  say(`   for scale: git push of the same ${rest.length} artifact refs + runs branch by hand ${rawArtifacts.toFixed(0)} ms (gitml push ${(gm / rawArtifacts).toFixed(2)}x of it)`);
  const noop = timed(() => spawnSync(process.execPath, [path.join(ROOT, 'bin/gitml.js'), 'push', r1], { cwd: a, env: ENV }));
  say(`   gitml push again (nothing new) ${noop.toFixed(0)} ms`);
}

const only = arg('only', 'all');
try {
  if (only === 'all' || only === 'throughput') await throughput();
  if (only === 'all' || only === 's3') await s3();
  if (only === 'all' || only === 'negotiation') await negotiation();
  if (only === 'all' || only === 'push') await pushRuns();
  console.log(`\nsummary\n${lines.join('\n')}`);
} finally {
  if (!KEEP) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
