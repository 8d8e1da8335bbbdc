/**
 * The manifest of a model version: the complete, deterministic recipe of its scoring image —
 * model file (digest), environment (name, digest, spec), scoring script (git blob id in the
 * source commit, or the flavor's built-in loader), input/output schema inferred from the
 * sample data, the sample data itself, the server runtime version and the base image.
 *
 * Canonical JSON (sorted keys, no timestamps of its own, no machine paths): identical inputs
 * give identical bytes, and the sha256 of those bytes (the manifest digest) names the image.
 *
 * @example
 *   const { manifest, digest, json } = await buildManifest({ dir: '/repo', ref: 'iris#production' });
 *   // digest = 'sha256:…'; `gitml-model/iris:<digest 12>` is the image built from it
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GitmlError, isGitmlError } from '../errors.js';
import { loadEntities } from '../entities/load.js';
import type { Entities, Environment, Loaded, Model } from '../entities/types.js';
import { canonicalJson, environmentDigest, type RepoFiles } from '../environments/digest.js';
import { git, runGit } from '../git.js';
import { packageVersion, safeRelPosix, templatesDir } from '../paths.js';
import { findOutput } from '../registry/register.js';
import { resolveModelRef, type ResolvedModel } from '../registry/resolve.js';
import { readBlobs } from '../run/export.js';
import { artifactPath, readArtifact } from '../runs/store.js';
import { hashFile } from '../artifacts/hash.js';
import type { ArtifactRef } from '../runs/types.js';
import { inferSchema, type Column } from './schema-infer.js';

export const MANIFEST_API_VERSION = 'gitml.dev/v1';
/** Sample data up to this size is carried inline in the manifest (and so in its digest). */
export const MAX_INLINE_SAMPLE_BYTES = 64 * 1024;

export interface ManifestArtifact {
  /** The experiment output holding it. */
  output: string;
  /** Path relative to the run's outputs folder. */
  path: string;
  sha256: string;
  size: number;
}

export interface ModelManifest {
  apiVersion: typeof MANIFEST_API_VERSION;
  kind: 'ModelManifest';
  model: { name: string; version: string; flavor: 'sklearn' | 'python'; method: string };
  run: { id: string; experiment: string; commit: string };
  source: {
    commit: string;
    tree: string;
    /** Committer time of the source commit (ISO 8601): the image's fixed creation time. */
    time: string;
  };
  artifact: ManifestArtifact;
  environment: { name: string; digest: string; spec: Environment };
  scoring: { kind: 'script'; path: string; blob: string } | { kind: 'builtin'; loader: 'sklearn' };
  schema: { inputs: Column[]; outputs: Column[]; outputsFrom: 'flavor' | 'none' };
  sample: ManifestArtifact & { rows: number; records?: Array<Record<string, unknown>> };
  server: { name: 'gitml-scoring-server'; runtime: string; sha256: string; gitml: string };
  image: { base: string };
}

export interface BuildManifestOptions {
  /** Any folder inside the repository. */
  dir: string;
  /** `name@vX.Y.Z`, `name#stage` or `name` (latest). */
  ref: string;
  /** Injected for tests; defaults to the registry's resolver. */
  resolve?: (o: { dir: string; ref: string }) => Promise<ResolvedModel>;
  /** Injected for tests; defaults to the runs store. Small artifacts (the sample). */
  readArtifact?: (o: { dir: string; id: string; path: string }) => Promise<Buffer>;
  /** Injected for tests; defaults to the runs store. A file holding an artifact (the model). */
  artifactPath?: (o: { dir: string; id: string; path: string }) => Promise<string>;
}

export interface BuiltManifest {
  manifest: ModelManifest;
  /** `sha256:<hex>` of `json`. */
  digest: string;
  /** The canonical bytes (with a final newline). */
  json: string;
  /** The resolved registry entry (for callers that need the run record). */
  resolved: ResolvedModel;
  warnings: string[];
}

/** The server template and its version, read once. */
export function serverRuntime(): { file: string; runtime: string; sha256: string; gitml: string } {
  const file = path.join(templatesDir(), 'server', 'gitml_server.py');
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (e) {
    throw new GitmlError('INTERNAL', `the scoring server template is missing from the gitml package: ${file}`, { file }, { cause: e });
  }
  const m = /^RUNTIME_VERSION\s*=\s*"([^"]+)"/m.exec(text.toString('utf8'));
  return { file, runtime: m?.[1] ?? '0', sha256: createHash('sha256').update(text).digest('hex'), gitml: packageVersion() };
}

/** RepoFiles over a commit, read from the object database (never the working tree). */
export function commitRepoFiles(dir: string, commit: string): RepoFiles {
  const blobs = async (oids: string[]): Promise<Buffer[]> => {
    const out: Buffer[] = [];
    await readBlobs(dir, oids, (i, b) => {
      out[i] = b;
    });
    return out;
  };
  return {
    async readFile(rel) {
      const p = safeRelPosix(rel);
      const r = await runGit(dir, ['ls-tree', '-z', '--full-tree', commit, '--', p]);
      const rec = r.stdout.split('\0').find(Boolean);
      if (r.code !== 0 || !rec) return undefined;
      const [mode, type, oid] = rec.slice(0, rec.indexOf('\t')).split(' ');
      if (type !== 'blob') return undefined;
      void mode;
      return (await blobs([oid]))[0];
    },
    async listTree(rel) {
      const p = safeRelPosix(rel);
      const r = await runGit(dir, ['ls-tree', '-r', '-z', '--full-tree', commit, '--', ...(p ? [p] : [])]);
      if (r.code !== 0) return undefined;
      const ents = r.stdout
        .split('\0')
        .filter(Boolean)
        .map((rec) => {
          const [mode, type, oid] = rec.slice(0, rec.indexOf('\t')).split(' ');
          return { mode, type, oid, path: rec.slice(rec.indexOf('\t') + 1) };
        })
        .filter((e) => e.type === 'blob');
      if (ents.length === 0) return undefined;
      const data = await blobs(ents.map((e) => e.oid));
      return ents.map((e, i) => ({ path: e.path, mode: e.mode === '120000' ? 'symlink' : e.mode === '100755' ? 'exec' : 'file', content: data[i] }));
    },
  };
}

/** The blob id of `rel` in `commit`, or undefined. */
async function blobAt(dir: string, commit: string, rel: string): Promise<string | undefined> {
  const r = await runGit(dir, ['ls-tree', '-z', '--full-tree', commit, '--', rel]);
  const rec = r.stdout.split('\0').find(Boolean);
  if (r.code !== 0 || !rec) return undefined;
  const [, type, oid] = rec.slice(0, rec.indexOf('\t')).split(' ');
  return type === 'blob' ? oid : undefined;
}

/** Entities as of the source commit; the working tree when the commit has none usable. */
async function entitiesFor(dir: string, commit: string): Promise<{ at: Entities | undefined; now: Entities | undefined }> {
  const at = await loadEntities({ dir, rev: commit }).catch(() => undefined);
  const now = await loadEntities({ dir }).catch(() => undefined);
  return { at: at?.value, now: now?.value };
}

/**
 * Fields of an Environment that shape the image. The local interpreter (`python`, `venv`) does
 * not, and is often a path of one machine.
 */
function imageSpec(spec: Environment): Environment {
  const { name: _n, description: _d, python: _p, venv: _v, ...rest } = spec;
  return rest as Environment;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function manifestArtifact(output: string, a: ArtifactRef): ManifestArtifact {
  return { output, path: a.path, sha256: a.sha256, size: a.size };
}

/** Canonical bytes and digest of a manifest. */
export function serializeManifest(manifest: ModelManifest): { json: string; digest: string } {
  const json = JSON.stringify(JSON.parse(canonicalJson(manifest)), null, 2) + '\n';
  return { json, digest: `sha256:${sha256(json)}` };
}

/**
 * Build the manifest of a registered model version. Errors (GitmlError codes):
 * 'UNKNOWN_VERSION' (no such version), 'MODEL_OUTPUT_MISSING' (the run lacks the model file),
 * 'MANIFEST' (no sample data, a scoring script missing from the source commit, a sample that
 * cannot give a schema), 'IO' (an artifact not in this machine's artifact store).
 */
export async function buildManifest(opts: BuildManifestOptions): Promise<BuiltManifest> {
  const resolve = opts.resolve ?? resolveModelRef;
  const read = opts.readArtifact ?? ((o) => readArtifact(o));
  const r = await resolve({ dir: opts.dir, ref: opts.ref });
  const dir = opts.dir;
  const rec = r.record;
  const sourceCommit = rec.source?.commit;
  // It becomes a git argument below: a commit id and nothing else (a record on a pulled runs
  // branch could say "--output=FILE").
  if (typeof sourceCommit !== 'string' || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sourceCommit)) {
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `run ${r.runId}: run.json "source.commit" is not a commit id`, { run: r.runId });
  }
  const { at, now } = await entitiesFor(dir, sourceCommit);
  const model: Loaded<Model> | undefined = at?.models.get(r.name) ?? now?.models.get(r.name);
  if (!model) {
    throw new GitmlError('UNKNOWN_ENTITY', `there is no model ${JSON.stringify(r.name)} in gitml/models/ (neither in the source commit ${sourceCommit.slice(0, 12)} nor in the working tree)`, { name: r.name });
  }
  const ents = at?.models.has(r.name) ? at : now;
  const flavor = model.spec.flavor ?? 'sklearn';
  const where = `${r.name}@${r.version}`;

  // The sample data: required, since it defines the input schema.
  if (!model.spec.sample) {
    throw new GitmlError('MANIFEST', `${where}: gitml/models/${r.name}.yaml names no \`sample\` output, and the manifest needs sample data for the input schema: have the experiment write a few input rows (JSON records) to an output and set \`sample:\` to its name`, { model: r.name, version: r.version });
  }
  const sampleRef = findOutput(rec, ents, model.spec.sample);
  if (!sampleRef) {
    throw new GitmlError('MANIFEST', `${where}: run ${r.runId} has no sample data (output ${JSON.stringify(model.spec.sample)}); its artifacts: ${rec.artifacts.map((a) => a.path).join(', ') || 'none'}. Re-run the experiment so that it writes the sample, then register that run`, {
      model: r.name,
      version: r.version,
      run: r.runId,
      output: model.spec.sample,
    });
  }
  let sampleBytes: Buffer;
  try {
    sampleBytes = await read({ dir, id: r.runId, path: sampleRef.path });
  } catch (e) {
    if (isGitmlError(e, 'IO')) throw e;
    throw new GitmlError('MANIFEST', `${where}: the sample data ${sampleRef.path} of run ${r.runId} cannot be read: ${(e as Error).message}`, { run: r.runId, path: sampleRef.path }, { cause: e });
  }
  if (sha256(sampleBytes) !== sampleRef.sha256) {
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `${where}: the sample data ${sampleRef.path} does not match the digest its run recorded`, { run: r.runId, path: sampleRef.path });
  }
  const inferred = inferSchema({ text: sampleBytes.toString('utf8'), flavor, source: `sample ${sampleRef.path} of run ${r.runId}` });

  // The model file must exist where the run says (inline on the branch or in the store); it
  // is hashed as a stream (a model of several GB is never held in memory).
  const locate = opts.artifactPath ?? ((o) => artifactPath(o));
  const modelPath = await locate({ dir, id: r.runId, path: r.artifact.path }).catch((e) => {
    if (isGitmlError(e)) {
      throw new GitmlError(e.code === 'PARAM' ? 'MODEL_OUTPUT_MISSING' : e.code, `${where}: the model file ${r.artifact.path} of run ${r.runId} cannot be read: ${e.message}`, { ...e.data, run: r.runId, path: r.artifact.path }, { cause: e });
    }
    throw e;
  });
  // A store artifact was hashed by the store as it handed out this file (its contract); an
  // inline one's working copy is checked here.
  const modelHash = r.artifact.storage === 'store' ? { sha256: r.artifact.sha256 } : await hashFile(modelPath).catch((e) => {
    throw new GitmlError('IO', `${where}: the model file ${r.artifact.path} of run ${r.runId} cannot be read: ${(e as Error).message}`, { run: r.runId, path: r.artifact.path }, { cause: e });
  });
  if (modelHash.sha256 !== r.artifact.sha256) {
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `${where}: the model file ${r.artifact.path} does not match the digest its run recorded`, { run: r.runId, path: r.artifact.path });
  }

  // Scoring script from the source commit, by blob id.
  let scoring: ModelManifest['scoring'];
  if (model.spec.scoring) {
    const rel = safeRelPosix(model.spec.scoring);
    const blob = await blobAt(dir, sourceCommit, rel);
    if (!blob) {
      throw new GitmlError('MANIFEST', `${where}: the scoring script ${rel} is not in the run's source commit ${sourceCommit.slice(0, 12)} (commit it, re-run, and register the new run)`, { path: rel, commit: sourceCommit });
    }
    scoring = { kind: 'script', path: rel, blob };
  } else if (flavor === 'python') {
    throw new GitmlError('MANIFEST', `${where}: the python flavor needs a scoring script: set \`scoring:\` in gitml/models/${r.name}.yaml`, { model: r.name });
  } else scoring = { kind: 'builtin', loader: 'sklearn' };

  // Environment: the Model's, else the run's, else the experiment's, else the workspace default.
  const envName = model.spec.environment ?? rec.environment?.name ?? rec.spec?.environment ?? ents?.experiments.get(rec.experiment)?.spec.environment ?? ents?.workspace.spec.defaults?.environment;
  if (!envName) throw new GitmlError('MANIFEST', `${where}: no environment for the scoring image: set \`environment:\` in gitml/models/${r.name}.yaml`, { model: r.name });
  const env = at?.environments.get(envName) ?? now?.environments.get(envName);
  if (!env) throw new GitmlError('UNKNOWN_ENTITY', `${where}: there is no environment ${JSON.stringify(envName)} in gitml/environments/ at the source commit`, { kind: 'Environment', name: envName });
  const envFromCommit = at?.environments.has(envName) === true;
  const envDigest = envFromCommit ? await environmentDigest(env, commitRepoFiles(dir, sourceCommit)) : await environmentDigest(env, (await git(dir, ['rev-parse', '--show-toplevel'])).trim());

  const srv = serverRuntime();
  const [tree, time] = (await git(dir, ['show', '-s', '--format=%T %cI', sourceCommit, '--'])).trim().split(' ');
  const sampleJson = JSON.stringify(inferred.records);
  const manifest: ModelManifest = {
    apiVersion: MANIFEST_API_VERSION,
    kind: 'ModelManifest',
    model: { name: r.name, version: r.version, flavor, method: 'predict' },
    run: { id: r.runId, experiment: rec.experiment, commit: r.commit },
    source: { commit: sourceCommit, tree, time: new Date(time).toISOString() },
    artifact: manifestArtifact(r.output, r.artifact),
    environment: { name: envName, digest: envDigest, spec: imageSpec(env.spec) },
    scoring,
    schema: { inputs: inferred.schema.inputs, outputs: inferred.schema.outputs, outputsFrom: inferred.outputsFrom },
    sample: {
      ...manifestArtifact(model.spec.sample, sampleRef),
      rows: inferred.records.length,
      ...(Buffer.byteLength(sampleJson) <= MAX_INLINE_SAMPLE_BYTES ? { records: inferred.records } : {}),
    },
    server: { name: 'gitml-scoring-server', runtime: srv.runtime, sha256: srv.sha256, gitml: srv.gitml },
    image: { base: env.spec.image ?? `dockerfile:${env.spec.dockerfile}` },
  };
  const { json, digest } = serializeManifest(manifest);
  return { manifest, digest, json, resolved: r, warnings: inferred.warnings };
}

/** `abcdef012345` from `sha256:abcdef012345…`. */
export function shortDigest(digest: string, n = 12): string {
  return digest.replace(/^sha256:/, '').slice(0, n);
}
