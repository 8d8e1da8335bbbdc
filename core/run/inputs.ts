/**
 * Lineage of a run's inputs: sha256 of every declared input file, and for a folder the
 * sha256 of its sorted listing of `<sha256>  <path>` lines (the `sha256sum` format), read
 * from the exported commit tree so the hash is of exactly what the run saw.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import { safeJoin, safeRelPosix } from '../paths.js';
import type { Experiment } from '../entities/types.js';
import type { InputRef } from '../runs/types.js';

async function hashFile(full: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(full, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function hashPath(full: string): Promise<{ sha256: string; size: number }> {
  const st = await lstat(full);
  if (st.isSymbolicLink()) return { sha256: createHash('sha256').update(await readlink(full)).digest('hex'), size: 0 };
  if (st.isFile()) return { sha256: await hashFile(full), size: st.size };
  if (!st.isDirectory()) throw new GitmlError('IO', `${full} is neither a file nor a folder`);
  const lines: string[] = [];
  let size = 0;
  const walk = async (dir: string, rel: string): Promise<void> => {
    const ents = await readdir(dir, { withFileTypes: true });
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(dir, e.name), r);
      else {
        const sub = await hashPath(path.join(dir, e.name));
        size += sub.size;
        lines.push(`${sub.sha256}  ${r}`);
      }
    }
  };
  await walk(full, '');
  lines.sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : a.slice(66) > b.slice(66) ? 1 : 0));
  return { sha256: createHash('sha256').update(lines.map((l) => l + '\n').join('')).digest('hex'), size };
}

/** Declared inputs as name → repository-relative path. */
export function inputPaths(spec: Experiment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.inputs ?? {})) out[k] = safeRelPosix(typeof v === 'string' ? v : v.path);
  return out;
}

/** Declared outputs as name → path relative to the outputs folder. */
export function outputPaths(spec: Experiment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.outputs ?? {})) out[k] = safeRelPosix(typeof v === 'string' ? v : v.path);
  return out;
}

/** Hash every declared input in `root` (the exported tree). A missing input is an 'INVALID_ENTITIES' error. */
export async function hashInputs(opts: { root: string; inputs: Record<string, string>; file?: string; commit?: string }): Promise<Record<string, InputRef>> {
  const out: Record<string, InputRef> = {};
  for (const [name, rel] of Object.entries(opts.inputs)) {
    const full = safeJoin(opts.root, rel || '.');
    try {
      await lstat(full);
    } catch {
      throw new GitmlError(
        'INVALID_ENTITIES',
        `${opts.file ? `${opts.file}: ` : ''}input ${name} (${rel}) is not in commit ${opts.commit?.slice(0, 12) ?? ''}: commit it (runs see the committed tree only)`,
        { file: opts.file, input: name, path: rel },
      );
    }
    const h = await hashPath(full);
    out[name] = { path: rel, sha256: h.sha256, size: h.size };
  }
  return out;
}
