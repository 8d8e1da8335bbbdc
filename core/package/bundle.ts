/**
 * The serving bundle of a manifest: the folder `templates/server/gitml_server.py --model-dir`
 * serves (server.json, schema.json, sample.json, score.py, model/<file>). One function gives
 * its files (the small ones in memory, the model file by its path on disk: a model of several
 * GB is hashed, copied and packed as a stream, never held whole); the image build packs them
 * into its context, and another function writes them under
 * `.git/gitml/cache/bundles/<manifest digest>/` for a local `gitml serve`.
 *
 * @example
 *   const { manifest, digest } = await buildManifest({ dir, ref: 'iris@v0.0.1' });
 *   const folder = await materializeBundle({ dir, manifest, digest });
 *   // python3 templates/server/gitml_server.py --model-dir <folder>
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import { findRepoRoot, gitDir } from '../git.js';
import { safeJoin, safeRelPosix } from '../paths.js';
import { readBlobs } from '../run/export.js';
import { artifactPath, readArtifact } from '../runs/store.js';
import { hashFile } from '../artifacts/hash.js';
import type { ModelManifest } from './manifest.js';
import { inferSchema } from './schema-infer.js';

/** Name of the model file inside the bundle: `model/<file name of the artifact>`. */
export function bundleArtifactPath(manifest: ModelManifest): string {
  const base = path.posix.basename(safeRelPosix(manifest.artifact.path)) || 'model';
  return `model/${base}`;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface BundleFilesOptions {
  dir: string;
  manifest: ModelManifest;
  /** Injected for tests; defaults to the runs store. Small artifacts (the sample). */
  readArtifact?: (o: { dir: string; id: string; path: string }) => Promise<Buffer>;
  /** Injected for tests; defaults to the runs store. A file holding an artifact (the model). */
  artifactPath?: (o: { dir: string; id: string; path: string }) => Promise<string>;
}

/** A bundle file: bytes, or a file on disk (the model) with its size. */
export type BundleBody = Buffer | { file: string; size: number };

/**
 * The model file of a manifest on disk (fetched from the artifact store when this clone lacks
 * it), checked against the manifest's sha256 as a stream.
 */
export async function modelFile(opts: BundleFilesOptions): Promise<{ file: string; size: number }> {
  const { manifest: m, dir } = opts;
  const locate = opts.artifactPath ?? ((o) => artifactPath(o));
  const file = await locate({ dir, id: m.run.id, path: m.artifact.path });
  const got = await hashFile(file);
  if (got.sha256 !== m.artifact.sha256) {
    throw new GitmlError('RUNS_BRANCH_CORRUPT', `the model file ${m.artifact.path} of run ${m.run.id} does not match the manifest's sha256`, { run: m.run.id, path: m.artifact.path });
  }
  return { file, size: got.size };
}

/**
 * The bundle's files by '/'-separated name. Every byte is checked against the manifest: the
 * model file and the sample by sha256, the scoring script by its git blob id.
 */
export async function bundleFiles(opts: BundleFilesOptions): Promise<Record<string, BundleBody>> {
  const { manifest: m, dir } = opts;
  const read = opts.readArtifact ?? ((o) => readArtifact(o));
  const files: Record<string, BundleBody> = {};

  const artifactName = bundleArtifactPath(m);
  files[artifactName] = await modelFile(opts);

  let scoring: string | null = null;
  if (m.scoring.kind === 'script') {
    const blob: Buffer[] = [];
    try {
      await readBlobs(dir, [m.scoring.blob], (_i, b) => {
        blob[0] = b;
      });
    } catch (e) {
      throw new GitmlError('MANIFEST', `the scoring script ${m.scoring.path} (blob ${m.scoring.blob.slice(0, 12)}) is not in this repository's objects: fetch the source commit ${m.source.commit.slice(0, 12)}`, { blob: m.scoring.blob }, { cause: e });
    }
    files['score.py'] = blob[0];
    scoring = 'score.py';
  }

  const ordered = await sampleRecords({ dir, manifest: m, readArtifact: read });
  files['sample.json'] = Buffer.from(JSON.stringify(ordered, null, 2) + '\n');
  files['schema.json'] = Buffer.from(JSON.stringify({ inputs: m.schema.inputs, outputs: m.schema.outputs }, null, 2) + '\n');
  files['server.json'] = Buffer.from(
    JSON.stringify(
      {
        model: m.model.name,
        version: m.model.version,
        flavor: m.model.flavor,
        method: m.model.method,
        artifact: artifactName,
        scoring,
        runtime: m.server.runtime,
      },
      null,
      2,
    ) + '\n',
  );
  return files;
}

/**
 * The sample rows of a manifest, keys in the schema's column order (so examples read
 * naturally): inline in the manifest when small, else read from the run and checked by sha256.
 */
export async function sampleRecords(opts: BundleFilesOptions): Promise<Array<Record<string, unknown>>> {
  const { manifest: m, dir } = opts;
  let records = m.sample.records;
  if (!records) {
    const read = opts.readArtifact ?? ((o) => readArtifact(o));
    const bytes = await read({ dir, id: m.run.id, path: m.sample.path });
    if (sha256(bytes) !== m.sample.sha256) throw new GitmlError('RUNS_BRANCH_CORRUPT', `the sample data ${m.sample.path} of run ${m.run.id} does not match the manifest's sha256`, { run: m.run.id });
    records = inferSchema({ text: bytes.toString('utf8'), flavor: m.model.flavor }).records;
  }
  return records.map((r) => Object.fromEntries(m.schema.inputs.map((c) => [c.name, r[c.name] ?? null])));
}

export interface MaterializeBundleOptions extends BundleFilesOptions {
  /** The manifest digest (names the cache folder). */
  digest: string;
  /** Write here instead of the cache folder. */
  dest?: string;
}

/** The cache folder of a manifest's bundle. */
export async function bundleCacheDir(dir: string, digest: string): Promise<string> {
  const root = await findRepoRoot(dir);
  const hex = digest.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new GitmlError('INTERNAL', `not a manifest digest: ${digest}`);
  return path.join(gitDir(root), 'gitml', 'cache', 'bundles', hex);
}

/**
 * Write the bundle folder (once: an existing complete folder for the same digest is reused)
 * and return its path. The folder appears atomically (written aside, then renamed).
 */
export async function materializeBundle(opts: MaterializeBundleOptions): Promise<string> {
  const dest = opts.dest ?? (await bundleCacheDir(opts.dir, opts.digest));
  if (!opts.dest && existsSync(path.join(dest, 'server.json'))) return dest;
  const files = await bundleFiles(opts);
  const tmp = `${dest}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(tmp, { recursive: true });
  try {
    for (const [rel, body] of Object.entries(files)) {
      const full = safeJoin(tmp, safeRelPosix(rel));
      await mkdir(path.dirname(full), { recursive: true });
      if (Buffer.isBuffer(body)) await writeFile(full, body, { mode: 0o644 });
      else {
        // A clone of the store's copy where the file system can (no bytes copied), else a
        // copy by the kernel: never through this process's memory.
        await copyFile(body.file, full, fsConstants.COPYFILE_FICLONE);
        await chmod(full, 0o644);
      }
    }
    if (opts.dest) await rm(dest, { recursive: true, force: true });
    await mkdir(path.dirname(dest), { recursive: true });
    try {
      await rename(tmp, dest);
    } catch (e) {
      // Another process wrote the same bundle first: theirs is identical.
      if (existsSync(path.join(dest, 'server.json'))) await rm(tmp, { recursive: true, force: true });
      else throw e;
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof GitmlError) throw e;
    throw new GitmlError('IO', `cannot write the serving bundle to ${dest}: ${(e as Error).message}`, { dest }, { cause: e });
  }
  return dest;
}
