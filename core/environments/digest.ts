/**
 * The content digest of an Environment: the single source of "same spec, same image". The
 * docker target tags environment images with it (so an unchanged environment is never
 * rebuilt) and every run records it in its lineage. Nobody else computes one.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import { safeJoin, safeRelPosix } from '../paths.js';
import type { Environment, Loaded } from '../entities/types.js';

/** Read access to the repository's files as of the run's commit (or the working tree). */
export interface RepoFiles {
  /** Content of a file by '/'-separated path relative to the repository root, or undefined when absent. */
  readFile(rel: string): Promise<Buffer | undefined>;
  /** Every file under a folder (recursive), '/'-separated paths relative to the repository root, with mode and content. */
  listTree(rel: string): Promise<Array<{ path: string; mode: 'file' | 'exec' | 'symlink'; content: Buffer }> | undefined>;
}

/** RepoFiles over a folder on disk (an exported commit tree or a working tree). Symlinks are hashed by their target text, never followed. */
export function folderFiles(root: string): RepoFiles {
  return {
    async readFile(rel) {
      const full = safeJoin(root, safeRelPosix(rel) || '.');
      try {
        const st = await lstat(full);
        if (st.isSymbolicLink()) return Buffer.from(await readlink(full));
        if (!st.isFile()) return undefined;
        return await readFile(full);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
        throw e;
      }
    },
    async listTree(rel) {
      const base = safeJoin(root, safeRelPosix(rel) || '.');
      try {
        if (!(await lstat(base)).isDirectory()) return undefined;
      } catch {
        return undefined;
      }
      const out: Array<{ path: string; mode: 'file' | 'exec' | 'symlink'; content: Buffer }> = [];
      const walk = async (dir: string): Promise<void> => {
        for (const ent of await readdir(dir, { withFileTypes: true })) {
          const full = path.join(dir, ent.name);
          const relp = path.relative(root, full).split(path.sep).join('/');
          if (ent.name === '.git' && dir === root) continue;
          if (ent.isDirectory()) await walk(full);
          else if (ent.isSymbolicLink()) out.push({ path: relp, mode: 'symlink', content: Buffer.from(await readlink(full)) });
          else if (ent.isFile()) {
            const st = await lstat(full);
            out.push({ path: relp, mode: st.mode & 0o111 ? 'exec' : 'file', content: await readFile(full) });
          }
        }
      };
      await walk(base);
      return out;
    },
  };
}

/** Stable JSON: object keys sorted, so key order in the YAML never changes the digest. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * `sha256:<hex>` over the Environment spec (minus `name` and `description`, which change
 * nothing a run sees) and the content of every file it references: `requirements`,
 * `dockerfile`, and each file of the Dockerfile's `context` folder (path, mode, sha256).
 * A referenced file that is missing is an 'INVALID_ENTITIES' error.
 *
 * @example
 *   const d = await environmentDigest(entities.environments.get('py')!, folderFiles(codeDir));
 *   const tag = `gitml-env:${d.slice('sha256:'.length, 'sha256:'.length + 16)}`;
 */
export async function environmentDigest(env: Loaded<Environment> | Environment, repoFiles: RepoFiles | string): Promise<string> {
  const spec: Environment = 'spec' in env ? env.spec : env;
  const file = 'spec' in env ? env.file : undefined;
  const files = typeof repoFiles === 'string' ? folderFiles(repoFiles) : repoFiles;
  const { name: _n, description: _d, ...content } = spec;
  const h = createHash('sha256');
  h.update('gitml-environment-v1\n');
  h.update(canonicalJson(content) + '\n');
  const need = async (what: string, rel: string) => {
    const b = await files.readFile(rel);
    if (b === undefined) {
      throw new GitmlError('INVALID_ENTITIES', `environment${file ? ` ${file}` : ''}: ${what} ${JSON.stringify(rel)} does not exist in the repository`, { file, path: rel });
    }
    return b;
  };
  if (spec.requirements) h.update(`requirements ${sha256(await need('requirements', spec.requirements))}\n`);
  if (spec.dockerfile) {
    h.update(`dockerfile ${sha256(await need('dockerfile', spec.dockerfile))}\n`);
    const ctx = spec.context ?? (path.posix.dirname(safeRelPosix(spec.dockerfile)) || '.');
    const listing = await files.listTree(ctx === '.' ? '' : ctx);
    if (listing === undefined) {
      throw new GitmlError('INVALID_ENTITIES', `environment${file ? ` ${file}` : ''}: build context ${JSON.stringify(ctx)} is not a folder in the repository`, { file, path: ctx });
    }
    for (const f of [...listing].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
      h.update(`context ${f.mode} ${sha256(f.content)} ${f.path}\n`);
    }
  }
  return `sha256:${h.digest('hex')}`;
}
