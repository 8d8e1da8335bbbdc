/**
 * A real S3-compatible server on loopback for the `s3` artifact store's contract tests: moto's
 * server mode (PyPI `moto[server]`, the emulator s3fs and pandas test against), started per test
 * file and stopped after it. With `auth: true` moto checks credentials from the first request
 * (INITIAL_NO_AUTH_ACTION_COUNT=0), so any key is refused as AWS refuses an unknown one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { ROOT } from './repo.js';

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

/** moto_server from the project's venv (.ci/setup.sh installs it there). */
export function motoBin(): string | undefined {
  const p = path.join(ROOT, '.venv/bin/moto_server');
  return existsSync(p) ? p : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startMoto(opts: { auth?: boolean } = {}): Promise<Moto> {
  const bin = motoBin();
  if (!bin) throw new Error('moto_server is not installed: pip install "moto[server]" into .venv (see .ci/setup.sh)');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.auth) env.INITIAL_NO_AUTH_ACTION_COUNT = '0';
  const proc: ChildProcess = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d) => (err += d));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`moto_server exited: ${err}`);
    try {
      await fetch(endpoint + '/');
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`moto_server did not answer on ${endpoint}: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  return {
    endpoint,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** Credentials moto accepts (anything, without auth); tests check none of them is ever printed. */
export const S3_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIAGITMLTEST0000001',
  AWS_SECRET_ACCESS_KEY: 'gitml-test-s3cret-d0-not-print',
  AWS_REGION: 'us-east-1',
};
