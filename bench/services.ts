/**
 * Docker services, measured on the real path (the CLI, the real engine, HAProxy, the scoring
 * server of a real scikit-learn model), each figure against a baseline from the same run:
 * - rollout v1 -> v2 under constant load (8 keep-alive clients through the proxy): failed
 *   requests (goal 0) and the rollout time against a plain `docker run` of the same image to ready;
 * - canary at weight 10: the canary's share of 2,000 requests (goal 10 ± 2 %);
 * - throughput through the proxy with 2 replicas and with 1, against the server hit directly;
 * - `gitml deploy` with nothing to change (goal under 1 s) against `gitml -V`.
 *
 *   npx tsx bench/services.ts [--port 18480] [--requests 2000]
 */
import { spawnSync } from 'node:child_process';
import { BIN } from '../test/support/repo.js';
import { SCORE_BODY, SERVICE_ENV, editService, gitmlAsync, removeProject, serviceRepo, startLoad } from '../test/support/services.js';
import { dockerClient } from '../test/support/docker.js';
import path from 'node:path';
import { httpGet } from '../core/services/http.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const PORT = arg('port', 18480);
const REQUESTS = arg('requests', 2000);
const url = `http://127.0.0.1:${PORT}/score`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function timeCli(dir: string, args: string[], n = 5): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...SERVICE_ENV }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gitml ${args.join(' ')}: ${r.stderr}`);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(n / 2)];
}

async function deploy(dir: string): Promise<number> {
  const t = performance.now();
  const r = await gitmlAsync(dir, ['deploy']);
  if (r.code !== 0) throw new Error(`gitml deploy exited ${r.code}: ${r.stderr}\n${r.stdout}`);
  return performance.now() - t;
}

/** `docker run` of the image, published, until /v2/health/ready answers 200. */
async function plainRun(image: string, port: number): Promise<{ ms: number; stop: () => Promise<void> }> {
  const docker = await dockerClient();
  const t = performance.now();
  const c = await docker.createContainer({ Image: image, User: '1000:1000', ExposedPorts: { '8080/tcp': {} }, HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } } });
  await c.start();
  for (;;) {
    try {
      const r = await httpGet(`http://127.0.0.1:${port}/v2/health/ready`, 1000);
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(50);
  }
  return { ms: performance.now() - t, stop: () => c.remove({ force: true }) };
}

async function throughput(u: string, n: number): Promise<number> {
  const r = await startLoad(u, SCORE_BODY, { concurrency: 8, count: n }).done;
  if (r.failed) throw new Error(`${r.failed} failed requests against ${u}: ${r.errors[0]}`);
  return (r.ok / r.elapsedMs) * 1000;
}

async function main(): Promise<void> {
  const repo = serviceRepo({ port: PORT, versions: 2 });
  const project = path.basename(repo.dir);
  try {
    console.log(`repo ${repo.dir}: versions ${repo.versions.join(', ')}`);
    await deploy(repo.dir);
    const rep = (await (await dockerClient()).listContainers({ filters: JSON.stringify({ label: [`dev.gitml.project=${project}`, 'dev.gitml.service-part=replica'] }) }))[0];
    const image = rep.Labels['dev.gitml.service-image'];

    // Rollout under load.
    const promote = spawnSync(process.execPath, [BIN, 'model', 'promote', 'iris', repo.versions[1], 'production'], { cwd: repo.dir, encoding: 'utf8' });
    if (promote.status !== 0) throw new Error(promote.stderr);
    const load = startLoad(url, SCORE_BODY, { concurrency: 8 });
    await sleep(1000);
    const rolloutMs = await deploy(repo.dir);
    await sleep(1000);
    const during = await load.stop();
    const plain = await plainRun(image, PORT + 1);
    await plain.stop();
    console.log(`rollout under load: ${during.ok} ok, ${during.failed} failed (${during.errors.slice(0, 3).join('; ') || 'no errors'}); versions ${JSON.stringify(during.versions)}`);
    console.log(`rollout time ${(rolloutMs / 1000).toFixed(2)} s vs plain docker run to ready ${(plain.ms / 1000).toFixed(2)} s: ${(rolloutMs / plain.ms).toFixed(2)}x`);

    // Canary at weight 10 (v1 back as the canary of v2).
    editService(repo.dir, (y) => `${y}canary:\n  version: ${repo.versions[0]}\n  weight: 10\n`);
    await deploy(repo.dir);
    const canary = await startLoad(url, SCORE_BODY, { concurrency: 8, count: REQUESTS }).done;
    const share = (canary.versions[repo.versions[0]] ?? 0) / canary.ok;
    console.log(`canary weight 10: ${(share * 100).toFixed(1)} % of ${canary.ok} requests (goal 10 ± 2 %), ${canary.failed} failed`);
    editService(repo.dir, (y) => y.replace(/canary:\n(  .*\n)+/, ''));

    // Throughput: proxy with 1 and 2 replicas against the server directly.
    await deploy(repo.dir);
    const one = await throughput(url, REQUESTS);
    editService(repo.dir, (y) => y.replace(/^replicas: .*$/m, 'replicas: 2'));
    await deploy(repo.dir);
    const two = await throughput(url, REQUESTS);
    const direct = await plainRun(image, PORT + 2);
    const bare = await throughput(`http://127.0.0.1:${PORT + 2}/score`, REQUESTS);
    await direct.stop();
    console.log(`throughput (8 clients): direct ${bare.toFixed(0)} req/s; proxy + 1 replica ${one.toFixed(0)} req/s (${(one / bare).toFixed(2)}x direct); proxy + 2 replicas ${two.toFixed(0)} req/s (${(two / one).toFixed(2)}x one replica, ${(two / bare).toFixed(2)}x direct)`);

    // No-op deploy.
    const noop = timeCli(repo.dir, ['deploy']);
    const version = timeCli(repo.dir, ['-V']);
    console.log(`gitml deploy with nothing to change: ${noop.toFixed(0)} ms (goal < 1000 ms); gitml -V ${version.toFixed(0)} ms: ${(noop / version).toFixed(2)}x`);
  } finally {
    await removeProject(project);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
