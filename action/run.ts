/**
 * The Action: what one event asks for, over core/.
 *
 * - push to a branch: run the experiments the push affects (the daemon's rule,
 *   core/triggers/affected.ts), record them, push the runs branch and artifacts back;
 * - pull_request: run the affected experiments at the PR head (not pushed), compare with the
 *   base (core/report), publish one sticky comment, a check run and the job summary; a fork's
 *   read-only token gets the summary and annotations only;
 * - push of a model tag (`NAME@vX.Y.Z`, `NAME#STAGE#N`): reconcile the services that follow
 *   the model (core/services/reconcile.ts builds and pushes the images the plan needs);
 * - workflow_dispatch: run one experiment with the params given.
 *
 * Side effects go through `ActionContext` (the environment, the runner's files, the API
 * client), so tests run the bundle as the runner does and read what it did.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Octokit } from '@octokit/rest';
import { GitmlError, isGitmlError } from '../core/errors.js';
import { runGit } from '../core/git.js';
import { affectedExperiments, changedFiles, defaultBranch as defaultBranchOf, matchExperiments, type AffectedResult } from '../core/triggers/affected.js';
import { loadFromFiles } from '../core/entities/load.js';
import { commitFiles } from '../core/entities/sources.js';
import type { Problem } from '../core/entities/types.js';
import { buildReport, renderMarkdown, type Report } from '../core/report/index.js';
import { runExperiment } from '../core/run/run-experiment.js';
import { pullRuns, pushRuns } from '../core/runs/sync.js';
import { loadRunStoreConfig } from '../core/runs/config.js';
import type { ParamValue, RunRecord } from '../core/runs/types.js';
import { pushArtifacts } from '../core/artifacts/sync.js';
import { parseTag } from '../core/registry/grammar.js';
import { githubClient } from './github.js';
import { CHECK_LIMIT, COMMENT_LIMIT, createCheck, postComment, type CheckAnnotation, type Repo } from './publish.js';
import { ActionInputError, Runner } from './runner.js';

export const COMMANDS = ['auto', 'run', 'report', 'deploy'] as const;
export const COMMENT_MODES = ['sticky', 'new', 'off'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Payload = Record<string, any>;

export interface ActionContext {
  runner: Runner;
  env: NodeJS.ProcessEnv;
  dir: string;
  eventName: string;
  event: Payload;
  repo: Repo;
  token: string;
  remote: string;
  api: () => Octokit;
}

export interface ActionResult {
  runIds: string[];
  reportPath?: string;
  regressed: boolean;
  /** The step fails (exit 1). */
  failed: boolean;
}

const ZERO = /^0+$/;

/** Experiments named in the `experiments` input (commas or newlines), or undefined for "the affected ones". */
function namedExperiments(runner: Runner): string[] | undefined {
  const v = runner.input('experiments');
  const names = v.split(/[\s,]+/).filter(Boolean);
  return names.length ? names : undefined;
}

function problemAnnotations(ctx: ActionContext, problems: Problem[]): CheckAnnotation[] {
  for (const p of problems) ctx.runner.error(p.message, { file: p.file, line: p.line, col: p.col, title: 'gitml: invalid YAML' });
  return problems.map((p) => ({
    path: p.file,
    start_line: Math.max(1, p.line),
    end_line: Math.max(1, p.line),
    ...(p.line > 0 && p.col > 0 ? { start_column: p.col, end_column: p.col } : {}),
    annotation_level: p.severity === 'warning' ? 'warning' : 'failure',
    message: p.message,
  }));
}

function problemsMarkdown(problems: Problem[]): string {
  return ['## gitml: invalid YAML, nothing ran', '', ...problems.map((p) => `- \`${p.file}:${p.line}:${p.col}\` ${p.message.replace(/[\r\n]+/g, ' ')}`), ''].join('\n');
}

async function hasCommit(dir: string, sha: string): Promise<boolean> {
  return (await runGit(dir, ['cat-file', '-e', `${sha}^{commit}`])).code === 0;
}

/** Make sure `sha` is in the clone (actions/checkout fetches one commit by default). */
async function ensureCommit(ctx: ActionContext, sha: string, refs: string[]): Promise<void> {
  if (await hasCommit(ctx.dir, sha)) return;
  for (const ref of [sha, ...refs]) {
    await runGit(ctx.dir, ['fetch', '--no-tags', '--quiet', ctx.remote, ref]);
    if (await hasCommit(ctx.dir, sha)) return;
  }
  throw new GitmlError('REMOTE', `commit ${sha} is not in the clone and could not be fetched from ${ctx.remote}; check out with fetch-depth: 0`, { sha });
}

/**
 * Bring in the remote's runs branch. It may run while runs are recorded here (both sides move
 * the local branch with compare-and-swap): a lost race is tried again.
 */
async function fetchRuns(ctx: ActionContext): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await pullRuns({ dir: ctx.dir, remote: ctx.remote });
      ctx.runner.info(`runs branch from ${r.remote}: ${r.action}`);
      return;
    } catch (e) {
      if (!isGitmlError(e)) throw e;
      if ((e.code === 'REF_CONFLICT' || e.code === 'LOCK_HELD') && attempt < 5) continue;
      ctx.runner.warning(`could not fetch the runs branch: ${e.message}; comparing with the runs this clone has`);
      return;
    }
  }
}

async function runAll(ctx: ActionContext, names: string[], o: { rev: string; branch?: string; params?: Record<string, ParamValue> }): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  const compute = ctx.runner.input('compute') || undefined;
  for (const name of names) {
    ctx.runner.group(`gitml run ${name} at ${o.rev.slice(0, 12)}`);
    // An experiment's output must not be read as workflow commands.
    const stop = `gitml-${Math.random().toString(36).slice(2)}`;
    ctx.runner.info(`::stop-commands::${stop}`);
    let rec: RunRecord;
    try {
      const r = await runExperiment({
        dir: ctx.dir,
        experiment: name,
        rev: o.rev,
        compute,
        params: o.params,
        sourceBranch: o.branch,
        trigger: { kind: 'action', ref: ctx.env.GITHUB_REF, event: ctx.eventName },
        onLog: (chunk) => ctx.runner.info(chunk),
      });
      rec = r.record;
    } finally {
      ctx.runner.info(`::${stop}::`);
      ctx.runner.endGroup();
    }
    ctx.runner.info(`run ${rec.id}: ${name} ${rec.status}`);
    if (rec.status !== 'completed') ctx.runner.error(`run ${rec.id} of ${name} ${rec.status}${rec.error ? `: ${rec.error}` : ''}`, { title: `gitml: ${name} ${rec.status}` });
    out.push(rec);
  }
  return out;
}

async function publishRuns(ctx: ActionContext): Promise<void> {
  const a = await pushArtifacts({ dir: ctx.dir, remote: ctx.remote });
  const r = await pushRuns({ dir: ctx.dir, remote: ctx.remote });
  ctx.runner.info(`pushed the runs branch to ${r.remote} (${r.attempts} attempt${r.attempts === 1 ? '' : 's'}${r.action === 'merge' ? ', merged runs recorded meanwhile' : ''})${a.moved ? `, ${a.moved} artifact(s)` : ''}`);
}

function writeReport(ctx: ActionContext, report: Report | undefined, markdown: string): string {
  const dir = path.join(ctx.env.RUNNER_TEMP || ctx.dir, 'gitml');
  mkdirSync(dir, { recursive: true });
  const md = path.join(dir, 'report.md');
  writeFileSync(md, markdown);
  if (report) writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  return md;
}

/**
 * The daemon's rule for a push, from the push's `before`. Without a usable one (a new branch,
 * or a clone without that commit) the daemon would compare with the merge-base with the
 * default branch, which for the default branch itself is the commit: nothing. The Action then
 * compares with the commit's parent, or, for a root commit, counts every file as changed.
 */
async function affectedByPush(ctx: ActionContext, branch: string, sha: string): Promise<AffectedResult> {
  const defaultBranch = ctx.event.repository?.default_branch;
  const before = typeof ctx.event.before === 'string' && !ZERO.test(ctx.event.before) && (await hasCommit(ctx.dir, ctx.event.before)) ? (ctx.event.before as string) : undefined;
  if (before) return affectedExperiments({ dir: ctx.dir, branch, commit: sha, previous: before, defaultBranch });
  const parent = (await runGit(ctx.dir, ['rev-parse', '--verify', '--quiet', `${sha}^1`])).stdout.trim();
  if (parent) return affectedExperiments({ dir: ctx.dir, branch, commit: sha, previous: parent, defaultBranch });
  const loaded = await loadFromFiles(ctx.dir, await commitFiles(ctx.dir, sha), sha);
  if (!loaded.value) return { ok: false, branch, commit: sha, problems: loaded.errors };
  const changed = await changedFiles(ctx.dir, sha);
  const experiments = matchExperiments(loaded.value.experiments.values(), branch, changed, defaultBranch ?? (await defaultBranchOf(ctx.dir)));
  return { ok: true, branch, commit: sha, baseKind: 'none', changed, experiments, entities: loaded.value };
}

/** push to a branch, workflow_dispatch, or `command: run`. */
async function onRun(ctx: ActionContext): Promise<ActionResult> {
  const { runner, event } = ctx;
  const ref = ctx.env.GITHUB_REF ?? '';
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
  const sha = ctx.env.GITHUB_SHA || event.after;
  if (!sha) throw new ActionInputError('no commit to run: GITHUB_SHA is not set');
  // No fetch of the runs branch first: pushing merges whatever the remote has meanwhile.
  let names = namedExperiments(runner);
  let params: Record<string, ParamValue> | undefined;
  if (ctx.eventName === 'workflow_dispatch') {
    const inputs = (event.inputs ?? {}) as Record<string, unknown>;
    names ??= typeof inputs.experiment === 'string' && inputs.experiment ? [inputs.experiment] : undefined;
    if (!names || names.length !== 1) throw new ActionInputError('workflow_dispatch runs one experiment: give it as the `experiments` input or the dispatch input `experiment`');
    params = parseParams(runner.input('params') || (typeof inputs.params === 'string' ? inputs.params : ''));
  }
  if (!names) {
    const r = await affectedByPush(ctx, branch ?? 'HEAD', sha);
    if (!r.ok) {
      problemAnnotations(ctx, r.problems);
      const md = problemsMarkdown(r.problems);
      runner.summary(md);
      return { runIds: [], reportPath: writeReport(ctx, undefined, md), regressed: false, failed: true };
    }
    names = r.experiments.map((e) => e.name);
    runner.info(names.length ? `affected experiments: ${r.experiments.map((e) => `${e.name} (${e.matched.slice(0, 3).join(', ')})`).join(', ')}` : `no experiment is affected by ${sha.slice(0, 12)} (compared with ${r.base?.slice(0, 12) ?? 'nothing'}, ${r.baseKind})`);
  }
  const runs = await runAll(ctx, names, { rev: sha, branch, params });
  if (runs.length) await publishRuns(ctx);
  const lines = runs.map((r) => `| ${r.experiment} | \`${r.id}\` | ${r.status} | ${Object.entries(r.metrics ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')} |`);
  const md = runs.length ? ['## gitml runs', '', '| experiment | run | status | metrics |', '|---|---|---|---|', ...lines, ''].join('\n') : '## gitml: no experiment affected\n';
  runner.summary(md);
  return { runIds: runs.map((r) => r.id), reportPath: writeReport(ctx, undefined, md), regressed: false, failed: runs.some((r) => r.status !== 'completed') };
}

export function parseParams(text: string): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const line of text.split(/\r?\n|,\s*(?=[A-Za-z_][\w.-]*=)/)) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new ActionInputError(`params: ${JSON.stringify(t)} is not KEY=VALUE`);
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

function isFork(event: Payload): boolean {
  const pr = event.pull_request ?? {};
  const head = pr.head?.repo?.full_name;
  return !head || head !== pr.base?.repo?.full_name || pr.head?.repo?.fork === true;
}

/** A 403 or 404 from GitHub: the token may not do this (a fork's token, or missing permissions). */
const denied = (e: unknown) => [401, 403, 404].includes((e as { status?: number }).status ?? 0);

async function onPullRequest(ctx: ActionContext): Promise<ActionResult> {
  const { runner, event } = ctx;
  const pr = event.pull_request;
  if (!pr) throw new ActionInputError(`the ${ctx.eventName} event has no pull_request`);
  if (ctx.eventName === 'pull_request_target') runner.warning('pull_request_target runs the PR head with a write token and your secrets: use it only for trusted contributors');
  const fork = isFork(event);
  const headSha: string = pr.head.sha;
  const baseSha: string = pr.base.sha;
  await ensureCommit(ctx, headSha, [`refs/pull/${pr.number}/head`]);
  await ensureCommit(ctx, baseSha, [`refs/heads/${pr.base.ref}`]);
  // The base's runs come in while the head runs: only the report needs them.
  const fetched = fetchRuns(ctx);
  const mode = runner.choice('comment', COMMENT_MODES);
  const threshold = runner.input('regression-threshold') || '0';
  const failOn = runner.bool('fail-on-regression');
  const headBranch: string | undefined = fork ? undefined : pr.head.ref;

  let names = namedExperiments(runner);
  let problems: Problem[] | undefined;
  if (!names) {
    const mb = (await runGit(ctx.dir, ['merge-base', baseSha, headSha])).stdout.trim() || undefined;
    const r = await affectedExperiments({ dir: ctx.dir, branch: pr.base.ref, commit: headSha, previous: mb, defaultBranch: event.repository?.default_branch });
    if (!r.ok) problems = r.problems;
    else {
      names = r.experiments.map((e) => e.name);
      runner.info(names.length ? `affected experiments: ${names.join(', ')}` : 'no experiment is affected by this pull request');
    }
  }

  let report: Report | undefined;
  let md: string;
  let annotations: CheckAnnotation[] = [];
  let conclusion: 'success' | 'failure' | 'neutral';
  let title: string;
  let runIds: string[] = [];
  if (problems) {
    await fetched;
    annotations = problemAnnotations(ctx, problems);
    md = problemsMarkdown(problems);
    conclusion = 'failure';
    title = `invalid YAML: ${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  } else {
    const runs = await runAll(ctx, names!, { rev: headSha, branch: headBranch }).finally(() => fetched);
    await fetched;
    runIds = runs.map((r) => r.id);
    report = await buildReport({ dir: ctx.dir, base: baseSha, head: headSha, experiments: names, threshold });
    report.base.rev = pr.base.ref;
    report.head.rev = pr.head.label ?? pr.head.ref;
    md = '';
    conclusion = report.failed || (failOn && report.regressed) ? 'failure' : report.regressed ? 'neutral' : 'success';
    title = report.failed ? 'a run failed at head' : report.regressed ? `regression (threshold ${report.threshold})` : report.experiments.length ? 'no regression' : 'no experiment ran';
    for (const e of report.experiments) {
      if (e.regressed) {
        const p = e.metrics.find((m) => m.primary)!;
        (failOn && !fork ? runner.error.bind(runner) : runner.warning.bind(runner))(`${e.experiment}: ${p.name} ${p.base} → ${p.head} (worse than base by more than ${report.threshold})`, { title: `gitml: ${e.experiment} regressed` });
      }
    }
  }
  const server = ctx.env.GITHUB_SERVER_URL ?? 'https://github.com';
  const runsBranch = (await loadRunStoreConfig(ctx.dir)).branch;
  const render = (limit: number, measure: (s: string) => number, marker: boolean) =>
    report ? renderMarkdown(report, { limit, measure, marker, repoUrl: `${server}/${ctx.repo.owner}/${ctx.repo.repo}`, runsBranch, linkHead: false, fullReportAt: 'the job summary of this run' }).text : (marker ? '<!-- gitml-report -->\n' : '') + md;
  const full = render(1024 * 1024 - 1024, (s) => Buffer.byteLength(s), false);
  runner.summary(full);
  const reportPath = writeReport(ctx, report, full);

  if (fork) {
    runner.notice(`fork pull request: the token is read-only, so no comment and no check run were posted; the report is in the job summary (conclusion: ${conclusion})`);
    return { runIds, reportPath, regressed: report?.regressed ?? false, failed: false };
  }
  const api = ctx.api();
  if (mode !== 'off') {
    try {
      const c = await postComment(api, ctx.repo, pr.number, render(COMMENT_LIMIT, (s) => s.length, true), mode);
      runner.info(`${c.updated ? 'updated' : 'posted'} the PR comment ${c.id}`);
    } catch (e) {
      if (!denied(e)) throw e;
      runner.warning(`could not post the PR comment (GitHub answered ${(e as { status: number }).status}): give the workflow \`pull-requests: write\`; the report is in the job summary`);
    }
  } else runner.info('comment: off, no PR comment');
  try {
    const id = await createCheck(api, ctx.repo, { headSha, conclusion, title: `gitml: ${title}`, summary: render(CHECK_LIMIT, (s) => Buffer.byteLength(s), false), annotations });
    runner.info(`check run ${id}: ${conclusion}`);
  } catch (e) {
    if (!denied(e)) throw e;
    runner.warning(`could not create the check run (GitHub answered ${(e as { status: number }).status}): give the workflow \`checks: write\`; the report is in the job summary (conclusion: ${conclusion})`);
  }
  return { runIds, reportPath, regressed: report?.regressed ?? false, failed: conclusion === 'failure' };
}

/** A model tag: reconcile the services that follow that model. */
async function onTag(ctx: ActionContext): Promise<ActionResult> {
  const ref = ctx.env.GITHUB_REF ?? '';
  const tag = ref.replace(/^refs\/tags\//, '');
  const parsed = parseTag(tag);
  if (!parsed || (parsed.action !== 'register' && parsed.action !== 'assign')) {
    ctx.runner.info(`tag ${tag} is not a model version or stage assignment: nothing to deploy`);
    return { runIds: [], regressed: false, failed: false };
  }
  await fetchRuns(ctx);
  const { loadEntities } = await import('../core/entities/load.js');
  const loaded = await loadEntities({ dir: ctx.dir });
  if (!loaded.value) {
    problemAnnotations(ctx, loaded.errors);
    return { runIds: [], regressed: false, failed: true };
  }
  const services = [...loaded.value.services.values()].filter((s) => s.spec.model === parsed.name).map((s) => s.name);
  if (!services.length) {
    ctx.runner.info(`no service follows model ${parsed.name}`);
    return { runIds: [], regressed: false, failed: false };
  }
  const { deploy } = await import('../core/services/reconcile.js');
  // The status branch as the remote has it (other deploys, monitor reports), so what this
  // deploy records goes on top and the push below is a fast-forward.
  const { pullStatus, pushStatus } = await import('../core/status/sync.js');
  await pullStatus({ dir: ctx.dir, remote: ctx.remote }).catch((e: unknown) => ctx.runner.warning(`could not fetch the status branch: ${(e as Error).message}`));
  const r = await deploy({ dir: ctx.dir, services, trigger: 'action', onProgress: (l) => ctx.runner.info(l) });
  if (r.services.some((s) => !s.noop)) {
    // Who deployed what, from which tag: `gitml services` on any clone shows it after a pull.
    try {
      const p = await pushStatus({ dir: ctx.dir, remote: ctx.remote });
      if (p.pushed) ctx.runner.info(`pushed the status branch ${p.branch} to ${p.remote}`);
    } catch (e) {
      ctx.runner.warning(`could not push the status branch: ${(e as Error).message}; the services are deployed, their status record stays in this job's clone`);
    }
  }
  const bad = r.services.filter((s) => s.error);
  for (const s of bad) ctx.runner.error(`service ${s.name}: ${s.error!.message}`, { title: `gitml: deploy of ${s.name} failed` });
  const md = ['## gitml deploy', '', `Tag \`${tag}\``, '', '| service | result |', '|---|---|', ...r.services.map((s) => `| ${s.name} | ${s.error ? `❌ ${s.error.message.replace(/[|\n]/g, ' ')}` : s.noop ? 'up to date' : `applied${s.url ? ` (${s.url})` : ''}`} |`), ''].join('\n');
  ctx.runner.summary(md);
  return { runIds: [], reportPath: writeReport(ctx, undefined, md), regressed: false, failed: bad.length > 0 };
}

export async function runAction(ctx: ActionContext): Promise<ActionResult> {
  const command = ctx.runner.choice('command', COMMANDS);
  const ref = ctx.env.GITHUB_REF ?? '';
  const isPr = ctx.eventName === 'pull_request' || ctx.eventName === 'pull_request_target';
  const which = command !== 'auto' ? command : isPr ? 'report' : ref.startsWith('refs/tags/') ? 'deploy' : 'run';
  if (which === 'report') {
    if (!isPr) throw new ActionInputError(`command: report needs a pull_request event, not ${ctx.eventName}`);
    return onPullRequest(ctx);
  }
  if (which === 'deploy') return onTag(ctx);
  return onRun(ctx);
}

/** The context from the runner's environment. */
export function contextFromEnv(env: NodeJS.ProcessEnv, runner = new Runner(env)): ActionContext {
  const eventPath = env.GITHUB_EVENT_PATH;
  const event: Payload = eventPath && existsSync(eventPath) ? JSON.parse(readFileSync(eventPath, 'utf8')) : {};
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '/').split('/');
  const token = runner.input('github-token') || env.GITHUB_TOKEN || '';
  let client: Octokit | undefined;
  return {
    runner,
    env,
    dir: env.GITHUB_WORKSPACE || process.cwd(),
    eventName: env.GITHUB_EVENT_NAME ?? '',
    event,
    repo: { owner, repo },
    token,
    remote: runner.input('remote') || 'origin',
    api: () => {
      if (!token) throw new ActionInputError('no github-token: pass `github-token: ${{ github.token }}`');
      return (client ??= githubClient({ token, baseUrl: env.GITHUB_API_URL || 'https://api.github.com', log: (m) => runner.info(m), backoffMs: Number(env.GITML_ACTION_BACKOFF_MS) || 1000 }));
    },
  };
}
