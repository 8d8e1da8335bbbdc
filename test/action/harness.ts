/**
 * Running the bundled Action as the runner runs it: `node action/dist/index.mjs` in a clone
 * made like actions/checkout makes it (over https, credentials not persisted), with the
 * `GITHUB_*`, `RUNNER_*` and `INPUT_*` variables, an event file built from
 * @octokit/webhooks-examples, a real git remote over https (`git http-backend`, token auth),
 * and the fake REST API (github-api.ts).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHttpsGitServer, type HttpsGitServer } from '../support/git-servers.js';
import { GIT_ENV, ROOT, git, gitml, removeDir, tmpDir, writeFiles } from '../support/repo.js';
import { startFakeGitHub, type FakeGitHub } from './github-api.js';

const require = createRequire(import.meta.url);
const run = promisify(execFile);
export const BUNDLE = path.join(ROOT, 'action/dist/index.mjs');
export const REPOSITORY = 'octo/demo';
export const TOKEN = 'ghs_testtoken0123456789';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A webhook payload from GitHub's published examples (`name`, with `action` when given). */
export function webhookExample(name: string, action?: string, ref?: string): Json {
  const all = require('@octokit/webhooks-examples') as Array<{ name: string; examples: Json[] }>;
  const ex = all.find((e) => e.name === name)!.examples.find((x) => (action === undefined || x.action === action) && (ref === undefined || String(x.ref).startsWith(ref)));
  if (!ex) throw new Error(`no ${name}/${action} example`);
  return structuredClone(ex);
}

export interface World {
  root: string;
  /** The bare repository the git server serves. */
  bare: string;
  /** A working clone with push access by path, for preparing commits. */
  seed: string;
  server: HttpsGitServer;
  gh: FakeGitHub;
  url: string;
  stop(): Promise<void>;
}

/**
 * A bare repository served over https with `files` committed on main; or, with `source`, that
 * repository's main, runs branch, model tags and artifacts (pushed with `gitml push`).
 */
export async function makeWorld(files: Record<string, string>, o: { source?: string } = {}): Promise<World> {
  const root = tmpDir('gitml-action-');
  const bare = path.join(root, 'demo.git');
  git(root, 'init', '-q', '--bare', '-b', 'main', bare);
  let seed = path.join(root, 'seed');
  if (o.source) {
    seed = o.source;
    git(seed, 'remote', 'add', 'origin', bare);
    git(seed, 'push', '-q', 'origin', 'main');
    const r = gitml(seed, ['push', 'origin']);
    if (r.code !== 0) throw new Error(`gitml push: ${r.stderr}`);
  } else {
    git(root, 'init', '-q', '-b', 'main', seed);
    writeFiles(seed, files);
    git(seed, 'add', '-A');
    git(seed, 'commit', '-q', '-m', 'first');
    git(seed, 'remote', 'add', 'origin', bare);
    git(seed, 'push', '-q', 'origin', 'main');
  }
  const server = await startHttpsGitServer({ root, auth: { user: 'x-access-token', token: TOKEN } });
  const gh = await startFakeGitHub({ token: TOKEN });
  return {
    root,
    bare,
    seed,
    server,
    gh,
    url: server.url('demo.git', null),
    async stop() {
      await server.stop();
      await gh.stop();
      removeDir(root);
    },
  };
}

/** Commit `files` on `branch` of the seed and push it; returns the commit id. */
export function pushCommit(w: World, branch: string, files: Record<string, string>, from?: string): string {
  if (from) git(w.seed, 'checkout', '-q', '-B', branch, from);
  else git(w.seed, 'checkout', '-q', '-B', branch);
  writeFiles(w.seed, files);
  git(w.seed, 'add', '-A');
  git(w.seed, 'commit', '-q', '-m', `change on ${branch}`);
  git(w.seed, 'push', '-q', '-f', 'origin', branch);
  return git(w.seed, 'rev-parse', 'HEAD');
}

const authHeader = () => `AUTHORIZATION: Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;

/** A clone like actions/checkout's with `fetch-depth: 0`, at `sha` (detached), credentials not persisted. */
export async function checkout(w: World, sha: string, name = 'ws'): Promise<string> {
  const ws = path.join(w.root, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  const env = { ...process.env, ...GIT_ENV, GIT_SSL_CAINFO: w.server.caFile };
  await run('git', ['-c', `http.extraheader=${authHeader()}`, 'clone', '-q', '--no-checkout', w.url, ws], { env });
  await run('git', ['checkout', '-q', '--detach', sha], { cwd: ws, env });
  return ws;
}

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  ms: number;
}

function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
    out[m[1]] = value.join('\n');
  }
  return out;
}

export interface RunOptions {
  workspace: string;
  eventName: string;
  event: Json;
  ref: string;
  sha: string;
  inputs?: Record<string, string>;
  env?: Record<string, string>;
  /** A command to run node under (the bench's `/usr/bin/time -f '%U %S'`). */
  wrap?: string[];
}

/** Run the bundle as the runner does: `node action/dist/index.mjs` with the runner's variables. */
export async function runBundle(w: World, o: RunOptions): Promise<ActionRun> {
  const temp = path.join(w.root, `runner-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(temp, { recursive: true });
  const eventPath = path.join(temp, 'event.json');
  writeFileSync(eventPath, JSON.stringify(o.event));
  const outputFile = path.join(temp, 'output');
  const summaryFile = path.join(temp, 'summary.md');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const inputs = { 'github-token': TOKEN, command: 'auto', experiments: '', params: '', compute: '', remote: 'origin', 'fail-on-regression': 'false', 'regression-threshold': '0', comment: 'sticky', ...o.inputs };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: path.join(temp, 'home'),
    LANG: 'C.UTF-8',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: o.workspace,
    GITHUB_EVENT_NAME: o.eventName,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REF: o.ref,
    GITHUB_SHA: o.sha,
    GITHUB_REPOSITORY: REPOSITORY,
    GITHUB_REPOSITORY_OWNER: REPOSITORY.split('/')[0],
    GITHUB_SERVER_URL: w.server.origin,
    GITHUB_API_URL: w.gh.url,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_RUN_ID: '1',
    GITHUB_ACTOR: 'octocat',
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    RUNNER_TEMP: temp,
    RUNNER_TOOL_CACHE: path.join(temp, 'tool-cache'),
    GIT_SSL_CAINFO: w.server.caFile,
    GITML_ACTION_BACKOFF_MS: '50',
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.replace(/ /g, '_').toUpperCase()}`, v])),
    ...o.env,
  };
  const t0 = Date.now();
  let code = 0;
  let stdout = '';
  let stderr = '';
  try {
    const [cmd, ...args] = [...(o.wrap ?? []), process.execPath, BUNDLE];
    const r = await run(cmd, args, { cwd: o.workspace, env, maxBuffer: 64 << 20, timeout: 120_000 });
    stdout = r.stdout;
    stderr = r.stderr;
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    code = typeof x.code === 'number' ? x.code : -1;
    stdout = x.stdout ?? '';
    stderr = x.stderr ?? '';
  }
  return { code, stdout, stderr, outputs: parseOutputs(readFileSync(outputFile, 'utf8')), summary: readFileSync(summaryFile, 'utf8'), ms: Date.now() - t0 };
}

/** A push event for `ref` from `before` to `after`, from GitHub's example payload. */
export function pushEvent(ref: string, before: string, after: string): Json {
  const e = webhookExample('push', undefined, ref.startsWith('refs/tags/') ? 'refs/tags/' : 'refs/heads/');
  Object.assign(e, { ref, before, after });
  Object.assign(e.repository, { full_name: REPOSITORY, name: 'demo', default_branch: 'main', master_branch: 'main' });
  e.repository.owner.login = 'octo';
  return e;
}

/** A pull_request event (`opened` or `synchronize`), same-repo unless `fork` names the head repository. */
export function prEvent(o: { action?: string; number: number; headSha: string; headRef: string; baseSha: string; baseRef?: string; fork?: string }): Json {
  const e = webhookExample('pull_request', o.action ?? 'opened');
  const pr = e.pull_request;
  e.number = o.number;
  pr.number = o.number;
  Object.assign(e.repository, { full_name: REPOSITORY, name: 'demo', default_branch: 'main' });
  Object.assign(pr.base, { sha: o.baseSha, ref: o.baseRef ?? 'main', label: `octo:${o.baseRef ?? 'main'}` });
  pr.base.repo = { ...pr.base.repo, full_name: REPOSITORY, name: 'demo', fork: false };
  const headRepo = o.fork ?? REPOSITORY;
  Object.assign(pr.head, { sha: o.headSha, ref: o.headRef, label: `${headRepo.split('/')[0]}:${o.headRef}` });
  pr.head.repo = { ...pr.head.repo, full_name: headRepo, name: headRepo.split('/')[1], fork: Boolean(o.fork) };
  return e;
}

/** Make the bare repository serve `refs/pull/N/head` as GitHub does. */
export function pullRef(w: World, n: number, sha: string): void {
  git(w.bare, 'update-ref', `refs/pull/${n}/head`, sha);
}
