/**
 * `gitml runs`: list, show, compare runs and read their logs and metric series, from the runs
 * branch. Thin over core/runs; the store is imported lazily so `gitml --help` stays fast.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { ListRunsOptions } from '../../core/runs/list.js';
import type { RunRecord } from '../../core/runs/types.js';
import { c, fmtDuration, fmtNum, printJson, sparkline, table, termSafe, writeJsonListing, writeOut } from '../output.js';
import { collect, repoDir, usage } from '../util.js';

const store = () => import('../../core/runs/store.js');
/** Runs whose gitml process died unrecorded are settled (recorded failed) before anyone reads them. */
const settleLost = async (dir: string) => {
  if (!mayHaveLiveRuns(dir)) return;
  await (await import('../../core/run/reap.js')).reapLostRuns(dir);
};

/**
 * false when `.git/gitml/live` holds no status file, so no run can be lost: the reaper (and the
 * git and os modules it loads) is then not loaded at all, which a listing's start-up feels.
 * Anything unusual (a worktree's `.git` file, an unreadable folder) goes to the reaper.
 */
function mayHaveLiveRuns(dir: string): boolean {
  const dotgit = path.join(dir, '.git');
  try {
    if (!statSync(dotgit).isDirectory()) return true;
  } catch {
    return true;
  }
  try {
    return readdirSync(path.join(dotgit, 'gitml', 'live')).some((f) => f.endsWith('.json'));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

const DEFAULT_HUMAN_LIMIT = 50;

function intOpt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) usage(`${flag} expects a whole number, got ${JSON.stringify(v)}`);
    return n;
  };
}

function when(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

function colourStatus(s: string): string {
  if (s === 'completed') return c.green(s);
  if (s === 'failed' || s === 'timed_out') return c.red(s);
  if (s === 'running' || s === 'queued') return c.yellow(s);
  return s;
}

function paramText(p: RunRecord['params'], max = 40): string {
  const s = Object.entries(p ?? {})
    .map(([k, v]) => `${k}=${typeof v === 'number' ? fmtNum(v) : String(v)}`)
    .join(' ');
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

function warnProblems(problems: Array<{ path: string; message: string }>): void {
  for (const p of problems) process.stderr.write(`${c.yellow('warning', process.stderr)}: ${termSafe(`${p.path}: ${p.message}`, { line: true })}\n`);
}

/**
 * `--json` is an option of `runs` itself as well as of each subcommand, so that it works on
 * either side of the subcommand (`gitml runs --json show ID`, `gitml runs show ID --json`):
 * commander gives a parent's option to the parent wherever it appears, so read it merged.
 */
const wantJson = (cmd: Command): boolean => Boolean((cmd.optsWithGlobals() as { json?: boolean }).json);

type ListOpts = Omit<ListRunsOptions, 'dir' | 'config'> & { json?: boolean };

async function listAction(opts: ListOpts, cmd: Command): Promise<void> {
  const dir = repoDir(cmd.optsWithGlobals());
  const json = wantJson(cmd);
  // list.js alone, not the whole store: a listing loads none of the recording, sync or artifact code.
  const { listRuns, listRunsJson } = await import('../../core/runs/list.js');
  await settleLost(dir);
  const limit = opts.limit ?? (json ? undefined : DEFAULT_HUMAN_LIMIT);
  // The index reads only the rows shown: the limit goes to the query, `total` says how many matched.
  const query = { dir, experiment: opts.experiment, status: opts.status, branch: opts.branch, commit: opts.commit, where: opts.where, sort: opts.sort, limit };
  const notes = (notices: string[] | undefined) => {
    for (const n of notices ?? []) process.stderr.write(`${c.dim('note', process.stderr)}: ${n}\n`);
  };
  if (json) {
    // The rows' JSON text as the index holds it, never parsed: what printJson of the records would print.
    const found = await listRunsJson(query);
    notes(found.notices);
    writeJsonListing({ runs: found.runs, problems: found.problems, total: found.total });
    return;
  }
  const all = await listRuns(query);
  notes(all.notices);
  const runs = all.runs;
  warnProblems(all.problems);
  if (all.total === 0) {
    process.stdout.write(
      all.recorded === 0 ? 'no runs recorded yet (run an experiment with `gitml run`)\n' : `no runs match (${all.recorded} recorded; \`gitml runs\` without filters lists them)\n`,
    );
    return;
  }
  if (runs.length === 0) {
    process.stdout.write(c.dim(`(0 of ${all.total} runs; use --limit N or --json for more)`) + '\n');
    return;
  }
  // Metric columns: the sort key first, then the most common metrics, at most four.
  const freq = new Map<string, number>();
  for (const r of runs) for (const k of Object.keys(r.metrics ?? {})) freq.set(k, (freq.get(k) ?? 0) + 1);
  let metricCols = [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
  const sortMetric = /^-?metrics\.(.+)$/.exec(opts.sort ?? '')?.[1];
  if (sortMetric) metricCols = [sortMetric, ...metricCols.filter((k) => k !== sortMetric)];
  metricCols = metricCols.slice(0, 4);
  const headers = ['RUN', 'EXPERIMENT', 'STATUS', 'STARTED', 'DURATION', ...metricCols.map((m) => m.toUpperCase()), 'PARAMS'];
  const rows = runs.map((r) => [
    r.id,
    r.experiment,
    colourStatus(r.status),
    when(r.startedAt),
    fmtDuration(r.durationMs),
    ...metricCols.map((m) => fmtNum(r.metrics?.[m])),
    paramText(r.params),
  ]);
  process.stdout.write(table(headers, rows) + '\n');
  if (runs.length < all.total) process.stdout.write(c.dim(`(${runs.length} of ${all.total} runs; use --limit N or --json for more)`) + '\n');
}

export interface ShowOpts {
  json?: boolean;
  follow?: boolean;
}

function kv(rows: Array<[string, string | undefined]>): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${c.bold(k.padEnd(w))}  ${termSafe(v!, { line: true })}`)
    .join('\n');
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Human rendering of one run (also used by `--follow` to redraw). */
export function renderRun(record: RunRecord, commit: string): string {
  const r = record;
  const out: string[] = [];
  out.push(
    kv([
      ['run', r.id],
      ['experiment', r.experiment],
      ['status', colourStatus(r.status) + (r.exitCode !== undefined && r.exitCode !== null ? ` (exit ${r.exitCode})` : '')],
      ['error', r.error],
      ['started', when(r.startedAt)],
      ['ended', when(r.endedAt)],
      ['duration', fmtDuration(r.durationMs)],
      ['source', `${r.source?.commit?.slice(0, 12) ?? ''}${r.source?.branch ? ` (${r.source.branch})` : ''}${r.source?.dirty ? c.yellow(' dirty') : ''}`],
      ['compute', r.compute ? `${r.compute.name} (${r.compute.type})` : undefined],
      ['environment', r.environment ? `${r.environment.name} ${r.environment.digest.slice(0, 19)}${r.environment.image ? ` ${r.environment.image}` : ''}` : undefined],
      ['host', r.host],
      ['trigger', r.trigger ? `${r.trigger.kind}${r.trigger.ref ? ` ${r.trigger.ref}` : ''}` : undefined],
      ['recorded in', commit.slice(0, 12)],
    ]),
  );
  const params = Object.entries(r.params ?? {});
  if (params.length) out.push('', table(['PARAM', 'VALUE'], params.map(([k, v]) => [k, typeof v === 'number' ? fmtNum(v) : String(v)])));
  const metrics = Object.entries(r.metrics ?? {});
  if (metrics.length) out.push('', table(['METRIC', 'VALUE'], metrics.map(([k, v]) => [k, fmtNum(v)])));
  const inputs = Object.entries(r.inputs ?? {});
  if (inputs.length) out.push('', table(['INPUT', 'PATH', 'SHA256'], inputs.map(([k, v]) => [k, v.path, v.sha256.slice(0, 16)])));
  if (r.artifacts?.length) {
    out.push('', table(['ARTIFACT', 'SIZE', 'STORAGE', 'SHA256'], r.artifacts.map((a) => [a.path, fmtBytes(a.size), a.storage, a.sha256.slice(0, 16)])));
  }
  const tags = Object.entries(r.tags ?? {});
  if (tags.length) out.push('', table(['TAG', 'VALUE'], tags));
  return out.join('\n') + '\n';
}

async function showAction(id: string, opts: ShowOpts, cmd: Command): Promise<void> {
  const dir = repoDir(cmd.optsWithGlobals());
  const json = wantJson(cmd);
  if (opts.follow) return (await import('../follow.js')).followCommand({ dir, id, json, render: renderRun });
  const { getRun } = await store();
  await settleLost(dir);
  const { record, commit } = await getRun({ dir, id });
  if (json) printJson({ ...record, commit });
  else writeOut(renderRun(record, commit));
}

/** `gitml runs show`: kept in one place so options such as --follow are one small change. */
function showCommand(runs: Command): Command {
  return runs
    .command('show')
    .description('Show one run: status, source, params, metrics, inputs and artifacts')
    .argument('<id>', 'run id or a unique prefix of it')
    .option('--json', 'print the run record as JSON, with the runs-branch commit that recorded it')
    .option('-f, --follow', "print the run's log live until it ends, then show it (exit status: 0 completed, 1 failed, 130 canceled)")
    .action(showAction);
}

function shortIds(ids: string[]): string[] {
  for (let n = 12; n < 26; n++) if (new Set(ids.map((i) => i.slice(0, n))).size === ids.length) return ids.map((i) => i.slice(0, n));
  return ids;
}

function fmtDelta(d: number | undefined): string {
  if (d === undefined || d === 0 || Number.isNaN(d)) return '';
  const s = `${d > 0 ? '+' : ''}${fmtNum(d)}`;
  return d > 0 ? c.green(s) : c.red(s);
}

async function compareAction(ids: string[], _opts: unknown, cmd: Command): Promise<void> {
  if (ids.length < 2) usage('compare needs at least two run ids');
  const dir = repoDir(cmd.optsWithGlobals());
  const { compareRuns } = await store();
  const cmp = await compareRuns({ dir, ids });
  if (wantJson(cmd)) {
    printJson(cmp);
    return;
  }
  const heads = shortIds(cmp.runs.map((r) => r.id));
  const rows: string[][] = [];
  rows.push(['experiment', ...cmp.runs.map((r) => r.experiment)]);
  rows.push(['status', ...cmp.runs.map((r) => r.status)]);
  for (const p of cmp.params) rows.push([`${p.differs ? '* ' : ''}params.${p.name}`, ...p.values.map((v) => (v === undefined ? '' : typeof v === 'number' ? fmtNum(v) : String(v)))]);
  for (const m of cmp.metrics) rows.push([`metrics.${m.name}`, ...m.values.map((v, i) => (v === undefined ? '' : `${fmtNum(v)}${i > 0 && fmtDelta(m.deltas[i]) ? ` (${fmtDelta(m.deltas[i])})` : ''}`))]);
  process.stdout.write(table(['', ...heads], rows) + '\n');
  process.stdout.write(c.dim('* params that differ; metric deltas are against the first run') + '\n');
}

async function logsAction(id: string, _opts: unknown, cmd: Command): Promise<void> {
  const dir = repoDir(cmd.optsWithGlobals());
  const { runLogs } = await store();
  const r = await runLogs({ dir, id });
  if (wantJson(cmd)) printJson(r);
  // Logs from a pulled branch are anyone's text: colours and line ends stay, other escapes are shown, not obeyed.
  else writeOut(r.logs);
}

async function metricsAction(id: string, opts: { metric?: string }, cmd: Command): Promise<void> {
  const dir = repoDir(cmd.optsWithGlobals());
  const { readRunMetrics } = await store();
  const series = await readRunMetrics({ dir, id, metric: opts.metric });
  if (wantJson(cmd)) {
    printJson(series);
    return;
  }
  const names = Object.keys(series).sort();
  if (names.length === 0) {
    process.stdout.write('this run recorded no metric series\n');
    return;
  }
  if (opts.metric !== undefined) {
    const pts = series[opts.metric];
    process.stdout.write(`${c.bold(termSafe(opts.metric, { line: true }))}  ${sparkline(pts.map((p) => p.value), 60)}\n`);
    process.stdout.write(table(['STEP', 'VALUE', 'TIME'], pts.map((p) => [String(p.step), fmtNum(p.value), new Date(p.timestamp).toISOString()])) + '\n');
    return;
  }
  const rows = names.map((n) => {
    const v = series[n].map((p) => p.value);
    const fin = v.filter(Number.isFinite);
    return [n, String(v.length), fmtNum(v[v.length - 1]), fin.length ? fmtNum(Math.min(...fin)) : '', fin.length ? fmtNum(Math.max(...fin)) : '', sparkline(v)];
  });
  process.stdout.write(table(['METRIC', 'POINTS', 'LAST', 'MIN', 'MAX', 'TREND'], rows) + '\n');
}

export function register(program: Command): void {
  const runs = program
    .command('runs')
    .description('List and inspect recorded runs (the runs branch): list (the default), show, compare, logs, metrics')
    .option('--json', 'print JSON instead of tables (same as --json on the subcommand)')
    .addHelpText(
      'after',
      '\nFilters, sorting and limits are options of `list`: see `gitml runs list --help`.\n\nExamples:\n  gitml runs --experiment train --where "metrics.accuracy>0.9" --sort -metrics.accuracy --limit 5\n  gitml runs show 01jd3q6k\n  gitml runs compare 01jd3q6k 01jd3q7m\n  gitml runs metrics 01jd3q6k --metric loss\n',
    );
  // `list` is the default subcommand so that `gitml runs --json` lists while `gitml runs show ID
  // --json` keeps its own --json.
  runs
    .command('list', { isDefault: true })
    .description('List runs, newest first (also what plain `gitml runs` does)')
    .option('-e, --experiment <name>', 'only runs of this experiment')
    .option('--status <status>', 'only runs with this status: queued, running, completed, failed, canceled, timed_out (comma-separated for several)')
    .option('--branch <branch>', 'only runs made from this source branch')
    .option('--commit <rev>', 'only runs made from this source commit (a hex prefix, or a revision such as HEAD or main~1)')
    .option(
      '-w, --where <expr>',
      'KEY OP VALUE, e.g. metrics.accuracy>0.9, params.kernel=rbf, tags.team~cv; OP is = != > >= < <= or ~ (contains); repeatable, all must hold',
      collect,
    )
    .option('-s, --sort <key>', 'sort by a key such as metrics.accuracy or durationMs; prefix with - for descending (default: newest first)')
    .option('-n, --limit <n>', `show at most N runs (default ${DEFAULT_HUMAN_LIMIT} in tables, all with --json)`, intOpt('--limit'))
    .option('--json', 'print {runs, problems, total} as JSON (total: matching runs before --limit)')
    .action(listAction);
  showCommand(runs);
  runs
    .command('compare')
    .description('Compare runs side by side: params (differences marked) and metrics with deltas against the first')
    .argument('<ids...>', 'two or more run ids (or unique prefixes)')
    .option('--json', 'print {runs, params, metrics} as JSON')
    .action(compareAction);
  runs
    .command('logs')
    .description("Print a run's logs (stdout and stderr)")
    .argument('<id>', 'run id or a unique prefix of it')
    .option('--json', 'print {id, logs} as JSON')
    .action(logsAction);
  runs
    .command('metrics')
    .description("Show a run's metric series: points, last, min, max and a sparkline")
    .argument('<id>', 'run id or a unique prefix of it')
    .option('-m, --metric <name>', 'show every point of this one metric')
    .option('--json', 'print the series as JSON: {name: [{name, step, timestamp, value}]}')
    .action(metricsAction);
}
