/**
 * The commander program: root options, and the commands a given command line needs. A command
 * line naming one command loads that command's module alone (`gitml runs ...` never loads the
 * code of `gitml serve`); help, no command and unknown commands load every module so that
 * `gitml --help` lists them all and a typo gets its suggestion.
 */
import { Command } from 'commander';
import { packageVersion } from '../core/paths.js';
import { commands } from './commands/index.js';

/** The command a command line names: the first word that is not a root option or its value. */
export function commandName(args: string[]): string | undefined {
  for (let k = 0; k < args.length; k++) {
    const a = args[k];
    if (a === '--') return undefined;
    if (a === '-C' || a === '--repo') {
      k++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('gitml')
    .description('Turn a git repository into a machine-learning workbench.')
    // Only -V is a root option: commander consumes root options anywhere on the line, and
    // `gitml model register --version v1.2.0` needs its own --version. `gitml --version` is
    // answered in main().
    .version(packageVersion(), '-V', 'print the gitml version (also --version)')
    .option('-C, --repo <dir>', 'work on the repository in DIR instead of the current folder')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false })
    .exitOverride();
  const name = commandName(argv.slice(2));
  const one = commands.find((c) => name !== undefined && c.names.includes(name));
  const needed = one ? [one] : commands;
  const modules = await Promise.all(needed.map((c) => c.load()));
  for (const m of modules) m.register(program);
  program.commands.forEach(function override(cmd: Command) {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  });
  return program;
}
