/**
 * The `docker` compute target: a run in a container on a Docker engine (this host's, or a
 * remote one over tcp/ssh), through the engine API only — the code goes in with putArchive
 * and the outputs come back with getArchive, so no bind mount ties it to this host.
 *
 * Lifecycle: ping the engine → build or reuse the environment image → create the container
 * (uid 1000, never root, no capabilities, no-new-privileges) → put the code in → start →
 * stream logs → wait (kill on abort, watch the engine) → copy outputs and metrics back →
 * always remove the container.
 *
 * dockerode is imported lazily in run(), so importing this file costs nothing.
 */
import { lstat, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { DockerCompute } from '../entities/types.js';
import { GitmlError, isGitmlError } from '../errors.js';
import { safeRelPosix } from '../paths.js';
import {
  CODE_DIR,
  LABEL_COMPUTE,
  LABEL_DIGEST,
  LABEL_ENVIRONMENT,
  LABEL_EXPERIMENT,
  LABEL_RUN_ID,
  METRICS_FILE,
  OUTPUTS_DIR,
  RUN_GID,
  RUN_UID,
} from '../docker/layout.js';
import type { GitmlDocker } from '../docker/client.js';
import type { EnvironmentImage } from '../docker/environment-image.js';
import type { TargetOptions } from './index.js';
import type { Target, TargetJob, TargetLayout, TargetResult, TargetStatus } from './types.js';

/** Takes the shared TargetOptions (createTarget passes compute and repoDir; the job carries both too) plus its own knobs. */
export interface DockerTargetOptions extends Partial<TargetOptions> {
  /** Use this client instead of one made from the compute spec (tests, a shared connection). */
  docker?: GitmlDocker;
  /** How often the engine is pinged while a run waits, to notice an engine that went away without closing the connection. */
  healthIntervalMs?: number;
  /** Consecutive failed pings before the run is given up as lost. */
  healthFailures?: number;
  /** Called with the environment image once it is built or found (the orchestration records it early). */
  onImage?: (image: EnvironmentImage) => void;
}

/** `uid:gid` from the compute spec, refusing root: containers never run as root. */
export function runUser(user: string | undefined): { user: string; uid: number; gid: number } {
  if (user === undefined || user === '') return { user: `${RUN_UID}:${RUN_GID}`, uid: RUN_UID, gid: RUN_GID };
  const m = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!m) throw new GitmlError('TARGET', `compute target user ${JSON.stringify(user)} must be numeric uid:gid, e.g. 1000:1000`, { user });
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? uid : Number(m[2]);
  if (uid === 0 || gid === 0) throw new GitmlError('TARGET', `compute target user ${JSON.stringify(user)} is root: gitml runs containers as a non-root user`, { user });
  return { user: `${uid}:${gid}`, uid, gid };
}

/** "2", 1.5, "500m" → NanoCpus. */
export function nanoCpus(cpu: string | number | undefined): number | undefined {
  if (cpu === undefined) return undefined;
  const s = String(cpu).trim();
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(s);
  if (!m) throw new GitmlError('TARGET', `cpu ${JSON.stringify(cpu)} is not a number of cores such as 2, 0.5 or 500m`, { cpu });
  const cores = Number(m[1]) / (m[2] ? 1000 : 1);
  return Math.round(cores * 1e9);
}

const MEM_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** "512Mi", "4Gi", "1G" → bytes. */
export function memoryBytes(mem: string | undefined): number | undefined {
  if (mem === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(mem.trim());
  if (!m) throw new GitmlError('TARGET', `memory ${JSON.stringify(mem)} is not a size such as 512Mi or 4Gi`, { memory: mem });
  return Math.round(Number(m[1]) * MEM_UNITS[m[2] ?? '']!);
}

/** Container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]. */
function containerName(runId: string): string {
  return `gitml-run-${runId.replace(/[^a-zA-Z0-9_.-]/g, '-')}`;
}

function abortStatus(signal: AbortSignal): TargetStatus {
  const r = signal.reason as unknown;
  if (r === 'timeout' || (r instanceof Error && r.name === 'TimeoutError')) return 'timed_out';
  return 'canceled';
}

function abortMessage(status: TargetStatus): string {
  return status === 'timed_out' ? 'the run exceeded its timeout and was killed' : 'the run was canceled';
}

/** A promise that rejects after `ms` (for cleanup calls that must never hang a run). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms / 1000} s`), { code: 'ETIMEDOUT' })), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/**
 * Host folders for what comes back: `outputs/` and `metrics.jsonl` next to the exported code
 * when it is a run scratch folder (`<scratch>/code`, see core/run/scratch.ts, removed by the
 * orchestration after recording) and that outputs folder is free; else a new temp folder that
 * the caller removes.
 */
async function hostOutputPaths(job: TargetJob): Promise<{ outputs: string; metrics: string }> {
  const code = path.resolve(job.codeDir);
  const base = path.dirname(code);
  const outputs = path.join(base, 'outputs');
  if (path.basename(code) === 'code') {
    try {
      await mkdir(outputs, { recursive: true });
      if ((await readdir(outputs)).length === 0) return { outputs, metrics: path.join(base, 'metrics.jsonl') };
    } catch {
      /* fall through to a temp folder */
    }
  }
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(path.join(tmpdir(), `gitml-docker-${job.runId.replace(/[^a-zA-Z0-9_.-]/g, '-')}-`));
  await mkdir(path.join(dir, 'outputs'));
  return { outputs: path.join(dir, 'outputs'), metrics: path.join(dir, 'metrics.jsonl') };
}

/** A Writable that decodes UTF-8 across chunk boundaries and hands text to onLog. */
function logSink(onLog: TargetJob['onLog'], stream: 'stdout' | 'stderr'): Writable {
  const dec = new StringDecoder('utf8');
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = dec.write(chunk);
      if (s) onLog(s, stream);
      cb();
    },
    final(cb) {
      const s = dec.end();
      if (s) onLog(s, stream);
      cb();
    },
  });
}

export class DockerTarget implements Target {
  readonly type = 'docker' as const;

  constructor(private readonly opts: DockerTargetOptions = {}) {}

  layout(_runId: string): TargetLayout {
    return { root: CODE_DIR, outputs: OUTPUTS_DIR, metrics: METRICS_FILE };
  }

  /**
   * Run `job` in a container. Throws 'DOCKER_UNAVAILABLE' when the engine does not answer
   * before the run starts, 'IMAGE_BUILD' (log in data.log) when the environment image cannot
   * be built; everything after the container exists is a result (failed / canceled /
   * timed_out), including an engine that goes away mid-run.
   *
   * @example
   *   const r = await new DockerTarget().run(job); // r.status, r.outputsDir, r.image
   */
  async run(job: TargetJob): Promise<TargetResult> {
    const spec = job.compute.spec;
    if (spec.type !== 'docker') throw new GitmlError('TARGET', `compute target ${job.compute.name} is a ${spec.type} target, not docker`, { compute: job.compute.name });
    const dspec = spec as DockerCompute;
    const { dockerClient, pingDocker, watchEngine } = await import('../docker/client.js');
    const docker = this.opts.docker ?? dockerClient(dspec, job.repoDir);
    const host = docker.gitmlAddress;
    const who = runUser(dspec.user);
    const cwd = safeRelPosix(job.cwd || '');
    const nano = nanoCpus(dspec.resources?.cpu);
    const memory = memoryBytes(dspec.resources?.memory);
    const paths = await hostOutputPaths(job);
    const base = { outputsDir: paths.outputs, host };

    job.onProgress?.(`connecting to the Docker engine at ${host}`);
    await pingDocker(docker);
    if (job.signal.aborted) return { ...base, status: abortStatus(job.signal), exitCode: null, error: abortMessage(abortStatus(job.signal)) };

    // From here on an engine that stops answering must end the run, not hang it.
    const watch = watchEngine(docker, { intervalMs: this.opts.healthIntervalMs, failures: this.opts.healthFailures });
    try {
      const image = await this.environmentImage(job, docker, watch.lost);
      if (image === undefined) {
        const status = abortStatus(job.signal);
        return { ...base, status, exitCode: null, error: `${abortMessage(status)} while its environment image was being built` };
      }
      this.opts.onImage?.(image);
      if (job.signal.aborted) {
        const status = abortStatus(job.signal);
        return { ...base, image: image.tag, imageDigest: image.id, status, exitCode: null, error: abortMessage(status) };
      }
      return await this.runContainer(job, docker, image, watch.lost, { who, cwd, nano, memory, paths, network: dspec.network, gpu: dspec.resources?.gpu });
    } finally {
      watch.stop();
    }
  }

  /** Build or reuse the environment image; undefined when the job was aborted meanwhile. */
  private async environmentImage(job: TargetJob, docker: GitmlDocker, lost: Promise<never>): Promise<EnvironmentImage | undefined> {
    const { buildEnvironmentImage } = await import('../docker/environment-image.js');
    const stop = new AbortController();
    const onAbort = () => stop.abort(job.signal.reason);
    if (job.signal.aborted) onAbort();
    else job.signal.addEventListener('abort', onAbort, { once: true });
    const building = buildEnvironmentImage({
      docker,
      environment: job.environment,
      digest: job.environmentDigest,
      codeDir: job.codeDir,
      signal: stop.signal,
      onProgress: (line) => job.onProgress?.(line),
    });
    building.catch(() => undefined);
    try {
      return await Promise.race([building, lost]);
    } catch (e) {
      if (isGitmlError(e, 'CANCELED') && job.signal.aborted) return undefined;
      // The build log belongs in the run's own log, where `gitml runs logs` finds it.
      if (isGitmlError(e, 'IMAGE_BUILD') && typeof e.data.log === 'string' && e.data.log) {
        const tail = e.data.log.split('\n').slice(-200).join('\n');
        job.onLog(`gitml: the environment image build failed; build log (tail):\n${tail}${tail.endsWith('\n') ? '' : '\n'}`, 'stderr');
      }
      throw e;
    } finally {
      job.signal.removeEventListener('abort', onAbort);
      if (!stop.signal.aborted) stop.abort('done');
    }
  }

  private async runContainer(
    job: TargetJob,
    docker: GitmlDocker,
    image: EnvironmentImage,
    lost: Promise<never>,
    o: {
      who: { user: string; uid: number; gid: number };
      cwd: string;
      nano?: number;
      memory?: number;
      paths: { outputs: string; metrics: string };
      network?: string;
      gpu?: number;
    },
  ): Promise<TargetResult> {
    const { dockerError, isUnavailable, statusOf, unavailableError } = await import('../docker/client.js');
    const { extractTar, packFolder } = await import('../docker/tar.js');
    const host = docker.gitmlAddress;
    const result = (r: Omit<TargetResult, 'outputsDir' | 'host' | 'image' | 'imageDigest'>): TargetResult => ({
      outputsDir: o.paths.outputs,
      host,
      image: image.tag,
      imageDigest: image.id,
      ...r,
    });
    // After this call returns nothing more reaches the job (a call left hanging on a dead
    // engine may still settle later).
    let finished = false;
    const onLog = (chunk: string, stream: 'stdout' | 'stderr') => {
      if (!finished) job.onLog(chunk, stream);
    };
    const workdir = o.cwd ? `${CODE_DIR}/${o.cwd}` : CODE_DIR;
    const env = Object.entries({ ...job.env, ...job.secretEnv }).map(([k, v]) => `${k}=${v}`);
    const cleanups: Array<() => void> = [];
    let container: Dockerode.Container | undefined;
    let killedFor: TargetStatus | undefined;
    let created = false;

    const main = async (): Promise<TargetResult> => {
      job.onProgress?.('creating the run container');
      try {
        container = await docker.createContainer({
          name: containerName(job.runId),
          Image: image.id,
          // The argv is the whole command: an ENTRYPOINT from the base image or the user's Dockerfile would wrap it.
          Entrypoint: [''],
          Cmd: job.argv,
          Env: env,
          WorkingDir: workdir,
          User: o.who.user,
          Tty: false,
          OpenStdin: false,
          AttachStdin: false,
          AttachStdout: false,
          AttachStderr: false,
          Labels: {
            [LABEL_RUN_ID]: job.runId,
            [LABEL_EXPERIMENT]: job.experiment,
            [LABEL_COMPUTE]: job.compute.name,
            [LABEL_ENVIRONMENT]: job.environment.name,
            [LABEL_DIGEST]: job.environmentDigest,
          },
          HostConfig: {
            NanoCpus: o.nano,
            Memory: o.memory,
            NetworkMode: o.network,
            AutoRemove: false,
            // Non-root stays non-root: a set-uid program in the image (su, passwd, or the user's
            // own) must not give the run root in its container, and the run needs no capability.
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
            DeviceRequests: o.gpu ? [{ Driver: '', Count: o.gpu, Capabilities: [['gpu']], DeviceIDs: [], Options: {} }] : undefined,
          },
        });
      } catch (e) {
        // Nothing ran yet: an engine problem here is the same as before the run.
        throw dockerError(e, host, 'creating the run container');
      }
      created = true;
      const c = container;

      // The code, owned by the run user; /gitml/outputs re-owned when the user is not 1000.
      job.onProgress?.('copying the code into the container');
      await c.putArchive(packFolder(job.codeDir, { prefix: 'code', uid: o.who.uid, gid: o.who.gid }) as unknown as NodeJS.ReadableStream, { path: '/gitml' });
      if (o.who.uid !== RUN_UID || o.who.gid !== RUN_GID) {
        await c.putArchive(packFolder(undefined, { prefix: 'outputs', uid: o.who.uid, gid: o.who.gid }) as unknown as NodeJS.ReadableStream, { path: '/gitml' });
      }
      if (job.signal.aborted) {
        const status = abortStatus(job.signal);
        return result({ status, exitCode: null, error: abortMessage(status) });
      }

      job.onProgress?.('starting the run container');
      try {
        await c.start();
      } catch (e) {
        if (isUnavailable(e)) throw e;
        // A command that does not exist fails here, not as an exit code.
        const msg = ((e as { json?: { message?: string } }).json?.message ?? (e as Error).message).trim();
        const exitCode = /not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : null;
        // The runtime's text ("failed to create shim task: OCI runtime create failed: ...") buries the
        // cause: say it as the local target does, keeping the engine's words for the log.
        const program = JSON.stringify(job.argv[0] ?? '');
        const err =
          exitCode === 127
            ? `command not found in the container: ${program} (not on the image's PATH, or the file does not exist in the run's folder)`
            : exitCode === 126
              ? `command ${program} is not executable in the container`
              : `the container did not start: ${msg}`;
        if (exitCode !== null) onLog(`gitml: the container did not start: ${msg}\n`, 'stderr');
        onLog(`gitml: ${err}\n`, 'stderr');
        return result({ status: 'failed', exitCode, error: err });
      }
      job.onProgress?.('running');

      // Logs: follow from the start, demultiplexed (no TTY → 8-byte frame headers).
      const logStream = await c.logs({ follow: true, stdout: true, stderr: true });
      const out = logSink(onLog, 'stdout');
      const errS = logSink(onLog, 'stderr');
      const logsDone = new Promise<void>((resolve) => {
        const finish = () => {
          out.end();
          errS.end();
          resolve();
        };
        logStream.on('end', finish);
        logStream.on('close', finish);
        logStream.on('error', finish);
      });
      docker.modem.demuxStream(logStream, out, errS);
      cleanups.push(() => (logStream as unknown as { destroy?: () => void }).destroy?.());

      // Abort → kill. The wait below then returns with the kill's exit status.
      const onAbort = () => {
        killedFor = abortStatus(job.signal);
        job.onProgress?.(killedFor === 'timed_out' ? 'timeout: killing the container' : 'canceling: killing the container');
        c.kill({ signal: 'SIGKILL' }).catch(() => undefined);
      };
      if (job.signal.aborted) onAbort();
      else job.signal.addEventListener('abort', onAbort, { once: true });
      cleanups.push(() => job.signal.removeEventListener('abort', onAbort));

      const w = (await c.wait()) as { StatusCode: number };
      const exitCode = w.StatusCode;
      // The log stream ends when the container stops; do not wait forever for a slow engine.
      await within(logsDone, 10_000).catch(() => undefined);

      // Outputs and metrics come back whatever the status: a failed run's partial outputs help.
      job.onProgress?.('collecting outputs');
      let metricsFile: string | undefined;
      try {
        // `DIR/.` archives the folder's contents, entries named relative to it.
        const arch = await c.getArchive({ path: `${OUTPUTS_DIR}/.` });
        const got = await extractTar(arch, o.paths.outputs, { strip: 0 });
        for (const r of got.refused) onLog(`gitml: output ${r.path} not collected: ${r.reason}\n`, 'stderr');
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      try {
        const arch = await c.getArchive({ path: METRICS_FILE });
        const tmp = await mkdtemp(path.join(path.dirname(o.paths.metrics), '.metrics-'));
        try {
          const got = await extractTar(arch, tmp, { strip: 0 });
          for (const r of got.refused) onLog(`gitml: metrics file not collected: ${r.reason}\n`, 'stderr');
          if (got.files.includes('metrics.jsonl') && (await lstat(path.join(tmp, 'metrics.jsonl'))).isFile()) {
            await rename(path.join(tmp, 'metrics.jsonl'), o.paths.metrics);
            metricsFile = o.paths.metrics;
          }
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }

      if (killedFor) return result({ status: killedFor, exitCode, metricsFile, error: abortMessage(killedFor) });
      if (exitCode === 0) return result({ status: 'completed', exitCode, metricsFile });
      const why = exitCode === 137 && o.memory ? ` (killed: out of memory? the limit is ${o.memory} bytes)` : '';
      return result({ status: 'failed', exitCode, metricsFile, error: `the command exited with code ${exitCode}${why}` });
    };

    let engineLost = false;
    const running = main();
    running.catch(() => undefined);
    try {
      return await Promise.race([running, lost]);
    } catch (e) {
      if (!created && e instanceof GitmlError) throw e;
      if (isUnavailable(e) || isGitmlError(e, 'DOCKER_UNAVAILABLE')) {
        engineLost = true;
        const err = isGitmlError(e, 'DOCKER_UNAVAILABLE') ? e : unavailableError(host, e);
        // Nothing ran yet: the same as an engine down before the run.
        if (!created) throw err;
        onLog(`gitml: ${err.message}\n`, 'stderr');
        const status = killedFor ?? (job.signal.aborted ? abortStatus(job.signal) : 'failed');
        return result({ status, exitCode: null, error: `the Docker engine went away during the run: ${err.message}` });
      }
      if (e instanceof GitmlError) throw e;
      throw dockerError(e, host, 'running the container');
    } finally {
      finished = true;
      for (const c of cleanups) c();
      // Always remove the container; bounded so a dead engine never hangs the run's end.
      if (container) {
        await within(container.remove({ force: true, v: true }), engineLost ? 2000 : 30_000).catch((e) => {
          if (statusOf(e) !== 404) job.onLog(`gitml: could not remove container ${containerName(job.runId)}: ${(e as Error).message}\n`, 'stderr');
        });
      }
    }
  }
}
