/**
 * Carrying `git`-store artifacts to and from a remote: only what the other side lacks. The
 * remote's artifact refs are listed once (`git ls-remote`), the difference is pushed or
 * fetched by ref name in batches (a batch keeps argv far below the system's limit).
 *
 * Example:
 *   await pushGitArtifacts({ dir, remote: 'origin' });                   // after gitml push
 *   await fetchGitArtifacts({ dir, remote: 'origin', digests: [sha] });  // gitml pull, lazy fetch
 */
import { GitmlError } from '../errors.js';
import { redactUrls } from '../redact.js';
import { gitExec } from '../runs/git/exec.js';
import { ARTIFACT_REFS } from './git-store.js';
import { SHA_RE } from './types.js';

const BATCH = 200;

export interface ArtifactTransfer {
  /** Digests moved. */
  sent: string[];
  /** Digests the other side had already. */
  skipped: number;
  /** Digests asked for that the remote does not have (fetch only). */
  absent: string[];
}

function transportError(verb: string, remote: string, stderr: string): GitmlError {
  const shown = redactUrls(remote);
  const line = stderr.split('\n').map((l) => l.trim()).filter(Boolean).find((l) => /^(fatal|error|ssh|remote):/i.test(l)) ?? 'git failed';
  return new GitmlError('REMOTE', `cannot ${verb} artifacts ${verb === 'push' ? 'to' : 'from'} ${JSON.stringify(shown)}: ${redactUrls(line.replace(/^fatal:\s*/i, ''))}`, { remote: shown }, { retryable: true });
}

/** Digests of the artifact refs of `remote` (names outside the rule are ignored). */
export async function remoteArtifacts(dir: string, remote: string): Promise<Set<string>> {
  const r = await gitExec(dir, ['ls-remote', '--refs', '--', remote, `${ARTIFACT_REFS}*`]);
  if (r.code !== 0) throw transportError('list', remote, r.stderr);
  const out = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const ref = line.split('\t')[1];
    if (!ref?.startsWith(ARTIFACT_REFS)) continue;
    const sha = ref.slice(ARTIFACT_REFS.length);
    if (SHA_RE.test(sha)) out.add(sha);
  }
  return out;
}

export async function localArtifacts(dir: string): Promise<Set<string>> {
  const r = await gitExec(dir, ['for-each-ref', '--format=%(refname)', ARTIFACT_REFS]);
  return new Set(
    r.stdout
      .split('\n')
      .map((l) => l.slice(ARTIFACT_REFS.length))
      .filter((s) => SHA_RE.test(s)),
  );
}

/** Push this clone's artifact refs that `remote` lacks (all of them, or only `digests`). */
export async function pushGitArtifacts(o: { dir: string; remote: string; digests?: Iterable<string>; onProgress?: (done: number, total: number) => void }): Promise<ArtifactTransfer> {
  const mine = await localArtifacts(o.dir);
  const wanted = o.digests ? [...new Set(o.digests)].filter((d) => mine.has(d)) : [...mine];
  if (wanted.length === 0) return { sent: [], skipped: 0, absent: [] };
  const theirs = await remoteArtifacts(o.dir, o.remote);
  const todo = wanted.filter((d) => !theirs.has(d)).sort();
  for (let i = 0; i < todo.length; i += BATCH) {
    const batch = todo.slice(i, i + BATCH);
    const r = await gitExec(o.dir, ['push', '--porcelain', '--no-verify', '--', o.remote, ...batch.map((d) => `${ARTIFACT_REFS}${d}:${ARTIFACT_REFS}${d}`)]);
    if (r.code !== 0) {
      // Another clone pushed the same artifact meanwhile: its ref names the same commit (the
      // commit is deterministic), so the remote holds the bytes; anything else is a failure.
      const now = await remoteArtifacts(o.dir, o.remote);
      if (!batch.every((d) => now.has(d))) throw transportError('push', o.remote, r.stderr);
    }
    o.onProgress?.(Math.min(i + BATCH, todo.length), todo.length);
  }
  return { sent: todo, skipped: wanted.length - todo.length, absent: [] };
}

/** Fetch the artifacts among `digests` this clone lacks (all the remote has when omitted). */
export async function fetchGitArtifacts(o: { dir: string; remote: string; digests?: Iterable<string>; onProgress?: (done: number, total: number) => void }): Promise<ArtifactTransfer> {
  const mine = await localArtifacts(o.dir);
  const asked = o.digests ? [...new Set(o.digests)].filter((d) => SHA_RE.test(d)) : undefined;
  const need = asked ? asked.filter((d) => !mine.has(d)) : undefined;
  if (need && need.length === 0) return { sent: [], skipped: asked!.length, absent: [] };
  const theirs = await remoteArtifacts(o.dir, o.remote);
  const todo = (need ?? [...theirs].filter((d) => !mine.has(d))).filter((d) => theirs.has(d)).sort();
  const absent = (need ?? []).filter((d) => !theirs.has(d));
  for (let i = 0; i < todo.length; i += BATCH) {
    const batch = todo.slice(i, i + BATCH);
    // Not forced: only refs this clone lacks are asked for, so nothing local is overwritten.
    const r = await gitExec(o.dir, ['fetch', '--no-tags', '--no-write-fetch-head', '--', o.remote, ...batch.map((d) => `${ARTIFACT_REFS}${d}:${ARTIFACT_REFS}${d}`)]);
    if (r.code !== 0) {
      const now = await localArtifacts(o.dir);
      if (!batch.every((d) => now.has(d))) throw transportError('fetch', o.remote, r.stderr);
    }
    o.onProgress?.(Math.min(i + BATCH, todo.length), todo.length);
  }
  return { sent: todo, skipped: (asked?.length ?? theirs.size) - todo.length - absent.length, absent };
}
