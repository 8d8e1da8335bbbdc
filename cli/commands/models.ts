/**
 * `gitml models`: every model with its latest version and each stage's current version,
 * replayed from the registry tags (one `git for-each-ref`).
 */
import type { Command } from 'commander';
import { c, printJson, table } from '../output.js';
import { repoDir } from '../util.js';

export function register(program: Command): void {
  program
    .command('models')
    .description('List models with their latest version and the version in each stage')
    .option('-a, --all', 'include deprecated models')
    .option('--json', 'print the list as JSON: {stages, models}')
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      const { listModels } = await import('../../core/registry/list.js');
      const r = await listModels({ dir: repoDir(cmd.optsWithGlobals()), all: opts.all, entities: 'light' });
      if (opts.json) return printJson(r);
      if (r.models.length === 0) {
        // Only deprecated models (hidden without --all) are not "no models yet".
        const hidden = opts.all ? 0 : (await listModels({ dir: repoDir(cmd.optsWithGlobals()), all: true, entities: false })).models.filter((m) => m.deprecated).length;
        const msg = hidden
          ? `no models to list: ${hidden} deprecated model${hidden === 1 ? ' is' : 's are'} hidden (\`gitml models --all\` lists ${hidden === 1 ? 'it' : 'them'})`
          : 'no models yet: add gitml/models/NAME.yaml, then `gitml model register NAME --run RUN_ID`';
        process.stdout.write(c.dim(`${msg}\n`));
        return;
      }
      const rows = r.models.map((m) => [
        m.deprecated ? `${m.name} (deprecated)` : m.name,
        m.latest ?? '-',
        ...r.stages.map((s) => m.stages[s] ?? '-'),
        String(m.versions),
        m.updated ? `${m.updated.time.slice(0, 16).replace('T', ' ')} ${m.updated.by}` : '',
      ]);
      process.stdout.write(table(['MODEL', 'LATEST', ...r.stages.map((s) => s.toUpperCase()), 'VERSIONS', 'UPDATED'], rows) + '\n');
    });
}
