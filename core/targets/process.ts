/**
 * Run one host process for a target (local, spark): argument array (never a shell), its own
 * process group so that cancel/timeout stop everything it started (SIGTERM, then SIGKILL
 * after a grace period), output streamed as it arrives.
 *
 * node:child_process rather than execa: execa costs ~140 ms to import here, half the
 * overhead budget of `gitml run`, and we need none of its conveniences.
 */
import { spawn } from 'node:child_process';
import type { AbortReason, TargetStatus } from './types.js';

export interface ProcessOutcome {
  status: TargetStatus;
  exitCode: number | null;
  error?: string;
}

export function runProcess(opts: {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  onLog: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Time between SIGTERM and SIGKILL on cancel/timeout. */
  graceMs?: number;
  /** Used in messages: what kind of program this is ("command", "spark-submit"). */
  what?: string;
}): Promise<ProcessOutcome> {
  const grace = opts.graceMs ?? 5000;
  return new Promise((resolve) => {
    if (opts.signal.aborted) {
      resolve(abortedOutcome(opts.signal, null));
      return;
    }
    const child = spawn(opts.argv[0], opts.argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: kill(-pid) reaches its children too
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        try {
          child.kill(sig);
        } catch {
          /* already gone */
        }
      }
    };
    const onAbort = () => {
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), grace);
      killTimer.unref();
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => opts.onLog(d, 'stdout'));
    child.stderr.on('data', (d: string) => opts.onLog(d, 'stderr'));
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.on('close', (code, sig) => {
      opts.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      // Reap anything the program left running in its group.
      if (code !== null || sig !== null) kill('SIGKILL');
      if (spawnError) {
        const what = opts.what ?? 'command';
        const msg =
          spawnError.code === 'ENOENT'
            ? `${what} not found: ${JSON.stringify(opts.argv[0])} (not on PATH, or the file does not exist in the run's folder)`
            : spawnError.code === 'EACCES'
              ? `${what} ${JSON.stringify(opts.argv[0])} is not executable`
              : `cannot start ${what} ${JSON.stringify(opts.argv[0])}: ${spawnError.message}`;
        resolve({ status: opts.signal.aborted ? abortedOutcome(opts.signal, null).status : 'failed', exitCode: null, error: msg });
        return;
      }
      if (opts.signal.aborted) {
        resolve(abortedOutcome(opts.signal, code));
        return;
      }
      if (code === 0) resolve({ status: 'completed', exitCode: 0 });
      else if (code !== null) resolve({ status: 'failed', exitCode: code, error: `exited with code ${code}` });
      else resolve({ status: 'failed', exitCode: null, error: `killed by signal ${sig}` });
    });
  });
}

function abortedOutcome(signal: AbortSignal, code: number | null): ProcessOutcome {
  const reason = signal.reason as AbortReason | unknown;
  if (reason === 'timeout') return { status: 'timed_out', exitCode: code, error: 'timed out: stopped after the experiment\'s timeout' };
  return { status: 'canceled', exitCode: code, error: 'canceled' };
}
