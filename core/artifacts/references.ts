/**
 * Which runs reference which stored artifacts: every `run.json` of the runs branch, read in
 * one `git ls-tree` and one pipelined `git cat-file --batch`. Only `storage: "store"` entries
 * with a well-formed digest count; a forged record (a digest outside the rule) names nothing.
 */
import { gitExec } from '../runs/git/exec.js';
import { catFile } from '../runs/git/catfile.js';
import { SHA_RE } from './types.js';

export interface ArtifactUse {
  run: string;
  experiment: string;
  path: string;
  size: number;
}

/** digest → the runs (and paths) that use it, for the branch `ref` (e.g. refs/heads/runs). */
export async function referencedArtifacts(dir: string, ref: string): Promise<Map<string, ArtifactUse[]>> {
  const out = new Map<string, ArtifactUse[]>();
  const ls = await gitExec(dir, ['ls-tree', '-r', '--full-tree', ref]);
  if (ls.code !== 0) return out;
  const oids: string[] = [];
  for (const line of ls.stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0 || !line.slice(tab + 1).endsWith('/run.json')) continue;
    const parts = line.slice(0, tab).split(' ');
    if (parts[1] === 'blob') oids.push(parts[2]);
  }
  const objs = await catFile(dir).readMany(oids);
  for (const o of objs) {
    if (!o) continue;
    let rec: { id?: unknown; experiment?: unknown; artifacts?: unknown };
    try {
      rec = JSON.parse(o.data.toString('utf8'));
    } catch {
      continue;
    }
    if (!Array.isArray(rec.artifacts)) continue;
    for (const a of rec.artifacts as Array<Record<string, unknown>>) {
      if (a?.storage !== 'store' || typeof a.sha256 !== 'string' || !SHA_RE.test(a.sha256)) continue;
      const uses = out.get(a.sha256) ?? [];
      uses.push({ run: String(rec.id), experiment: String(rec.experiment), path: String(a.path), size: Number(a.size) });
      out.set(a.sha256, uses);
    }
  }
  return out;
}
