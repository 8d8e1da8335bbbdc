/** Running the git CLI with argument arrays (never a shell), resolving with the exit code. */
import { execFile } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function gitExec(dir: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'git',
      args,
      {
        cwd: dir,
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        timeout: opts.timeoutMs ?? 0,
        // Never wait for a password prompt: sync runs unattended in the daemon and the Action.
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...opts.env },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 128) : 0;
        resolve({ code, stdout: stdout ?? '', stderr: stderr ?? '' });
      },
    );
    // A git that exits before reading all of its input must not crash us with EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
  });
}
