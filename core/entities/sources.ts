/**
 * Where entity files come from: the working tree, or any commit read through isomorphic-git
 * without checking it out. Both give the same list of (path, bytes) so the loader does not
 * care which it is.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import fs from 'node:fs';
import path from 'node:path';
import { KIND_DIRS, WORKSPACE_FILE } from './types.js';
import { gitDir } from '../git.js';

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

/** The same files as they are in `commit`, read from the object database. */
export async function commitFiles(dir: string, commit: string): Promise<EntityFile[]> {
  const igit = await import('isomorphic-git'); // only history reads pay for loading it
  const gitdir = gitDir(dir);
  const cache = {};
  const out: EntityFile[] = [];
  const blob = (oid: string) => async () => Buffer.from((await igit.readBlob({ fs, gitdir, oid, cache })).blob);
  const root = await igit.readTree({ fs, gitdir, oid: commit, cache });
  const top = root.tree.find((e) => e.path === WORKSPACE_FILE && e.type === 'blob');
  const entries: { path: string; oid: string }[] = [];
  if (top) entries.push({ path: WORKSPACE_FILE, oid: top.oid });
  const gitmlTree = root.tree.find((e) => e.path === 'gitml' && e.type === 'tree');
  if (gitmlTree) {
    const sub = await igit.readTree({ fs, gitdir, oid: gitmlTree.oid, cache });
    for (const kindDir of Object.values(KIND_DIRS)) {
      const leaf = kindDir.split('/')[1];
      const t = sub.tree.find((e) => e.path === leaf && e.type === 'tree');
      if (!t) continue;
      const files = await igit.readTree({ fs, gitdir, oid: t.oid, cache });
      for (const e of files.tree) if (e.type === 'blob' && isYaml(e.path)) entries.push({ path: `${kindDir}/${e.path}`, oid: e.oid });
    }
  }
  for (const e of entries) {
    // Size is only known once read; reading stays lazy so huge files are checked first.
    const data = await blob(e.oid)();
    out.push({ path: e.path, size: data.length, read: async () => data });
  }
  out.sort((a, b) => a.path.localeCompare(b.path));
  return out;
}
