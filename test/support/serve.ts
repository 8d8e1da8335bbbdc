/** `gitml serve ... --json --quiet` in the background, for tests that score a served model. */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, GIT_ENV } from './repo.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Served<I = any> {
  proc: ChildProcess;
  /** The JSON line `gitml serve --json` prints once the model is ready. */
  info: I;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Start `gitml serve ARGS --json --quiet` in `dir`; resolves once it is ready, rejects if it exits first. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function serveJson<I = any>(dir: string, args: string[], env: Record<string, string> = {}): Promise<Served<I>> {
  const proc = spawn(process.execPath, [BIN, 'serve', ...args, '--json', '--quiet'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ proc, info: JSON.parse(out.slice(0, nl)), stderr: () => err, exited });
    });
    void exited.then((c) => reject(new Error(`gitml serve exited ${c} before it was ready:\n${err}`)));
  });
}
