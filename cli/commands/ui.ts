/**
 * `gitml ui`: the terminal workbench (cli/ui/). It needs a terminal on both ends (keys in,
 * screen out): piped or redirected, it refuses with a usage error instead of drawing escape
 * codes into a file. ink and react are imported only here, so other commands never load them.
 */
import type { Command } from 'commander';
import { GitmlError } from '../../core/errors.js';
import { repoDir } from '../util.js';

export interface UiOpts {
  experiment?: string;
  poll?: string;
}

async function uiAction(opts: UiOpts, cmd: Command): Promise<void> {
  const { findRepoRoot } = await import('../../core/git.js');
  const dir = await findRepoRoot(repoDir(cmd.optsWithGlobals()));
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new GitmlError('USAGE', 'gitml ui needs a terminal (stdin and stdout are not both one); for scripts use `gitml runs --json`, `gitml models --json`', { stdout: Boolean(process.stdout.isTTY), stdin: Boolean(process.stdin.isTTY) });
  }
  const pollMs = opts.poll === undefined ? 1500 : Number(opts.poll) * 1000;
  if (!Number.isFinite(pollMs) || pollMs < 0) throw new GitmlError('USAGE', `--poll expects seconds (0 turns live updates off), got ${JSON.stringify(opts.poll)}`);
  // Raw mode now, not when ink starts reading: keys typed while the program loads are kept for
  // it (in the terminal's line mode they would be echoed and held back until Enter).
  process.stdin.setRawMode(true);
  // React's production build: the development one is several times larger to load and slower to draw.
  process.env.NODE_ENV ??= 'production';
  // The runs are read while ink and react load (each takes a good part of a second on a busy
  // machine): the first screen waits for the slower of the two, not for both in turn.
  const runs = (async () => {
    await (await import('./ui-settle.js')).settleLost(dir);
    // Every run as the runs index's columns (no record parsed: cheap enough for the first screen).
    return (await import('../ui/model/runs.js')).loadRuns({ dir, experiment: opts.experiment });
  })();
  const [{ render }, React, { App }] = await withoutCiEnv(() => Promise.all([import('ink'), import('react'), import('../ui/app.js')]));
  const initialRuns = await runs;
  // A full-screen program: the alternate screen keeps the shell's scrollback as it was.
  process.stdout.write('\u001b[?1049h');
  try {
    const app = render(React.createElement(App, { dir, experiment: opts.experiment, pollMs, initialRuns }), { exitOnCtrlC: true });
    await app.waitUntilExit();
  } finally {
    process.stdin.setRawMode(false);
    process.stdout.write('\u001b[?1049l');
    (await import('../../core/runs/store.js')).closeRunStore();
  }
}

/**
 * ink decides once, as it loads, whether it runs in CI (`CI` or `CONTINUOUS_INTEGRATION` set)
 * and if so draws nothing until the program exits. gitml ui has checked that it has a terminal
 * on both ends, so it is interactive whatever those say (a debugging shell on a CI runner, a
 * terminal that exports CI): ink is loaded with them unset, and they are put back at once.
 */
async function withoutCiEnv<T>(load: () => Promise<T>): Promise<T> {
  const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  try {
    return await load();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  }
}

export function register(program: Command): void {
  program
    .command('ui')
    .description('Browse runs, models and services in a terminal workbench (keys: ? lists them all)')
    .option('-e, --experiment <name>', 'open on the runs of this experiment (its primary metric first)')
    .option('--poll <seconds>', 'how often to check the runs branch, tags and status branch for changes (0: no live updates)', '1.5')
    .addHelpText(
      'after',
      [
        '',
        'Views (tab switches): Runs, Models, Services. Keys:',
        '  j/k or arrows  move          enter  open run        esc  back',
        '  /              filter (same grammar as `gitml runs --where`, plus bare words)',
        '  s / S          sort by the next column / reverse    v    choose columns',
        '  space          mark a run    c      compare marked  l    log (/ search, n/N, f follow)',
        '  ?              every key     q      quit',
        '',
        'Needs a terminal of at least 60x16. NO_COLOR turns colours off.',
        '',
        'Examples:',
        '  gitml ui',
        '  gitml ui --experiment train',
        '',
      ].join('\n'),
    )
    .action(uiAction);
}
