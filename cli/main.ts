/**
 * The gitml command line. Each command lives in cli/commands/<name>.ts and exports
 * `register(program)`; cli/program.ts loads only the module of the command being run, and command
 * modules import heavy engine code lazily inside their actions, so that a command pays only for
 * what it uses. `gitml -V` and `--version` are answered here before commander is even loaded. Only this file turns errors into exit
 * codes and messages.
 */
import { GitmlError, exitCodeFor, EXIT, fromSystemError } from '../core/errors.js';
import { packageVersion } from '../core/paths.js';
import { c, termSafe } from './output.js';

export function formatError(e: unknown): string {
  e = fromSystemError(e);
  // Messages quote run records, tag names and paths from pulled branches: escaped for the terminal.
  if (e instanceof GitmlError) return `${c.red('error', process.stderr)}: ${termSafe(e.message)}`;
  const err = e as Error;
  return `${c.red('error', process.stderr)}: ${termSafe(err?.message ?? String(e))} (unexpected; rerun with GITML_DEBUG=1 for details)`;
}

let pipeGuarded = false;

/**
 * `gitml runs | head -1`: when the reader closes the pipe, stop quietly as Unix tools do, instead
 * of dying on an unhandled EPIPE with a stack trace.
 */
function quietOnClosedPipe(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT.OK);
    process.stderr.write(formatError(e) + '\n');
    process.exit(EXIT.FAILURE);
  });
}

export async function main(argv: string[] = process.argv): Promise<number> {
  quietOnClosedPipe();
  if ((argv[2] === '--version' || argv[2] === '-V') && argv.length === 3) {
    process.stdout.write(packageVersion() + '\n');
    return EXIT.OK;
  }
  const { CommanderError } = await import('commander');
  try {
    const { buildProgram } = await import('./program.js');
    const program = await buildProgram(argv);
    await program.parseAsync(argv);
    return Number(process.exitCode ?? EXIT.OK);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are "errors" to commander with exit code 0.
      if (e.exitCode === 0) return EXIT.OK;
      return EXIT.USAGE;
    }
    if (process.env.GITML_DEBUG === '1') process.stderr.write(String((e as Error)?.stack ?? e) + '\n');
    process.stderr.write(formatError(e) + '\n');
    return exitCodeFor(e);
  }
}
