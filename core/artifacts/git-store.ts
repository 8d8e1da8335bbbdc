/**
 * The `git` store (the default): each artifact is a git blob, reachable from its own ref
 * `refs/gitml/artifacts/<sha256>` through a one-entry tree and a commit made with fixed
 * author, date and message. Why this shape:
 *
 * - Not on the runs branch, so listing and merging runs never reads model bytes.
 * - One ref per artifact lets a clone fetch exactly the artifacts it needs (`gitml pull
 *   --artifacts registered`, a lazy fetch before `serve`) with a plain `git fetch REF`, which
 *   every git server allows; one tree ref holding all of them could only be fetched whole, or
 *   blob by blob with partial-clone options that servers turn off by default.
 * - The commit is deterministic (same bytes, same commit id on every clone), so two clones
 *   pushing the same artifact at once write the same ref value: no merge, no conflict.
 * - A commit rather than a bare blob under the ref: forges accept commits under any ref.
 *
 * The price is one advertised ref per artifact on every push and fetch (about 80 bytes each;
 * bench/artifacts.ts measures it at 1,000). Bytes are handed out as verified copies in
 * `.git/gitml/cache/artifacts` (see cache.ts); a missing artifact is fetched from the remote
 * (`artifacts.store.remote`, default `origin`) on first use.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { GitmlError } from '../errors.js';
import { gitExec } from '../runs/git/exec.js';
import { cacheFile, dropCopy, verifiedCopy } from './cache.js';
import { hashForStore, verifiedWrite } from './hash.js';
import { fmtBytes, transferProgress } from './progress.js';
import { checkDigest, corrupt, missing, short, type ArtifactStore, type GitStoreConfig, type PutResult, type StoredArtifact } from './types.js';

export const ARTIFACT_REFS = 'refs/gitml/artifacts/';

/** Fixed identity and time: the commit id depends on the bytes alone. */
const FIXED_ENV = {
  GIT_AUTHOR_NAME: 'gitml',
  GIT_AUTHOR_EMAIL: 'gitml@localhost',
  GIT_AUTHOR_DATE: '@0 +0000',
  GIT_COMMITTER_NAME: 'gitml',
  GIT_COMMITTER_EMAIL: 'gitml@localhost',
  GIT_COMMITTER_DATE: '@0 +0000',
};

export const artifactRef = (sha256: string): string => ARTIFACT_REFS + checkDigest(sha256);

async function git(dir: string, args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await gitExec(dir, args, { input, env });
  if (r.code !== 0) throw new GitmlError('ARTIFACT_STORE', `git ${args[0]} failed in the git artifact store: ${r.stderr.trim().split('\n').pop() ?? ''}`, { args: args.slice(0, 2) });
  return r.stdout.trim();
}

/** Fetcher for artifacts this clone lacks; set by the factory (index.ts) so sync stays apart. */
export type Fetch = (sha256s: string[]) => Promise<void>;

export class GitArtifactStore implements ArtifactStore {
  readonly kind = 'git' as const;
  readonly where = `${ARTIFACT_REFS}*`;

  constructor(
    /** The repository folder git runs in. */
    readonly dir: string,
    readonly config: GitStoreConfig,
    private readonly fetch?: Fetch,
  ) {}

  /** Make the ref for a blob already written. */
  private async link(sha256: string, blob: string): Promise<void> {
    const tree = await git(this.dir, ['mktree'], `100644 blob ${blob}\t${sha256}\n`);
    const commit = await git(this.dir, ['-c', 'commit.gpgsign=false', 'commit-tree', tree, '-m', `gitml artifact sha256:${sha256}`], undefined, FIXED_ENV);
    // Create only: an existing ref already names these bytes (its commit is the same one).
    const r = await gitExec(this.dir, ['update-ref', artifactRef(sha256), commit, '']);
    if (r.code !== 0 && !(await this.has(sha256))) throw new GitmlError('ARTIFACT_STORE', `cannot create ${artifactRef(sha256)}: ${r.stderr.trim()}`, { sha256 });
  }

  async putFile(file: string): Promise<PutResult> {
    const r: PutResult = await hashForStore(file);
    if (await this.has(r.sha256)) return r;
    // By path, not stdin: git streams a file larger than core.bigFileThreshold straight into a
    // pack, where `--stdin` would buffer it whole.
    const blob = await git(this.dir, ['hash-object', '-w', '--no-filters', '--', file]);
    await this.link(r.sha256, blob);
    return r;
  }

  async putBuffer(buf: Buffer): Promise<PutResult> {
    const sha256 = createHash('sha256').update(buf).digest('hex');
    if (!(await this.has(sha256))) {
      const blob = await new Promise<string>((resolve, reject) => {
        const child = spawn('git', ['hash-object', '-w', '--stdin'], { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new GitmlError('ARTIFACT_STORE', 'git hash-object failed in the git artifact store', {}))));
        child.stdin.on('error', () => {});
        child.stdin.end(buf);
      });
      await this.link(sha256, blob);
    }
    return { sha256, size: buf.length };
  }

  async has(sha256: string): Promise<boolean> {
    const r = await gitExec(this.dir, ['rev-parse', '--verify', '--quiet', `${artifactRef(sha256)}^{commit}`]);
    return r.code === 0;
  }

  /** Stream the blob into the cache, verified; false when its bytes do not match the digest. */
  private async materialize(sha256: string): Promise<{ ok: true; file: string } | { ok: false; got: string }> {
    const dest = cacheFile(this.config.cache, sha256);
    const child = spawn('git', ['cat-file', 'blob', `${artifactRef(sha256)}:${sha256}`], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    const r = await verifiedWrite(child.stdout, dest, sha256);
    const code = await exited;
    if (code !== 0) {
      dropCopy(this.config.cache, sha256);
      // The ref exists but does not lead to a blob named after the digest: a forged ref.
      return { ok: false, got: `unreadable (${err.trim().split('\n').pop() ?? 'git cat-file failed'})`.slice(0, 200) };
    }
    return r.kept ? { ok: true, file: dest } : { ok: false, got: r.sha256 };
  }

  async localPath(sha256: string): Promise<string> {
    checkDigest(sha256);
    const copy = await verifiedCopy(this.config.cache, sha256);
    if (copy) return copy;
    let fetched = false;
    if (!(await this.has(sha256))) {
      await this.fetchOne(sha256);
      fetched = true;
    }
    let m = await this.materialize(sha256);
    if (!m.ok && !fetched && this.fetch) {
      // This clone's copy is bad: drop its ref and take the remote's, once.
      await gitExec(this.dir, ['update-ref', '-d', artifactRef(sha256)]);
      await this.fetchOne(sha256).catch(() => undefined);
      if (await this.has(sha256)) m = await this.materialize(sha256);
    }
    if (!m.ok) throw corrupt(sha256, artifactRef(sha256), m.got);
    return m.file;
  }

  private async fetchOne(sha256: string): Promise<void> {
    const remote = this.config.remote ?? 'origin';
    if (!this.fetch) throw missing(sha256, this.where, `run \`gitml pull\` to fetch it from ${remote}`);
    const p = transferProgress();
    p.update(`fetching artifact ${short(sha256)} from ${remote}…`);
    try {
      await this.fetch([sha256]);
    } finally {
      p.done();
    }
    if (!(await this.has(sha256))) throw missing(sha256, this.where, `${remote} does not have it either (was it pushed? \`gitml push\` on the machine that recorded the run)`);
    const size = (await gitExec(this.dir, ['cat-file', '-s', `${artifactRef(sha256)}:${sha256}`])).stdout.trim();
    if (size) transferProgress().done(`fetched artifact ${short(sha256)} (${fmtBytes(Number(size))}) from ${remote}`);
  }

  async read(sha256: string): Promise<Buffer> {
    const buf = readFileSync(await this.localPath(sha256));
    const got = createHash('sha256').update(buf).digest('hex');
    if (got !== sha256) throw corrupt(sha256, artifactRef(sha256), got);
    return buf;
  }

  async *list(): AsyncIterable<StoredArtifact> {
    const refs = (await git(this.dir, ['for-each-ref', '--format=%(refname)', ARTIFACT_REFS])).split('\n').filter(Boolean);
    const shas = refs.map((r) => r.slice(ARTIFACT_REFS.length)).filter((s) => /^[0-9a-f]{64}$/.test(s));
    if (shas.length === 0) return;
    const out = await git(this.dir, ['cat-file', '--batch-check=%(objectsize)'], shas.map((s) => `${ARTIFACT_REFS}${s}:${s}`).join('\n') + '\n');
    const sizes = out.split('\n');
    for (let i = 0; i < shas.length; i++) {
      const n = Number(sizes[i]);
      yield { sha256: shas[i], size: Number.isFinite(n) ? n : undefined };
    }
  }

  async remove(sha256: string): Promise<void> {
    await gitExec(this.dir, ['update-ref', '-d', artifactRef(sha256)]);
    dropCopy(this.config.cache, sha256);
  }
}
