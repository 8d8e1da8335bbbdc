/**
 * The stored artifacts of registered model versions: what `gitml pull` fetches by default and
 * what `gitml artifacts gc` always keeps. A version's run is read from the runs commit its tag
 * points at (the tag is the registry's truth), so every artifact of that run counts: the model,
 * its sample data, the monitoring reference.
 */
import { gitExec } from '../runs/git/exec.js';
import { SHA_RE } from '../artifacts/types.js';
import { runFolder } from '../runs/layout.js';
import { readRegistryTags } from './read.js';
import { replay } from './state.js';

export interface RegisteredArtifact {
  sha256: string;
  model: string;
  version: string;
  path: string;
}

export async function registeredArtifacts(o: { dir: string }): Promise<RegisteredArtifact[]> {
  const state = replay(await readRegistryTags({ dir: o.dir }));
  const out: RegisteredArtifact[] = [];
  for (const m of state.models.values()) {
    for (const v of m.versions) {
      if (!v.registered) continue;
      const meta = v.meta;
      if (meta?.artifact && SHA_RE.test(meta.artifact.sha256)) out.push({ sha256: meta.artifact.sha256, model: m.name, version: v.version, path: meta.artifact.path });
      if (!meta?.run || !meta.experiment) continue;
      // The run's record at the tagged commit (a forged name in the tag is no path).
      let folder: string;
      try {
        folder = runFolder(meta.experiment, meta.run);
      } catch {
        continue;
      }
      const rec = await gitExec(o.dir, ['cat-file', 'blob', `${v.commit}:${folder}/run.json`]);
      if (rec.code !== 0) continue;
      let arts: unknown;
      try {
        arts = (JSON.parse(rec.stdout) as { artifacts?: unknown }).artifacts;
      } catch {
        continue;
      }
      if (!Array.isArray(arts)) continue;
      for (const a of arts as Array<Record<string, unknown>>) {
        if (a?.storage === 'store' && typeof a.sha256 === 'string' && SHA_RE.test(a.sha256)) out.push({ sha256: a.sha256, model: m.name, version: v.version, path: String(a.path) });
      }
    }
  }
  return out;
}
