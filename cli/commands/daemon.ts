import type { Command } from 'commander';
import { EXIT } from '../../core/errors.js';
import { c, printJson, table, termSafe } from '../output.js';
import { repoDir, usage } from '../util.js';

interface DaemonOpts {
  once?: boolean;
  json?: boolean;
  interval: string;
  workers: string;
  remote?: string;
  webhook?: string;
  reconcile?: string;
  claimTtl: string;
}

/** The environment variable holding the webhook secret (never a flag: flags show in `ps`). */
export const WEBHOOK_SECRET_ENV = 'GITML_WEBHOOK_SECRET';

/** One human line per event: its name, then its fields as k=v. */
function human(e: { event: string; [k: string]: unknown }): string {
  const fields = Object.entries(e)
    .filter(([k]) => k !== 'event')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return termSafe(`${new Date().toISOString()} ${e.event}${fields ? ' ' + fields : ''}`, { line: true });
}

async function duration(flag: string, v: string, allowZero = false): Promise<number> {
  const { parseTimeout } = await import('../../core/run/timeout.js');
  if (allowZero && /^0+$/.test(v)) return 0;
  try {
    return parseTimeout(/^\d+$/.test(v) ? Number(v) : v)!;
  } catch {
    return usage(`${flag} expects a duration like 30s or 2m, got ${JSON.stringify(v)}`);
  }
}

function hostPort(v: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) usage(`--webhook expects HOST:PORT (e.g. 127.0.0.1:9000, 0.0.0.0:9000), got ${JSON.stringify(v)}`);
  return { host: m![1].replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

export function register(program: Command): void {
  const daemon = program
    .command('daemon')
    .description('Watch the branches and tags: run the experiments each new commit affects, deploy the services a new tag moves (see `gitml queue`)')
    .option('--once', 'one pass: enqueue what new commits affect, run the queue until nothing can start, exit')
    .option('--interval <duration>', 'time between passes (and fetches of --remote), e.g. 10s, 2m', '30s')
    .option('--workers <n>', 'runs in flight at most (each compute target also within its concurrency)', '4')
    .option('--remote <name>', 'follow this remote: fetch it every --interval, run what its branches bring, push runs and artifacts back')
    .option('--webhook <host:port>', `serve GitHub, GitLab and Gitea push webhooks here (secret in $${WEBHOOK_SECRET_ENV}); each verified push fetches --remote at once`)
    .option('--reconcile <duration>', 're-reconcile every service this often (0: only on tags), default the --interval')
    .option('--claim-ttl <duration>', 'with --remote: how long a claim on the remote outlives a worker that stopped renewing it', '10m')
    .option('--json', 'log one JSON object per line instead of text')
    .addHelpText(
      'after',
      `
An experiment runs when its triggers.branches match the branch and a file changed since the
last commit the daemon processed on that branch matches triggers.paths, its own YAML or its
code folder. A new or force-pushed branch is compared with its merge-base with the default
branch; the first pass only records where each branch is. With --remote the branches are the
remote's (refs/remotes/NAME/*), fetched every --interval (an unreachable remote is retried
with a growing delay, up to 5 minutes) and on each verified webhook. Each queue entry is
claimed on the remote (refs/gitml/claims/ID, created by a push that fails if it exists), so
several daemons following one remote never start one entry twice; the claim of a worker that
died expires after --claim-ttl (at once when it was a process of this host) and is taken over.

A new or moved model version or stage tag deploys the services that follow that model; every
--reconcile, every service is reconciled again (a killed replica comes back).

State, queue and status: .git/gitml/. SIGTERM or Ctrl-C: no new runs start; runs in flight
finish, results are pushed, then the daemon exits 0. A second SIGTERM stops the runs in flight
and hands their entries back to the queue.

Exit status: 0 done (failed runs are events in the log), 2 usage, 3 another daemon serves
this repository (lock) or an environment problem.`,
    )
    .action(async (opts: DaemonOpts, cmd: Command) => {
      const { runDaemon } = await import('../../core/daemon/daemon.js');
      const workers = Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1) usage(`--workers expects a whole number >= 1, got ${JSON.stringify(opts.workers)}`);
      const intervalMs = await duration('--interval', opts.interval);
      const reconcileMs = opts.reconcile === undefined ? undefined : await duration('--reconcile', opts.reconcile, true);
      const claimTtlMs = await duration('--claim-ttl', opts.claimTtl);
      let webhook: { host: string; port: number; secret: string } | undefined;
      if (opts.webhook !== undefined) {
        if (!opts.remote) usage('--webhook needs --remote: a verified push fetches that remote');
        const secret = process.env[WEBHOOK_SECRET_ENV];
        if (!secret) usage(`--webhook needs the webhook secret in $${WEBHOOK_SECRET_ENV} (the one set on the GitHub, GitLab or Gitea webhook)`);
        webhook = { ...hostPort(opts.webhook), secret: secret! };
      }
      const soft = new AbortController();
      const hard = new AbortController();
      const stop = () => (soft.signal.aborted ? hard.abort() : soft.abort());
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      try {
        await runDaemon({
          dir: repoDir(cmd.optsWithGlobals()),
          once: opts.once,
          intervalMs,
          reconcileMs,
          claimTtlMs,
          workers,
          remote: opts.remote,
          webhook,
          signal: soft.signal,
          hardSignal: hard.signal,
          log: (e) => process.stdout.write((opts.json ? JSON.stringify({ at: new Date().toISOString(), ...e }) : human(e)) + '\n'),
        });
        process.exitCode = EXIT.OK;
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });

  daemon
    .command('status')
    .description("The running daemon: pid, sources, last commit seen per branch, queue length, runs in flight, last error")
    .option('--json', 'print {running, pid, host, startedAt, updatedAt, sources, branches, queue: {queued, running}, inflight, lastError} as JSON')
    .addHelpText('after', '\nExit status: 0 a daemon serves this repository, 1 none does (the last status it wrote is shown).')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { daemonDir, lockOwner, readStatusFile } = await import('../../core/daemon/state.js');
      const { queuePaths, listEntries } = await import('../../core/queue/store.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const ddir = await daemonDir(dir);
      const owner = lockOwner(ddir);
      const st = readStatusFile(ddir);
      const entries = listEntries(await queuePaths(dir));
      const queue = { queued: entries.filter((e) => e.state === 'queued').length, running: entries.filter((e) => e.state === 'running').length };
      const running = owner !== undefined;
      const out = { running, ...(st ?? {}), ...(owner ? { pid: owner.pid, host: owner.host } : {}), queue, inflight: running ? (st?.inflight ?? []) : [] };
      process.exitCode = running ? EXIT.OK : EXIT.FAILURE;
      // `daemon` itself has --json: commander may hand it to the parent.
      if (opts.json || cmd.optsWithGlobals().json) return printJson(out);
      const lines: string[] = [];
      lines.push(running ? `${c.green('running', process.stdout)}: pid ${owner!.pid} on ${termSafe(owner!.host, { line: true })}${st ? ` since ${st.startedAt}` : ''}` : `no daemon serves this repository${st ? ` (last one, pid ${st.pid}, stopped ${st.stoppedAt ?? st.updatedAt})` : ''}`);
      if (st) {
        const s = st.sources;
        const remote = s.remote ? `remote ${termSafe(s.remote.name, { line: true })} (last fetch ${s.remote.lastFetchAt ?? 'never'}${s.remote.failures ? `, ${s.remote.failures} failure(s) in a row` : ''})` : '';
        lines.push(`sources: refs (${s.refs === 'watch' ? 'watched' : 'polled'} every ${Math.round(s.intervalMs / 1000)}s)${remote ? `, ${remote}` : ''}${s.webhook ? `, webhook ${s.webhook}` : ''}`);
      }
      lines.push(`queue: ${queue.queued} queued, ${queue.running} running`);
      if (st && Object.keys(st.branches).length) {
        lines.push('', table(['BRANCH', 'LAST COMMIT', 'SEEN'], Object.entries(st.branches).map(([b, v]) => [termSafe(b, { line: true }), v.commit.slice(0, 12) + (v.invalid ? ' (invalid YAML)' : ''), v.at])));
      }
      if (out.inflight.length) lines.push('', table(['IN FLIGHT', 'EXPERIMENT', 'COMMIT', 'STARTED'], out.inflight.map((r) => [r.id, termSafe(r.experiment, { line: true }), r.commit.slice(0, 12), r.startedAt])));
      if (st?.lastError) lines.push('', `last error (${st.lastError.at}, ${st.lastError.event}): ${termSafe(st.lastError.message, { line: true })}`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
