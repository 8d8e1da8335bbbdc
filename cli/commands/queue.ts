import type { Command } from 'commander';
import { c, printJson, table, termSafe } from '../output.js';
import { collect, parseKeyValues, repoDir, usage } from '../util.js';

interface AddOpts {
  param?: string[];
  sweep?: string[];
  rev?: string;
  json?: boolean;
}

/** `--sweep lr=0.1,0.5` flags to `{ lr: ['0.1', '0.5'] }`. */
function parseSweep(pairs: string[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parseKeyValues(pairs, '--sweep'))) {
    if (out[k]) usage(`--sweep ${k} is given twice`);
    out[k] = v.split(',').map((s) => s.trim());
  }
  return out;
}

const fmtParams = (p: Record<string, unknown>) =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');

export function register(program: Command): void {
  const queue = program
    .command('queue')
    .description('See and feed the queue of runs the daemon starts (kept in .git/gitml/queue)')
    .addHelpText('after', `\nThe daemon (\`gitml daemon\`) runs queued entries in order, within each compute target's\n\`concurrency\` (default 1). One entry per (commit, experiment, params): adding it again adds nothing.`);

  queue
    .command('list', { isDefault: true })
    .description('List queue entries in order of arrival: id, state, experiment, commit, params, run')
    .option('--json', 'print the entries as a JSON array')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { listQueue } = await import('../../core/queue/cancel.js');
      const entries = await listQueue({ dir: repoDir(cmd.optsWithGlobals()) });
      if (opts.json) return printJson(entries);
      if (!entries.length) return void process.stdout.write(c.dim('the queue is empty; add with `gitml queue add EXPERIMENT`') + '\n');
      const rows = entries.map((e) => [e.id, e.state + (e.cancelRequested && e.state === 'running' ? ' (cancel requested)' : ''), e.experiment, e.commit.slice(0, 12), e.compute, fmtParams(e.params), e.runId ?? '']);
      process.stdout.write(table(['ID', 'STATE', 'EXPERIMENT', 'COMMIT', 'COMPUTE', 'PARAMS', 'RUN'], rows.map((r) => r.map((x) => termSafe(x)))) + '\n');
    });

  queue
    .command('add')
    .description('Queue an experiment at a commit (default HEAD); --sweep queues every combination of values')
    .argument('<experiment>', 'experiment name (a file gitml/experiments/<name>.yaml)')
    .option('-p, --param <key=value>', 'set a declared param (repeatable)', collect, [])
    .option('--sweep <key=v1,v2,...>', 'queue one entry per value (repeatable: the grid of all combinations, at most 1000)', collect, [])
    .option('--rev <rev>', 'the commit, branch or tag to run (default: HEAD)')
    .option('--json', 'print the entries as a JSON array')
    .action(async (experiment: string, opts: AddOpts, cmd: Command) => {
      const { addToQueue } = await import('../../core/queue/add.js');
      const r = await addToQueue({ dir: repoDir(cmd.optsWithGlobals()), experiment, rev: opts.rev, params: parseKeyValues(opts.param, '--param'), sweep: parseSweep(opts.sweep) });
      if (opts.json) return printJson(r.map((x) => ({ ...x.entry, added: x.added })));
      for (const { entry, added } of r) {
        process.stdout.write(`${entry.id}  ${added ? 'queued' : c.dim(`already in the queue (${entry.state})`)}  ${termSafe(entry.experiment)} ${entry.commit.slice(0, 12)} ${termSafe(fmtParams(entry.params))}\n`);
      }
    });

  queue
    .command('cancel')
    .description('Cancel a queued entry; a running one is asked to stop (its run is recorded canceled)')
    .argument('<id>', 'entry id (see `gitml queue list`)')
    .option('--json', 'print the entry and the outcome as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const { cancelEntry } = await import('../../core/queue/cancel.js');
      const r = await cancelEntry({ dir: repoDir(cmd.optsWithGlobals()), id });
      if (opts.json) return printJson(r);
      const say = { canceled: 'canceled', requested: 'running: its worker was asked to stop', unchanged: `already ${r.entry.state}: nothing to cancel` }[r.outcome];
      process.stdout.write(`${r.entry.id}  ${say}\n`);
    });
}
