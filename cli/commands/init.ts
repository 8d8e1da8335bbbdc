import { Command, Option } from 'commander';
import { c, printJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('init')
    .description('Create a gitml workspace (a new repository, or added to an existing one) and commit it')
    .argument('[dir]', 'folder to create or add to', '.')
    .addOption(new Option('-t, --template <name>', 'starting point: sklearn (scikit-learn) or python (standard library only)').choices(['sklearn', 'python']).default('sklearn'))
    .option('--name <name>', 'project name (default: the folder name)')
    .option('--force', 'overwrite files that already exist')
    .option('--no-commit', 'write the files but do not commit them')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, opts: { template: 'sklearn' | 'python'; name?: string; force?: boolean; commit: boolean; json?: boolean }) => {
      const { initRepo } = await import('../../core/init.js');
      const r = await initRepo({ dir, template: opts.template, name: opts.name, force: opts.force, commit: opts.commit });
      if (opts.json) return printJson(r);
      process.stdout.write(`${r.created ? 'Created' : 'Added gitml to'} ${c.bold(r.dir)} (template ${opts.template}, ${r.files.length} files)\n`);
      if (r.commit) process.stdout.write(`Committed ${r.commit.slice(0, 12)}${r.fallbackIdentity ? ' as gitml <gitml@localhost> (no git identity configured: set user.name and user.email)' : ''}\n`);
      // The sklearn template needs scikit-learn and pandas: say where they are, up front.
      const run =
        opts.template === 'sklearn'
          ? '  gitml run train                    # needs python3 with scikit-learn and pandas here\n  gitml run train --compute docker   # or in the image gitml/python:bookworm\n'
          : '  gitml run train\n';
      process.stdout.write(`\nNext:\n  cd ${dir}\n  gitml validate\n${run}  gitml runs\n`);
    });
}
