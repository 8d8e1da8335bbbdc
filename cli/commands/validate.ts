import type { Command } from 'commander';
import { EXIT } from '../../core/errors.js';
import { c, printJson, writeErr } from '../output.js';
import { repoDir } from '../util.js';

export function register(program: Command): void {
  program
    .command('validate')
    .description('Check gitml.yaml and every entity file against the schemas and each other')
    .option('--rev <rev>', 'validate the files as they are in this commit (default: the working tree)')
    .option('--json', 'print the result as JSON: {valid, errors, warnings, counts}')
    .addHelpText('after', '\nExit status: 0 when valid, 1 when problems were found, 2 for usage errors.')
    .action(async (opts: { rev?: string; json?: boolean }, cmd: Command) => {
      const { loadEntities, formatProblem } = await import('../../core/entities/load.js');
      const r = await loadEntities({ dir: repoDir(cmd.optsWithGlobals()), rev: opts.rev });
      const counts = r.value
        ? {
            experiments: r.value.experiments.size,
            compute: r.value.compute.size,
            environments: r.value.environments.size,
            models: r.value.models.size,
            services: r.value.services.size,
          }
        : undefined;
      if (opts.json) {
        printJson({ valid: r.errors.length === 0, errors: r.errors, warnings: r.warnings, counts });
      } else {
        for (const p of r.errors) writeErr(`${formatProblem(p)}\n`);
        for (const p of r.warnings) writeErr(`${c.yellow('warning', process.stderr)}: ${formatProblem(p)}\n`);
        if (r.errors.length === 0 && counts) {
          const parts = Object.entries(counts).map(([k, n]) => `${n} ${k}`);
          process.stdout.write(`${c.green('valid')}: gitml.yaml, ${parts.join(', ')}${opts.rev ? ` (at ${opts.rev})` : ''}\n`);
        } else {
          process.stderr.write(`${r.errors.length} problem${r.errors.length === 1 ? '' : 's'} found\n`);
        }
      }
      process.exitCode = r.errors.length === 0 ? EXIT.OK : EXIT.FAILURE;
    });
}
