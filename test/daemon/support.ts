/**
 * A `gitml daemon --json` in the background, for the tests of the long-running daemon: its
 * events as they come, a wait for one that matches, and a stop by signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, GIT_ENV } from '../support/repo.js';

export type Ev = { event: string; at?: string; [k: string]: unknown };

export interface Running {
  child: ChildProcess;
  events: Ev[];
  /** Resolves with the first event (from `from` on) for which `pred` holds; rejects after `timeoutMs` with the log so far. */
  waitFor(pred: (e: Ev) => boolean, timeoutMs?: number, from?: number): Promise<Ev>;
  exited: Promise<number | null>;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startDaemon(dir: string, args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [BIN, 'daemon', '--json', ...args], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', ...env } });
  const events: Ev[] = [];
  let buf = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) events.push(JSON.parse(line) as Ev);
    }
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (pred: (e: Ev) => boolean, timeoutMs = 60_000, from = 0) =>
    new Promise<Ev>((resolve, reject) => {
      const check = () => {
        const hit = events.slice(from).find(pred);
        if (hit) {
          cleanup();
          resolve(hit);
        }
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`no such daemon event within ${timeoutMs} ms; log:\n${events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${err}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(t);
        listeners.delete(check);
      };
      listeners.add(check);
      void exited.then(() => {
        check();
        if (listeners.has(check)) {
          cleanup();
          reject(new Error(`the daemon exited; log:\n${events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${err}`));
        }
      });
      check();
    });
  return {
    child,
    events,
    waitFor,
    exited,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
