import type { Command } from 'commander';
import { EXIT } from '../../core/errors.js';
import { termSafe } from '../output.js';
import { repoDir, usage } from '../util.js';

interface DaemonOpts {
  once?: boolean;
  json?: boolean;
  interval: string;
  workers: string;
}

/** One human line per event: its name, then its fields as k=v. */
function human(e: { event: string; [k: string]: unknown }): string {
  const fields = Object.entries(e)
    .filter(([k]) => k !== 'event')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return termSafe(`${new Date().toISOString()} ${e.event}${fields ? ' ' + fields : ''}`, { line: true });
}

export function register(program: Command): void {
  program
    .command('daemon')
    .description('Watch the branches: run the experiments each new commit affects (see `gitml queue`)')
    .option('--once', 'one pass: enqueue what new commits affect, run the queue until nothing can start, exit')
    .option('--interval <duration>', 'time between passes, e.g. 10s, 2m', '30s')
    .option('--workers <n>', 'runs in flight at most (each compute target also within its concurrency)', '4')
    .option('--json', 'log one JSON object per line instead of text')
    .addHelpText(
      'after',
      `
An experiment runs when its triggers.branches match the branch and a file changed since the
last commit the daemon processed on that branch matches triggers.paths, its own YAML or its
code folder. A new or force-pushed branch is compared with its merge-base with the default
branch; the first pass only records where each branch is. State and queue: .git/gitml/.
SIGTERM or Ctrl-C: no new runs start; runs in flight finish, then the daemon exits 0.

Exit status: 0 done (failed runs are events in the log), 2 usage, 3 another daemon serves
this repository (lock) or an environment problem.`,
    )
    .action(async (opts: DaemonOpts, cmd: Command) => {
      const { runDaemon } = await import('../../core/daemon/daemon.js');
      const { parseTimeout } = await import('../../core/run/timeout.js');
      const workers = Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1) usage(`--workers expects a whole number >= 1, got ${JSON.stringify(opts.workers)}`);
      let intervalMs: number | undefined;
      try {
        intervalMs = parseTimeout(/^\d+$/.test(opts.interval) ? Number(opts.interval) : opts.interval);
      } catch {
        usage(`--interval expects a duration like 30s or 2m, got ${JSON.stringify(opts.interval)}`);
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        await runDaemon({
          dir: repoDir(cmd.optsWithGlobals()),
          once: opts.once,
          intervalMs,
          workers,
          signal: controller.signal,
          log: (e) => process.stdout.write((opts.json ? JSON.stringify({ at: new Date().toISOString(), ...e }) : human(e)) + '\n'),
        });
        process.exitCode = EXIT.OK;
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
}
