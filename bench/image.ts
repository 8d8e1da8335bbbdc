/**
 * Model image rebuilds (issue 5): `npx tsx bench/image.ts`.
 *
 * In a fresh repository from `gitml init --template sklearn` (its environment made unique for
 * this run, so its image is not on the engine yet), three versions of iris are trained on the
 * docker target and registered. Then:
 *   baseline  the first build: v0.0.1's model image together with its new environment image
 *             (whose tag training on the docker target made is removed first; engine layers
 *             identical to other images' stay shared, as they would for a user);
 *   rebuild   a new model version on the unchanged environment (v0.0.2, then v0.0.3): the
 *             target is under 5 s, since only the bundle layer is new;
 *   same      v0.0.3 again through the engine (--force): the build cache gives the same id;
 *   reused    v0.0.3 again without --force: the image of that manifest is found and kept.
 * Each time is the whole of buildModelImage (manifest included), as `gitml image build` runs
 * it minus the CLI's start-up. Prints the figures and the ratio to the baseline.
 *
 * `npx tsx bench/image.ts --scoring [--seconds 20 ...]` serves iris from its image (`gitml
 * serve --docker`, trained on the docker target) and runs bench/scoring.ts with `--url` at it:
 * the "served from the container" figure next to the local server and in-process.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initRepo } from '../core/init.js';
import { runExperiment } from '../core/run/run-experiment.js';
import { registerModel } from '../core/registry/register.js';
import { closeRunStore } from '../core/runs/store.js';

const GIT_ENV = { GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };

/** A sklearn-template repo with `versions` registered iris versions trained on the docker target. */
export async function irisRepo(versions: number, opts: { uniqueEnvironment?: boolean } = {}): Promise<{ dir: string; cleanup: () => void }> {
  Object.assign(process.env, GIT_ENV);
  const dir = mkdtempSync(path.join(tmpdir(), 'image-bench-gitml-'));
  await initRepo({ dir, template: 'sklearn', commit: true });
  if (opts.uniqueEnvironment) {
    // A new environment digest: its image is built in the baseline (engine layers that are
    // byte-for-byte the same as an existing image's are still shared, as in real life).
    appendFileSync(path.join(dir, 'gitml/environments/sklearn.yaml'), `variables:\n  GITML_BENCH_RUN: "${Date.now()}"\n`);
    execFileSync('git', ['commit', '-qam', 'bench: a fresh environment'], { cwd: dir, env: { ...process.env, ...GIT_ENV } });
  }
  for (let i = 0; i < versions; i++) {
    const r = await runExperiment({ dir, experiment: 'train', compute: 'docker', params: { C: String(1 / (i + 1)) } });
    if (r.record.status !== 'completed') throw new Error(`training run ${r.runId} ${r.record.status}: ${r.record.error ?? ''}`);
    await registerModel({ dir, name: 'iris', runId: r.runId, version: `v0.0.${i + 1}` });
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `gitml serve iris@v0.0.1 --docker` on a free port: its URL and how to stop it. */
export async function containerService(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { dir, cleanup } = await irisRepo(1);
  const { serveModel } = await import('../core/package/serve.js');
  const s = await serveModel({ dir, ref: 'iris@v0.0.1', docker: true, port: 0 });
  return {
    url: s.url,
    stop: async () => {
      await s.stop();
      closeRunStore();
      cleanup();
    },
  };
}

const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const { buildModelImage } = await import('../core/package/image.js');
  const { dockerClient } = await import('../core/docker/client.js');
  const t0 = performance.now();
  const { dir, cleanup } = await irisRepo(3, { uniqueEnvironment: true });
  console.log(`image bench: 3 iris versions trained on the docker target in ${f(performance.now() - t0)} (setup, not measured)`);
  const docker = dockerClient(undefined, dir);
  {
    // Training on the docker target built this run's environment image: drop its tag (it is
    // unique to this run) so that the baseline is a first build, environment image included.
    const { buildManifest } = await import('../core/package/manifest.js');
    const { environmentImageTag } = await import('../core/docker/environment-image.js');
    const m = (await buildManifest({ dir, ref: 'iris@v0.0.1' })).manifest;
    await docker.getImage(environmentImageTag(m.environment.name, m.environment.digest)).remove().catch(() => undefined);
  }
  const timed = async (ref: string, force = false) => {
    const s = performance.now();
    const r = await buildModelImage({ dir, ref, force });
    return { ms: performance.now() - s, r };
  };
  try {
    const base = await timed('iris@v0.0.1');
    if (!base.r.environmentImage.built) console.log('note: the environment image was already on the engine');
    const v2 = await timed('iris@v0.0.2');
    const v3 = await timed('iris@v0.0.3');
    const same = await timed('iris@v0.0.3', true);
    const reused = await timed('iris@v0.0.3');
    const layers = async (ref: string) => (await docker.getImage(ref).inspect()).RootFS.Layers ?? [];
    const [l1, l2, l3] = await Promise.all([layers(base.r.image), layers(v2.r.image), layers(v3.r.image)]);
    const shared = l2.filter((l, i) => l1[i] === l).length;
    console.log(`baseline   first build (environment image ${base.r.environmentImage.built ? 'built' : 'reused'} + model image): ${f(base.ms)}`);
    console.log(`rebuild    new version, same environment: v0.0.2 ${f(v2.ms)}, v0.0.3 ${f(v3.ms)} (target < 5 s) — ratio to baseline ${(v2.ms / base.ms).toFixed(3)}, ${(v3.ms / base.ms).toFixed(3)}`);
    console.log(`layers     v0.0.2 shares ${shared} of its ${l2.length} layers with v0.0.1 (only the model bundle differs: ${shared === l2.length - 1 && l3.length === l2.length})`);
    console.log(`same       v0.0.3 again through the engine's cache: ${f(same.ms)}, same image id: ${same.r.id === v3.r.id}`);
    console.log(`reused     v0.0.3 again (manifest already built): ${f(reused.ms)}, reused: ${reused.r.reused}`);
    // Leave no bench images behind.
    for (const r of [base.r, v2.r, v3.r]) {
      for (const t of [r.image, r.digestTag]) await docker.getImage(t).remove().catch(() => undefined);
    }
    await docker.getImage(base.r.environmentImage.tag).remove().catch(() => undefined);
  } finally {
    closeRunStore();
    cleanup();
  }
}

/**
 * `--scoring [bench/scoring.ts options]`: serve iris from its image with `gitml serve --docker`,
 * then run bench/scoring.ts with `--url` pointing at the container, so its report has the
 * "served from the container" figure next to the local server and the in-process baseline.
 */
async function scoring(rest: string[]): Promise<void> {
  const svc = await containerService();
  console.log(`container: iris@v0.0.1 served by gitml serve --docker at ${svc.url}`);
  try {
    const { spawn } = await import('node:child_process');
    const here = path.dirname(fileURLToPath(import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'scoring.ts'), '--url', svc.url, ...rest], { stdio: 'inherit' });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (code !== 0) process.exitCode = 1;
  } finally {
    await svc.stop();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--scoring');
  (i >= 0 ? scoring(process.argv.slice(i + 1)) : main()).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
