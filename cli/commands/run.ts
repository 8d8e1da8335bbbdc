import { Option, type Command } from 'commander';
import { EXIT } from '../../core/errors.js';
import { c, fmtDuration, fmtNum, printJson } from '../output.js';
import { collect, parseKeyValues, repoDir } from '../util.js';

interface RunOpts {
  compute?: string;
  param?: string[];
  rev?: string;
  allowDirty?: boolean;
  detach?: boolean;
  json?: boolean;
  worker?: string;
  dirtyParent?: boolean;
  triggerJson?: string;
  sourceBranch?: string;
}

const EXIT_FOR: Record<string, number> = { completed: EXIT.OK, failed: EXIT.FAILURE, timed_out: EXIT.FAILURE, canceled: EXIT.INTERRUPTED };

/**
 * A status line that coexists with streamed logs: on a terminal it is cleared before each log
 * chunk and redrawn after; elsewhere each distinct status is printed once.
 */
function statusLine(stream: NodeJS.WriteStream) {
  let msg = '';
  let shown = false;
  const started = Date.now();
  const draw = () => {
    if (!stream.isTTY || !msg) return;
    stream.write(`\r\u001b[2K${c.dim(`${msg} · ${fmtDuration(Date.now() - started)}`, stream)}`);
    shown = true;
  };
  const clear = () => {
    if (shown) stream.write('\r\u001b[2K');
    shown = false;
  };
  const timer = stream.isTTY ? setInterval(draw, 1000) : undefined;
  timer?.unref();
  return {
    update(m: string) {
      if (m === msg) return;
      msg = m;
      if (stream.isTTY) draw();
      else stream.write(c.dim(`gitml: ${m}`, stream) + '\n');
    },
    /** Write around the status line. */
    around(write: () => void, endsWithNewline: boolean) {
      clear();
      write();
      if (endsWithNewline) draw();
    },
    stop() {
      if (timer) clearInterval(timer);
      clear();
    },
  };
}

export function register(program: Command): void {
  program
    .command('run')
    .description('Run an experiment as committed (HEAD or --rev) on its compute target and record it on the runs branch')
    .argument('<experiment>', 'experiment name (a file gitml/experiments/<name>.yaml)')
    .option('--compute <name>', "run on this compute target instead of the experiment's")
    .option('-p, --param <key=value>', 'set a declared param (repeatable); converted to its declared type', collect, [])
    .option('--rev <rev>', 'run the code of this commit, branch or tag (default: HEAD)')
    .option('--allow-dirty', 'run HEAD although tracked files have uncommitted changes (recorded as dirty)')
    .option('-d, --detach', 'start the run in the background, print its id and return at once (follow with `gitml runs show ID --follow`)')
    .option('--json', 'print the final run record as JSON on stdout (logs go to stderr)')
    .addOption(new Option('--worker <run-id>', 'internal: be the detached worker of this run').hideHelp())
    .addOption(new Option('--dirty-parent', 'internal: the parent found the tree dirty').hideHelp())
    .addOption(new Option('--trigger-json <json>', 'internal: trigger of the run').hideHelp())
    .addOption(new Option('--source-branch <branch>', 'internal: source branch recorded by the detached worker').hideHelp())
    .addHelpText(
      'after',
      `
The command gets each param as a separate argument, and these variables:
  GITML_RUN_ID   the run id
  GITML_OUTPUTS  a folder: files written there are kept as the run's artifacts
  GITML_METRICS  a JSON-lines file: {"name": "loss", "value": 0.31, "step": 2, "timestamp": <ms>}
Metrics may also be printed on stdout, one per line:
  ::gitml metric name=loss value=0.31 step=2
  ::gitml metric {"name": "loss", "value": 0.31, "step": 2}

Exit status: 0 completed, 1 failed or timed out, 2 usage (unknown param...), 3 environment
(Docker engine down, Kubernetes API server unreachable or refusing, no kubeconfig context...),
130 canceled (Ctrl-C).`,
    )
    .action(async (experiment: string, opts: RunOpts, cmd: Command) => {
      const { runExperiment } = await import('../../core/run/run-experiment.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const params = parseKeyValues(opts.param, '--param');
      const controller = new AbortController();
      const trigger = opts.triggerJson ? (JSON.parse(opts.triggerJson) as { kind: string }) : undefined;

      if (opts.worker) {
        // Detached worker: no terminal; logs go to the live log. SIGTERM/SIGINT cancel the run.
        const stop = () => controller.abort();
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        const r = await runExperiment({ dir, experiment, compute: opts.compute, params, rev: opts.rev, runId: opts.worker, dirty: opts.dirtyParent, sourceBranch: opts.sourceBranch, signal: controller.signal, trigger });
        process.exitCode = EXIT_FOR[r.record.status] ?? EXIT.FAILURE;
        return;
      }

      if (opts.detach) {
        const r = await runExperiment({ dir, experiment, compute: opts.compute, params, rev: opts.rev, allowDirty: opts.allowDirty, detach: true, trigger });
        if (opts.json) printJson({ runId: r.runId, status: r.record.status });
        else {
          process.stdout.write(r.runId + '\n');
          process.stderr.write(c.dim(`started in the background; follow it with: gitml runs show ${r.runId} --follow`, process.stderr) + '\n');
        }
        return;
      }

      const status = statusLine(process.stderr);
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) {
          status.around(() => process.stderr.write(c.yellow('canceling the run (Ctrl-C again to quit without recording)…', process.stderr) + '\n'), true);
          controller.abort();
        } else process.exit(EXIT.INTERRUPTED);
      };
      process.on('SIGINT', onSigint);
      process.on('SIGTERM', onSigint);
      try {
        const logOut = opts.json ? process.stderr : process.stdout;
        const r = await runExperiment({
          dir,
          experiment,
          compute: opts.compute,
          params,
          rev: opts.rev,
          allowDirty: opts.allowDirty,
          signal: controller.signal,
          trigger,
          onProgress: (m) => status.update(m),
          onLog: (chunk, stream) => status.around(() => (stream === 'stdout' ? logOut : process.stderr).write(chunk), chunk.endsWith('\n')),
        });
        status.stop();
        const rec = r.record;
        if (opts.json) printJson(rec);
        else {
          const colour = rec.status === 'completed' ? c.green : rec.status === 'canceled' ? c.yellow : c.red;
          const out = process.stderr;
          out.write(
            `\n${c.bold('run', out)} ${rec.id}  ${colour(rec.status, out)}  ${rec.experiment} on ${rec.compute.name}  ${fmtDuration(rec.durationMs)}` +
              `${rec.exitCode !== undefined && rec.exitCode !== null ? `  exit ${rec.exitCode}` : ''}\n`,
          );
          if (rec.error && rec.status !== 'completed') out.write(`  ${colour(rec.error, out)}\n`);
          const names = Object.keys(rec.metrics).sort();
          const w = Math.max(0, ...names.map((n) => n.length));
          for (const n of names) out.write(`  ${n.padEnd(w)}  ${fmtNum(rec.metrics[n])}\n`);
          if (rec.artifacts.length) out.write(c.dim(`  ${rec.artifacts.length} artifact${rec.artifacts.length === 1 ? '' : 's'}: ${rec.artifacts.map((a) => a.path).slice(0, 5).join(', ')}${rec.artifacts.length > 5 ? ', …' : ''}`, out) + '\n');
          out.write(c.dim(`  gitml runs show ${rec.id}`, out) + '\n');
        }
        process.exitCode = EXIT_FOR[rec.status] ?? EXIT.FAILURE;
      } finally {
        status.stop();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
    });
}
