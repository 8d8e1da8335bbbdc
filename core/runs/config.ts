/**
 * The runs store's settings, from the Workspace (gitml.yaml `branches.runs` and `artifacts`)
 * with defaults: branch `runs`, files up to 1 MiB inline on the branch, larger ones in the
 * `git` artifact store (refs/gitml/artifacts/*, pushed and pulled with the runs).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import type { Workspace } from '../entities/types.js';
import { repoPaths } from './git/repo.js';
import type { ArtifactStoreConfig } from '../artifacts/types.js';

export interface RunStoreConfig {
  /** Branch name, e.g. `runs`. */
  branch: string;
  /** Full ref, e.g. `refs/heads/runs`. */
  ref: string;
  /** Largest artifact (bytes) kept on the branch; larger ones go to the artifact store. */
  inlineMaxBytes: number;
  artifactStore: ArtifactStoreConfig;
  /** A lock older than this whose owner is dead is cleared (ms). */
  staleLockMs?: number;
  /** How long to wait for a lock held by a live process (ms). */
  lockTimeoutMs?: number;
}

export const DEFAULT_INLINE_MAX_BYTES = 1024 * 1024;

const BAD_REF = /(^|\/)\.|\.\.|[\s~^:?*[\\\x00-\x1f\x7f]|\.lock(\/|$)|\/$|^\/|\/\/|@\{/;

/** Settings for the runs store of the repository at `dir` (workspace may be undefined). */
export function runStoreConfig(workspace: Workspace | undefined, dir: string): RunStoreConfig {
  const b = workspace?.branches?.runs;
  const branch = typeof b === 'string' ? b : 'runs';
  if (!branch || BAD_REF.test(branch)) throw new GitmlError('INVALID_ENTITIES', `gitml.yaml branches.runs ${JSON.stringify(branch)} is not a valid branch name`, { branch });
  const im = workspace?.artifacts?.inlineMaxBytes;
  const inline = typeof im === 'number' && Number.isFinite(im) && im >= 0 ? im : DEFAULT_INLINE_MAX_BYTES;
  let commondir: string;
  let root: string;
  try {
    const p = repoPaths(dir);
    commondir = p.commondir;
    root = p.dir;
  } catch {
    commondir = path.join(path.resolve(dir), '.git');
    root = path.resolve(dir);
  }
  return { branch, ref: `refs/heads/${branch}`, inlineMaxBytes: inline, artifactStore: storeConfig(workspace?.artifacts?.store, root, commondir) };
}

/** The artifact store's settings; credentials are never among them (the AWS chain has those). */
function storeConfig(spec: NonNullable<Workspace['artifacts']>['store'] | undefined, root: string, commondir: string): ArtifactStoreConfig {
  const cache = path.join(commondir, 'gitml', 'cache', 'artifacts');
  const type = spec?.type ?? 'git';
  if (type === 'local') {
    const sp = spec?.path;
    return { type: 'local', path: path.resolve(commondir, typeof sp === 'string' && sp ? sp : 'gitml/artifacts') };
  }
  if (type === 's3') {
    if (!spec?.bucket) throw new GitmlError('INVALID_ENTITIES', 'gitml.yaml artifacts.store: type s3 needs a bucket', {});
    return { type: 's3', bucket: spec.bucket, prefix: spec.prefix ?? '', region: spec.region, endpoint: spec.endpoint, forcePathStyle: spec.forcePathStyle, cache };
  }
  if (type !== 'git') throw new GitmlError('INVALID_ENTITIES', `gitml.yaml artifacts.store.type ${JSON.stringify(type)} is not one of git, local, s3`, { type });
  return { type: 'git', dir: root, remote: spec?.remote, cache };
}

/**
 * The config for `dir`: read from gitml.yaml when the workspace loads, defaults otherwise (the
 * runs store works in any git repository).
 */
export async function loadRunStoreConfig(dir: string): Promise<RunStoreConfig> {
  let ws: Workspace | undefined;
  try {
    const root = repoPaths(dir).dir;
    if (existsSync(path.join(root, 'gitml.yaml'))) {
      const { loadEntities } = await import('../entities/load.js');
      const r = await loadEntities({ dir: root });
      ws = r.value?.workspace.spec;
      if (!ws) {
        // Another entity file is broken: still honour the runs branch and artifact settings, so
        // runs never land on the wrong branch because of an unrelated typo.
        const { parse } = await import('yaml');
        const doc = parse(readFileSync(path.join(root, 'gitml.yaml'), 'utf8')) as Partial<Workspace> | null;
        if (doc && typeof doc === 'object') ws = { kind: 'Workspace', name: String(doc.name ?? ''), branches: doc.branches, artifacts: doc.artifacts };
      }
    }
  } catch {
    ws = undefined;
  }
  return runStoreConfig(ws, dir);
}
