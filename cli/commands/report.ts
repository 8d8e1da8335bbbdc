import { Option, type Command } from 'commander';
import { EXIT, GitmlError } from '../../core/errors.js';
import { printJson } from '../output.js';
import { collect, repoDir } from '../util.js';

interface ReportOpts {
  base: string;
  head: string;
  format: string;
  json?: boolean;
  experiment?: string[];
  threshold?: string;
  failOnRegression?: boolean;
  limit?: string;
  repoUrl?: string;
}

export function register(program: Command): void {
  program
    .command('report')
    .description("Compare each experiment's run at --head with the base's newest completed run (at the merge-base, else on the base branch): metrics with deltas judged by the experiment's goal, params that differ, the primary metric's series as a Mermaid chart")
    .requiredOption('--base <rev>', 'the revision compared against, e.g. origin/main')
    .option('--head <rev>', 'the revision whose runs are reported', 'HEAD')
    .addOption(new Option('--format <format>', 'output format').choices(['markdown', 'json']).default('markdown'))
    .option('--json', 'same as --format json')
    .option('-e, --experiment <name>', 'report this experiment (repeatable; default: every experiment with a run at head)', collect, [])
    .option('--threshold <amount>', 'worse than base by more than this is a regression: 0.01 (absolute) or 2% (relative)', '0')
    .option('--fail-on-regression', 'exit 1 when the primary metric of an experiment regressed or a head run failed')
    .option('--limit <chars>', 'cut the Markdown to this many characters at experiment boundaries, with a note')
    .option('--repo-url <url>', 'link runs to their folders on the runs branch of this repository, e.g. https://github.com/OWNER/REPO')
    .addHelpText('after', '\nExit status: 0, or 1 with --fail-on-regression when something regressed or failed; 2 for usage errors (unknown revision...).')
    .action(async (opts: ReportOpts, cmd: Command) => {
      const { buildReport, renderMarkdown } = await import('../../core/report/index.js');
      const limit = opts.limit !== undefined ? Number(opts.limit) : undefined;
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new GitmlError('USAGE', `--limit must be a positive whole number of characters, not ${JSON.stringify(opts.limit)}`);
      const report = await buildReport({ dir: repoDir(cmd.optsWithGlobals()), base: opts.base, head: opts.head, threshold: opts.threshold, experiments: opts.experiment?.length ? opts.experiment : undefined });
      if (opts.json || opts.format === 'json') printJson(report);
      else process.stdout.write(renderMarkdown(report, { limit, repoUrl: opts.repoUrl }).text);
      process.exitCode = opts.failOnRegression && (report.regressed || report.failed) ? EXIT.FAILURE : EXIT.OK;
    });
}
