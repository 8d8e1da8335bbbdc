/**
 * Verified working copies of artifacts whose home is not a local folder (the `git` store's
 * blobs, the `s3` store's objects): `<cache>/sha256/<ab>/<rest>`, read-only. A copy is hashed
 * again every time it is handed out; one that no longer matches (disk fault, someone edited
 * it) is removed, and the caller fetches it again from the store.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { hashFile } from './hash.js';
import { checkDigest } from './types.js';

export function cacheFile(cache: string, sha256: string): string {
  checkDigest(sha256);
  return path.join(cache, 'sha256', sha256.slice(0, 2), sha256.slice(2));
}

/** The cached copy when present and intact; a damaged copy is dropped. */
export async function verifiedCopy(cache: string, sha256: string): Promise<string | undefined> {
  const f = cacheFile(cache, sha256);
  if (!existsSync(f)) return undefined;
  if ((await hashFile(f)).sha256 === sha256) return f;
  rmSync(f, { force: true });
  return undefined;
}

export function dropCopy(cache: string, sha256: string): void {
  rmSync(cacheFile(cache, sha256), { force: true });
}

/** Digests under a `sha256/<ab>/<rest>` folder (the local store's and the caches' layout). */
export function* digestsUnder(root: string): Generator<string> {
  const base = path.join(root, 'sha256');
  if (!existsSync(base)) return;
  for (const ab of readdirSync(base)) {
    if (!/^[0-9a-f]{2}$/.test(ab)) continue;
    for (const rest of readdirSync(path.join(base, ab))) {
      if (/^[0-9a-f]{62}$/.test(rest)) yield ab + rest;
    }
  }
}
