/**
 * Where entity files come from: the working tree, or any commit read from the object database
 * without checking it out. Both give the same list of (path, bytes) so the loader does not
 * care which it is.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { KIND_DIRS, WORKSPACE_FILE } from './types.js';
import { catFile } from '../runs/git/catfile.js';
import { MODE_EXEC, MODE_FILE, decodeTree } from '../runs/git/objects.js';

export interface EntityFile {
  /** Repository-relative, '/'-separated. */
  path: string;
  size: number;
  read(): Promise<Buffer>;
}

const isYaml = (name: string) => /\.ya?ml$/i.test(name);

/** gitml.yaml (if present) and every *.yaml / *.yml directly inside the kind folders. */
export async function workingTreeFiles(dir: string): Promise<EntityFile[]> {
  const out: EntityFile[] = [];
  const add = async (rel: string) => {
    const full = path.join(dir, rel);
    const st = await stat(full).catch(() => undefined);
    if (st?.isFile()) out.push({ path: rel, size: st.size, read: () => readFile(full) });
  };
  await add(WORKSPACE_FILE);
  for (const kindDir of Object.values(KIND_DIRS)) {
    const names = await readdir(path.join(dir, kindDir)).catch(() => [] as string[]);
    await Promise.all(names.filter(isYaml).sort().map((n) => add(`${kindDir}/${n}`)));
  }
  out.sort((a, b) => a.path.localeCompare(b.path));
  return out;
}

/**
 * The same files as they are in `commit`, read from the object database through the shared
 * `git cat-file --batch` reader (`commit:path` names, so no tree walk of the whole commit),
 * in two round trips: the folders, then every YAML blob in them.
 */
export async function commitFiles(dir: string, commit: string): Promise<EntityFile[]> {
  const reader = catFile(dir);
  const kindDirs = Object.values(KIND_DIRS);
  const [top, ...trees] = await reader.readMany([`${commit}:${WORKSPACE_FILE}`, ...kindDirs.map((d) => `${commit}:${d}`)]);
  const entries: { path: string; oid: string }[] = [];
  if (top?.type === 'blob') entries.push({ path: WORKSPACE_FILE, oid: top.oid });
  trees.forEach((t, i) => {
    if (t?.type !== 'tree') return;
    // Regular files only, as `gitml run` reads a commit (core/run/entities.ts): a sub-folder,
    // a submodule or a symbolic link in a kind folder is not an entity.
    for (const e of decodeTree(t.data)) if ((e.mode === MODE_FILE || e.mode === MODE_EXEC) && isYaml(e.name)) entries.push({ path: `${kindDirs[i]}/${e.name}`, oid: e.oid });
  });
  const blobs = await reader.readMany(entries.map((e) => e.oid));
  const out: EntityFile[] = entries.map((e, i) => {
    const data = blobs[i]?.data ?? Buffer.alloc(0);
    return { path: e.path, size: data.length, read: async () => data };
  });
  out.sort((a, b) => a.path.localeCompare(b.path));
  return out;
}
