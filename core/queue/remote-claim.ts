/**
 * Claims on a remote, for several daemons (on different machines) following one remote: a
 * queue entry's id is the same everywhere (a hash of commit, experiment and params), so a
 * daemon claims it by creating `refs/gitml/claims/<id>` on the remote with a push that fails
 * when the ref exists (`--force-with-lease=<ref>:` with nothing expected). The ref points to a
 * small blob: holder, state, and when the claim expires. The holder renews it while the run
 * goes on; a claim past its expiry (or of a process of this host that is gone) belongs to a dead worker and is taken over with a push
 * leased on the old blob (so two daemons cannot both take it). A finished run's claim stays,
 * `done`, so no daemon ever starts that entry again.
 *
 * @example
 *   const c = await claimOnRemote({ dir, remote: 'origin', id, ttlMs: 600_000 });
 *   if (c.ok) { …run…; await c.claim.done(runId); } else log('held by', c.holder);
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { GitmlError } from '../errors.js';
import { pidAlive } from '../pid.js';
import { runGit } from '../git.js';
import { redactUrls } from '../redact.js';
import { gitReason } from '../runs/sync.js';

export interface RemoteClaimInfo {
  id: string;
  host: string;
  pid: number;
  nonce: string;
  at: string;
  expiresAt: string;
  state: 'running' | 'done';
  runId?: string;
  status?: string;
}

export interface RemoteClaim {
  info: RemoteClaimInfo;
  /** Push a later expiry (the holder is alive). */
  renew(): Promise<void>;
  /** The run finished: the claim stays, marked done. */
  done(r: { runId?: string; status?: string }): Promise<void>;
  /** Give the entry back (a stopping daemon): the ref is deleted, leased on our blob. */
  release(): Promise<void>;
}

export type ClaimOutcome = { ok: true; claim: RemoteClaim; tookOver?: RemoteClaimInfo } | { ok: false; holder: RemoteClaimInfo | undefined };

export const claimRef = (id: string) => `refs/gitml/claims/${id}`;

async function writeBlob(dir: string, info: RemoteClaimInfo): Promise<string> {
  const r = await runGit(dir, ['hash-object', '-w', '--stdin'], { input: JSON.stringify(info) + '\n' });
  if (r.code !== 0) throw new GitmlError('IO', `cannot write a claim object: ${r.stderr.trim()}`, {});
  return r.stdout.trim();
}

/** Push `oid` to the claim ref, leased on `expect` ('' = the ref must not exist). false: the lease failed. */
async function leasedPush(dir: string, remote: string, id: string, oid: string, expect: string): Promise<boolean> {
  const ref = claimRef(id);
  const spec = oid ? `${oid}:${ref}` : `:${ref}`;
  const r = await runGit(dir, ['push', '--porcelain', `--force-with-lease=${ref}:${expect}`, '--', remote, spec]);
  if (r.code === 0) return true;
  if (/^!/m.test(r.stdout)) return false;
  throw new GitmlError('REMOTE', `cannot claim on remote ${JSON.stringify(redactUrls(remote))}: ${redactUrls(gitReason(r.stderr))}`, { remote: redactUrls(remote) }, { retryable: true });
}

/** The remote's claim of `id`: its object id and content (undefined when there is none). */
export async function readRemoteClaim(dir: string, remote: string, id: string): Promise<{ oid: string; info: RemoteClaimInfo | undefined } | undefined> {
  const local = `refs/gitml/seen-claims/${id}`;
  const f = await runGit(dir, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', remote, `+${claimRef(id)}:${local}`]);
  if (f.code !== 0) {
    if (/couldn't find remote ref/i.test(f.stderr)) return undefined;
    throw new GitmlError('REMOTE', `cannot read claims on remote ${JSON.stringify(redactUrls(remote))}: ${redactUrls(gitReason(f.stderr))}`, { remote: redactUrls(remote) }, { retryable: true });
  }
  const oid = (await runGit(dir, ['rev-parse', '--verify', '--quiet', local])).stdout.trim();
  await runGit(dir, ['update-ref', '-d', local]);
  const blob = await runGit(dir, ['cat-file', 'blob', oid]);
  try {
    return { oid, info: JSON.parse(blob.stdout) as RemoteClaimInfo };
  } catch {
    return { oid, info: undefined };
  }
}

export async function claimOnRemote(o: { dir: string; remote: string; id: string; ttlMs: number; clock?: () => number }): Promise<ClaimOutcome> {
  const clock = o.clock ?? Date.now;
  const mine = (): RemoteClaimInfo => ({ id: o.id, host: hostname(), pid: process.pid, nonce, at: new Date(clock()).toISOString(), expiresAt: new Date(clock() + o.ttlMs).toISOString(), state: 'running' });
  const nonce = randomBytes(8).toString('hex');
  let info = mine();
  let oid = await writeBlob(o.dir, info);
  let tookOver: RemoteClaimInfo | undefined;
  if (!(await leasedPush(o.dir, o.remote, o.id, oid, ''))) {
    const held = await readRemoteClaim(o.dir, o.remote, o.id);
    if (!held) return { ok: false, holder: undefined }; // gone meanwhile: the next pass tries again
    // Past its expiry, or held by a process of this host that is gone (a SIGKILLed daemon).
    const h = held.info;
    const expired = h?.state === 'running' && (Date.parse(h.expiresAt) < clock() || (h.host === hostname() && h.pid !== process.pid && !pidAlive(h.pid)));
    if (!expired || !(await leasedPush(o.dir, o.remote, o.id, oid, held.oid))) return { ok: false, holder: held.info };
    tookOver = held.info;
  }
  const update = async (next: RemoteClaimInfo | undefined) => {
    const n = next ? await writeBlob(o.dir, next) : '';
    if (!(await leasedPush(o.dir, o.remote, o.id, n, oid))) {
      throw new GitmlError('REF_CONFLICT', `the claim of queue entry ${o.id} on the remote was taken over (it expired before it was renewed)`, { id: o.id });
    }
    oid = n;
    if (next) info = next;
  };
  return {
    ok: true,
    ...(tookOver ? { tookOver } : {}),
    claim: {
      get info() {
        return info;
      },
      renew: () => update({ ...info, expiresAt: new Date(clock() + o.ttlMs).toISOString() }),
      done: (r) => update({ ...info, state: 'done', at: new Date(clock()).toISOString(), ...(r.runId ? { runId: r.runId } : {}), ...(r.status ? { status: r.status } : {}) }),
      release: () => update(undefined),
    },
  };
}
