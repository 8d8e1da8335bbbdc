/**
 * `gitml serve`: run a model version's scoring server locally (a process, the default) or as
 * its image on the Docker engine, until Ctrl-C. Thin over core/package/serve.ts.
 */
import type { Command } from 'commander';
import { EXIT } from '../../core/errors.js';
import { c, progress } from '../output.js';
import { repoDir, usage } from '../util.js';

/** Signals that stop the server: Ctrl-C, kill, and the terminal closing. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface ServeOpts {
  port: string;
  host: string;
  docker?: boolean;
  sampleLog?: string;
  sampleRate?: string;
  quiet?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve a model version over HTTP (/score, /invocations, /v2 Open Inference Protocol, /metrics) until Ctrl-C')
    .argument('<model>', 'NAME@VERSION, NAME#STAGE or NAME (its latest version)')
    .option('-p, --port <port>', 'port on this machine (0 picks a free one)', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--docker', "run the model's image on the Docker engine (built if needed) instead of a local Python process")
    .option('--sample-log <file>', 'append sampled scoring requests and responses to this JSON-lines file (for monitoring)')
    .option('--sample-rate <rate>', 'fraction of requests to sample, 0..1 (with --sample-log)', '1')
    .option('-q, --quiet', "do not echo the server's log")
    .option('--json', 'print {url, mode, examples, ...} as one JSON line once ready (logs go to stderr)')
    .addHelpText(
      'after',
      `
Locally, the server runs with the environment's Python (its \`venv\` or \`python\`); the
sklearn flavor needs scikit-learn there. With --docker it runs as the non-root user of the
model image, published on HOST:PORT; Ctrl-C (or SIGTERM, or closing the terminal) stops and
removes the container. Only a \`kill -9\` of gitml leaves it running: the next
\`gitml serve --docker\` on this host removes it, or \`docker rm -f NAME\` (its containers carry
the label dev.gitml.serve=local).
Exit status: 0 after Ctrl-C, 1 when the server fails, 3 when the Docker engine is down.`,
    )
    .action(async (ref: string, opts: ServeOpts, cmd: Command) => {
      const port = Number(opts.port);
      if (!/^\d+$/.test(opts.port) || port > 65535) usage(`--port takes a number from 0 to 65535, not ${JSON.stringify(opts.port)}`);
      const rate = Number(opts.sampleRate ?? '1');
      if (!Number.isFinite(rate) || rate < 0 || rate > 1) usage('--sample-rate takes a number between 0 and 1');
      const { serveModel } = await import('../../core/package/serve.js');
      const p = progress(process.stderr);
      // Ctrl-C (or the terminal closing: SIGHUP) while starting: stop what was started (the
      // process or the container), then exit. Without this a closed terminal leaves the container.
      const starting = new AbortController();
      const onEarlySignal = () => starting.abort();
      for (const sig of SIGNALS) process.on(sig, onEarlySignal);
      const s = await serveModel({
        signal: starting.signal,
        dir: repoDir(cmd.optsWithGlobals()),
        ref,
        port,
        host: opts.host,
        docker: opts.docker,
        sampleLog: opts.sampleLog,
        sampleRate: rate,
        // One status line on a terminal (cut to its width); whole lines into a file or a pipe.
        onProgress: (line) => (process.stderr.isTTY ? p.update(line.slice(0, (process.stderr.columns ?? 100) - 1)) : process.stderr.write(c.dim(line, process.stderr) + '\n')),
        onLog: opts.quiet ? undefined : (chunk) => process.stderr.write(c.dim(chunk, process.stderr)),
      }).catch((e: unknown) => {
        p.done();
        // The server's log explains a failed start; with --quiet it was not shown: show its end.
        const log = (e as { code?: string; data?: { log?: unknown } }).data?.log;
        if (opts.quiet && (e as { code?: string }).code === 'SERVE' && typeof log === 'string' && log.trim()) {
          process.stderr.write(c.dim(log.trimEnd().split('\n').slice(-20).join('\n'), process.stderr) + '\n');
        }
        throw e;
      });
      p.done();
      for (const sig of SIGNALS) process.off(sig, onEarlySignal);
      const m = s.manifest;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ url: s.url, mode: s.mode, model: m.model.name, version: m.model.version, manifestDigest: s.manifestDigest, container: s.container, containerName: s.containerName, image: s.image?.image, imageId: s.image?.id, pid: s.pid, examples: s.examples }) + '\n',
        );
      } else {
        const out = process.stdout;
        out.write(
          `\n${c.green('serving', out)} ${c.bold(`${m.model.name} ${m.model.version}`, out)} at ${c.bold(s.url, out)} ` +
            `(${s.mode === 'docker' ? `container ${s.containerName} of ${s.image!.image}` : `process ${s.pid}`})\n\n` +
            `Try it (Azure ML /score, MLflow /invocations, Open Inference Protocol v2):\n` +
            s.examples.map((e) => `  ${e.curl}`).join('\n') +
            `\n  curl -s ${s.url}/v2/health/ready\n  curl -s ${s.url}/metrics\n  curl -s ${s.url}/openapi.json\n\n` +
            c.dim(s.mode === 'docker' ? `Ctrl-C to stop (the container is removed). If gitml is killed, remove it with: docker rm -f ${s.containerName}` : 'Ctrl-C to stop.', out) +
            '\n',
        );
      }
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(c.dim('stopping…', process.stderr) + '\n');
        void s.stop().then(() => process.exit(EXIT.OK));
      };
      for (const sig of SIGNALS) process.on(sig, stop);
      const code = await s.exited;
      if (!stopping) {
        await s.stop();
        process.stderr.write(`${c.red('error', process.stderr)}: the scoring server stopped (exit ${code})\n`);
        process.exit(EXIT.FAILURE);
      }
    });
}
