/**
 * `gitml monitor SERVICE --requests FILE`: drift of a service's sampled requests against its
 * model's training reference. Exit 0 when nothing drifted, 1 when the dataset drifted.
 */
import type { Command } from 'commander';
import { EXIT } from '../../core/errors.js';
import { c, fmtNum, printJson, progress, table, termSafe } from '../output.js';
import { collect, repoDir, usage } from '../util.js';

const BARS = ' ▁▂▃▄▅▆▇█';

/** Two histograms on one scale, so their heights compare. */
function bars(ref: number[], cur: number[]): [string, string] {
  const max = Math.max(...ref, ...cur, 1e-12);
  const one = (xs: number[]) => xs.map((v) => BARS[v <= 0 ? 0 : Math.max(1, Math.round((v / max) * (BARS.length - 1)))]).join('');
  return [one(ref), one(cur)];
}

export function register(program: Command): void {
  program
    .command('monitor')
    .description('Compare a service\'s sampled requests with its training reference: drift per column (exit 1 on drift)')
    .argument('<service>', 'a Service in gitml/services/')
    .option('--requests <file>', 'a sample log to read (the JSON lines file of `gitml serve --sample-log`) instead of the deployed replicas\' sample logs')
    .option('--since <duration>', 'only requests of the last DURATION (e.g. 24h, 30m, 7d)')
    .option('--last <n>', 'only the last N sampled rows')
    .option('--method <method>', 'test for every column: auto, ks, chi2, psi, js, wasserstein (default: the service\'s monitoring.drift.method, else auto)')
    .option('--threshold <x>', 'drift threshold of the method (p-value for ks and chi2, distance for psi, js, wasserstein)')
    .option('--share <x>', 'share of drifted columns at which the dataset has drifted (default 0.5)')
    .option('--metrics <url>', 'a replica\'s /metrics URL, for the service\'s health (repeatable)', collect)
    .option('--record', 'store the report on the status branch (branches.status, default gitml-status): monitor/SERVICE/reports/ and monitor/SERVICE/latest.json')
    .option('--retrain', 'when the drift share reaches the service\'s monitoring.retrain.threshold, run its retraining experiment now (or queue it for the running daemon), register the model, and promote it when it is better (monitoring.retrain.promote)')
    .option('--json', 'print the report as JSON (with --record or --retrain: {report, recorded, retrain})')
    .addHelpText(
      'after',
      `
Tests (as Evidently chooses them): a reference of at most 1,000 rows gets Kolmogorov-Smirnov
for numeric columns with more than 5 distinct values and chi-squared otherwise (drifted when
p < 0.05); a larger one gets the normed Wasserstein distance and Jensen-Shannon (drifted
above 0.1). PSI (above 0.1) on request. The reference is the Model's \`reference:\` output of
the run behind the served version, else its \`sample:\` output.

Requests: without --requests, the sample logs of the deployed service's replicas, written
when \`monitoring.sampleRate\` is above 0 (on Docker, the service's samples volume; on
Kubernetes, the pods' logs, read through the API).

With --retrain and a service's monitoring.retrain {experiment, threshold, promote, backoff}:
the experiment runs (its lineage says trigger drift:REPORT_ID), the model is registered, and
promoted to \`promote\` when its primary metric beats that stage's version. While a
\`gitml daemon\` serves the repository, the retraining is put in its queue instead and the
daemon does all that. One retraining at a time per service (queued or running); after a
failed one the next waits \`backoff\` (default 1h).

Exit: 0 nothing drifted (or no requests yet), 1 a column or the predictions drifted (or the
retraining run failed), 2 bad usage, 3 the
sample log cannot be read.`,
    )
    .action(async (service: string, opts: { requests?: string; since?: string; last?: string; method?: string; threshold?: string; share?: string; retrain?: boolean; record?: boolean; metrics?: string[]; json?: boolean }, cmd: Command) => {
      const { monitorService, DRIFT_METHODS } = await import('../../core/monitor/report.js');
      const { parseDuration } = await import('../../core/monitor/requests.js');
      const num = (v: string | undefined, flag: string, int = false) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) usage(`${flag} takes a ${int ? 'whole ' : ''}number, not ${JSON.stringify(v)}`);
        return n;
      };
      if (opts.method && !(DRIFT_METHODS as readonly string[]).includes(opts.method)) usage(`--method takes one of ${DRIFT_METHODS.join(', ')}, not ${JSON.stringify(opts.method)}`);
      const window = { sinceMs: opts.since ? Date.now() - parseDuration(opts.since) : undefined, last: num(opts.last, '--last', true) };
      // Millions of sampled rows take seconds: say how far the read has come (stderr).
      const p = progress();
      const r = await monitorService({
        dir: repoDir(cmd.optsWithGlobals()),
        service,
        requests: opts.requests,
        window,
        method: opts.method as never,
        threshold: num(opts.threshold, '--threshold'),
        shareThreshold: num(opts.share, '--share'),
        metrics: opts.metrics,
        onProgress: (n) => p.update(`reading ${opts.requests ?? `the sample logs of ${service}`}: ${n.toLocaleString('en-US')} rows…`),
      }).finally(() => p.done());
      process.exitCode = r.drifted ? EXIT.FAILURE : EXIT.OK;
      let recorded: { branch: string; commit: string; path: string } | undefined;
      if (opts.record) {
        const { recordReport } = await import('../../core/monitor/record.js');
        recorded = await recordReport({ dir: repoDir(cmd.optsWithGlobals()), report: r });
      }
      let retrained: import('../../core/monitor/retrain.js').RetrainResult | undefined;
      if (opts.retrain) {
        const { retrainOnDrift, queueRetraining } = await import('../../core/monitor/retrain.js');
        const { daemonDir, lockOwner } = await import('../../core/daemon/state.js');
        const quiet = opts.json === true;
        // A daemon serving the repository runs it from its queue; otherwise it runs here.
        const daemon = lockOwner(await daemonDir(repoDir(cmd.optsWithGlobals())));
        retrained = await (daemon ? queueRetraining : retrainOnDrift)({
          dir: repoDir(cmd.optsWithGlobals()),
          service,
          report: r,
          onLog: quiet ? undefined : (chunk) => process.stderr.write(chunk),
          onProgress: quiet ? undefined : (m) => process.stderr.write(`${m}\n`),
        });
        if (retrained.action === 'failed') process.exitCode = EXIT.FAILURE;
      }
      if (opts.json) return printJson(retrained || recorded ? { report: r, ...(recorded ? { recorded } : {}), ...(retrained ? { retrain: retrained } : {}) } : r);
      const out: string[] = [];
      out.push(`${c.bold(termSafe(r.service))}: ${termSafe(`${r.model}@${r.version}`)} (run ${r.run}), reference ${termSafe(r.reference.output)}: ${r.reference.rows} rows`);
      if (r.reference.note) out.push(c.yellow(`note: ${r.reference.note}`));
      const cur = r.current;
      out.push(`requests: ${cur.rows} rows from ${termSafe(cur.file)}${cur.malformed ? c.yellow(`, ${cur.malformed} malformed line${cur.malformed === 1 ? '' : 's'} skipped`) : ''}${cur.outsideWindow ? `, ${cur.outsideWindow} outside the window` : ''}`);
      if (r.health) {
        const h = r.health;
        const ms = (v: number | null) => (v === null ? '-' : `${fmtNum(v * 1000)} ms`);
        const pct = (v: number) => `${fmtNum(v * 100)} %`;
        out.push(
          `health: ${h.up} replica${h.up === 1 ? '' : 's'} up${h.down ? c.red(`, ${h.down} down (${h.replicas.filter((x) => !x.up).map((x) => `${termSafe(x.url)}: ${termSafe(x.error ?? '')}`).join('; ')})`) : ''}; ${h.requests} requests (${fmtNum(h.rate)}/s since start); errors 4xx ${pct(h.errorRate.client)}, 5xx ${pct(h.errorRate.server)}; latency p50 ${ms(h.latency.p50)}, p95 ${ms(h.latency.p95)}, p99 ${ms(h.latency.p99)}`,
        );
      }
      if (r.noData) {
        out.push(c.dim('no sampled requests in the window yet: nothing to compare (serve with --sample-log, or widen --since/--last)'));
        if (recorded) out.push(c.dim(`recorded as ${recorded.branch}:${recorded.path} (commit ${recorded.commit.slice(0, 12)})`));
        process.stdout.write(out.join('\n') + '\n');
        return;
      }
      const rows = [...r.columns, ...(r.prediction ? [r.prediction] : [])].map((col) => {
        const [rb, cb] = bars(col.histogram.reference, col.histogram.current);
        const stat = col.statistic === null ? '-' : col.pvalue !== undefined ? `p=${fmtNum(col.pvalue)}` : fmtNum(col.statistic);
        const verdict = col.status === 'missing' || col.status === 'invalid' ? c.red(col.status) : col.status === 'no-data' ? c.dim('no data') : col.drifted ? c.red('drifted') : c.green('ok');
        const extra = [col.current.missing ? `${col.current.missing} missing` : '', col.current.invalid ? `${col.current.invalid} invalid` : '', col.reference.constant ? 'constant in reference' : ''].filter(Boolean).join(', ');
        return [termSafe(col.name), col.method, stat, `${col.pvalue !== undefined ? '<' : '>'} ${fmtNum(col.threshold)}`, verdict, `${rb} | ${cb}`, extra];
      });
      out.push(table(['COLUMN', 'TEST', 'STATISTIC', 'DRIFT IF', 'RESULT', 'REFERENCE | CURRENT', ''], rows));
      const n = r.columns.filter((x) => x.status !== 'no-data').length;
      const verdict = r.datasetDrift ? c.red('dataset drift') : c.green('no dataset drift');
      if (r.prediction?.drifted) out.push(c.red('the predictions drifted'));
      out.push(`${verdict}: ${r.driftedColumns.length} of ${n} input columns drifted (${fmtNum(r.driftShare * 100)} %, threshold ${fmtNum(r.shareThreshold * 100)} %)${r.driftedColumns.length ? `: ${r.driftedColumns.map((x) => termSafe(x)).join(', ')}` : ''}`);
      if (recorded) out.push(c.dim(`recorded as ${recorded.branch}:${recorded.path} (commit ${recorded.commit.slice(0, 12)})`));
      if (retrained) out.push(`retrain: ${retrained.action}: ${termSafe(retrained.message)}`);
      process.stdout.write(out.join('\n') + '\n');
    });
}
