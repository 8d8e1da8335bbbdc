/**
 * The entities of one commit, read from its `ls-tree -r` listing (shared with the export) and one `cat-file --batch`
 * instead of isomorphic-git: `gitml run` pays for every millisecond of start-up, and loading
 * isomorphic-git alone costs more than the whole read here. Same files, same validation
 * (loadFromFiles) as `requireEntities({ rev })`.
 */
import { GitmlError } from '../errors.js';
import { formatProblem, loadFromFiles } from '../entities/load.js';
import type { EntityFile } from '../entities/sources.js';
import { KIND_DIRS, WORKSPACE_FILE, type Entities } from '../entities/types.js';
import { listTree, readBlobs, type TreeListing } from './export.js';

const isYaml = (name: string) => /\.ya?ml$/i.test(name);

/** gitml.yaml and the YAML files directly inside the kind folders, from a commit's listing. */
export async function commitEntityFiles(dir: string, listing: TreeListing): Promise<EntityFile[]> {
  const kindDirs: string[] = Object.values(KIND_DIRS);
  const entries = listing.entries.filter((e) => {
    if (e.mode === '120000' || e.mode === '160000') return false;
    const slash = e.path.lastIndexOf('/');
    const parent = slash < 0 ? '' : e.path.slice(0, slash);
    return e.path === WORKSPACE_FILE || (kindDirs.includes(parent) && isYaml(e.path.slice(slash + 1)));
  });
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
export async function requireEntitiesAt(dir: string, commit: string, listing?: TreeListing): Promise<Entities> {
  const r = await loadFromFiles(dir, await commitEntityFiles(dir, listing ?? (await listTree(dir, commit))), commit);
  if (r.value) return r.value;
  const missing = r.errors.find((e) => e.code === 'missing');
  if (missing && r.errors.length === 1) throw new GitmlError('NO_WORKSPACE', missing.message, { problems: r.errors });
  const head = r.errors.slice(0, 10).map(formatProblem).join('\n  ');
  const more = r.errors.length > 10 ? `\n  … and ${r.errors.length - 10} more (run \`gitml validate --rev ${commit.slice(0, 12)}\`)` : '';
  throw new GitmlError('INVALID_ENTITIES', `the gitml entities at ${commit.slice(0, 12)} are not valid:\n  ${head}${more}`, { problems: r.errors });
}
