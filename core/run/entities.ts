/**
 * The entities of one commit, read with two git processes (`ls-tree` and `cat-file --batch`)
 * instead of isomorphic-git: `gitml run` pays for every millisecond of start-up, and loading
 * isomorphic-git alone costs more than the whole read here. Same files, same validation
 * (loadFromFiles) as `requireEntities({ rev })`.
 */
import { GitmlError } from '../errors.js';
import { git } from '../git.js';
import { formatProblem, loadFromFiles } from '../entities/load.js';
import type { EntityFile } from '../entities/sources.js';
import { KIND_DIRS, WORKSPACE_FILE, type Entities } from '../entities/types.js';
import { readBlobs } from './export.js';

const isYaml = (name: string) => /\.ya?ml$/i.test(name);

export async function commitEntityFiles(dir: string, commit: string): Promise<EntityFile[]> {
  const kindDirs = Object.values(KIND_DIRS);
  const out = await git(dir, ['ls-tree', '-z', '-l', '--full-tree', commit, '--', WORKSPACE_FILE, ...kindDirs.map((d) => `${d}/`)]);
  const entries: Array<{ path: string; oid: string }> = [];
  for (const rec of out.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [, type, oid] = rec.slice(0, tab).split(/\s+/);
    const p = rec.slice(tab + 1);
    if (type !== 'blob') continue;
    const slash = p.lastIndexOf('/');
    const parent = slash < 0 ? '' : p.slice(0, slash);
    if (p === WORKSPACE_FILE || (kindDirs.includes(parent) && isYaml(p.slice(slash + 1)))) entries.push({ path: p, oid });
  }
  const files: EntityFile[] = [];
  await readBlobs(
    dir,
    entries.map((e) => e.oid),
    (i, data) => {
      files.push({ path: entries[i].path, size: data.length, read: async () => data });
    },
  );
  files.sort((a, b) => a.path.localeCompare(b.path));
  return files;
}

/** Like requireEntities({ dir, rev: commit }) for a resolved commit id. */
export async function requireEntitiesAt(dir: string, commit: string): Promise<Entities> {
  const r = await loadFromFiles(dir, await commitEntityFiles(dir, commit), commit);
  if (r.value) return r.value;
  const missing = r.errors.find((e) => e.code === 'missing');
  if (missing && r.errors.length === 1) throw new GitmlError('NO_WORKSPACE', missing.message, { problems: r.errors });
  const head = r.errors.slice(0, 10).map(formatProblem).join('\n  ');
  const more = r.errors.length > 10 ? `\n  … and ${r.errors.length - 10} more (run \`gitml validate --rev ${commit.slice(0, 12)}\`)` : '';
  throw new GitmlError('INVALID_ENTITIES', `the gitml entities at ${commit.slice(0, 12)} are not valid:\n  ${head}${more}`, { problems: r.errors });
}
