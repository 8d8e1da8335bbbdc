import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../support/repo.js';
import { REPORT_MARKER } from '../../core/report/index.js';
import { checkout, makeWorld, prEvent, pullRef, pushCommit, pushEvent, runBundle, webhookExample, type World } from './harness.js';

/** An experiment whose accuracy is its `acc` param (a negative one fails the run), three steps. */
const TRAIN = (acc: number, extra = '') => `kind: Experiment
command: [python3, -c, "import sys, time; a=float(sys.argv[1]); time.sleep(float(sys.argv[2])); [print(f'::gitml metric name=accuracy value={a if i == 2 else a*(i+1)/3} step={i}') for i in range(3)]; print(f'::gitml metric name=loss value={1-a}'); sys.exit(1 if a < 0 else 0)", "\${{params.acc}}", "\${{params.sleep}}"]
params: { acc: ${acc}, sleep: 0 }
metrics: { primary: accuracy, goal: maximize }
triggers: {}
${extra}`;

const FILES = {
  'gitml.yaml': 'kind: Workspace\nname: demo\ndefaults:\n  compute: local\n',
  'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
  'gitml/experiments/train.yaml': TRAIN(0.8),
};

const ZERO = '0'.repeat(40);
const runsOn = (w: World) => git(w.bare, 'for-each-ref', '--format=%(refname)', 'refs/heads/runs');
const runCount = (w: World) => {
  if (!runsOn(w)) return 0;
  return git(w.bare, 'ls-tree', '-r', '--name-only', 'refs/heads/runs').split('\n').filter((f) => f.endsWith('/run.json')).length;
};

describe('the bundled Action on push, pull requests and dispatch', () => {
  let w: World;
  let main1: string;
  beforeAll(async () => {
    w = await makeWorld(FILES);
    main1 = git(w.seed, 'rev-parse', 'HEAD');
  }, 60_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('push to main: runs the affected experiment and pushes the runs branch with the token', async () => {
    const ws = await checkout(w, main1);
    const r = await runBundle(w, { workspace: ws, eventName: 'push', event: pushEvent('refs/heads/main', ZERO, main1), ref: 'refs/heads/main', sha: main1 });
    expect(r.stderr).toBe('');
    expect(r.code, r.stdout).toBe(0);
    const ids = JSON.parse(r.outputs['run-ids']);
    expect(ids).toHaveLength(1);
    expect(r.outputs.regressed).toBe('false');
    expect(runCount(w)).toBe(1);
    expect(git(w.bare, 'show', `refs/heads/runs:${git(w.bare, 'ls-tree', '-r', '--name-only', 'refs/heads/runs').split('\n').find((f) => f.endsWith('run.json'))}`)).toContain(ids[0]);
    expect(r.summary).toContain('| train |');
    // The token went in an Authorization header, never in the log (the runner masks what ::add-mask:: names) or the clone's config.
    expect(r.stdout).toContain('::add-mask::ghs_testtoken');
    expect(r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')).not.toContain('ghs_testtoken');
    expect(git(ws, 'config', '--list')).not.toContain('extraheader');
    expect(w.server.requests.some((l) => l.startsWith('POST /demo.git/git-receive-pack 200 x-access-token'))).toBe(true);
    expect(w.gh.requests).toEqual([]);
  }, 120_000);

  it('pull request from the same repository: one sticky comment, a check run, the job summary', async () => {
    const head = pushCommit(w, 'feature', { 'gitml/experiments/train.yaml': TRAIN(0.6) }, main1);
    pullRef(w, 7, head);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 7, headSha: head, headRef: 'feature', baseSha: main1 }), ref: 'refs/pull/7/merge', sha: head, inputs: { 'fail-on-regression': 'true', 'regression-threshold': '0.1' } });
    expect(w.gh.violations()).toEqual([]);
    expect(w.gh.requests.map((q) => `${q.method} ${q.operationId} ${q.status}`)).toEqual(['GET issues/list-comments 200', 'POST issues/create-comment 201', 'POST checks/create 201']);
    expect(w.gh.comments).toHaveLength(1);
    const body = w.gh.comments[0].body;
    expect(body.startsWith(REPORT_MARKER)).toBe(true);
    expect(body).toContain('| **accuracy** (primary, maximize) | 0.8 | 0.6 | -0.2 | ❌ worse |');
    expect(body).toContain('```mermaid\nxychart-beta');
    expect(body).toContain('| acc | `0.8` | `0.6` |');
    const check = w.gh.checkRuns[0];
    expect(check).toMatchObject({ name: 'gitml', head_sha: head, status: 'completed', conclusion: 'failure' });
    expect(check.output.summary).toContain('| **accuracy**');
    expect(r.summary).toContain('| **accuracy**');
    expect(r.outputs.regressed).toBe('true');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/::error title=gitml%3A train regressed::train: accuracy 0.8 → 0.6/);
    // The README's "GitHub Action" section shows these (GITML_RECORD=1 rewrites them).
    if (process.env.GITML_RECORD) {
      writeFileSync(path.join(__dirname, '__recorded__/pr-comment.md'), body);
      writeFileSync(path.join(__dirname, '__recorded__/pr-check.json'), JSON.stringify(w.gh.requests.find((q) => q.operationId === 'checks/create')!.body, null, 2) + '\n');
    }
  }, 120_000);

  it('a second push to the same pull request edits the comment instead of adding one', async () => {
    w.gh.clear();
    const head = pushCommit(w, 'feature', { 'gitml/experiments/train.yaml': TRAIN(0.9) });
    pullRef(w, 7, head);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ action: 'synchronize', number: 7, headSha: head, headRef: 'feature', baseSha: main1 }), ref: 'refs/pull/7/merge', sha: head });
    expect(r.code, r.stdout).toBe(0);
    expect(w.gh.violations()).toEqual([]);
    expect(w.gh.requests.map((q) => `${q.method} ${q.operationId}`)).toEqual(['GET issues/list-comments', 'PATCH issues/update-comment', 'POST checks/create']);
    expect(w.gh.comments).toHaveLength(1);
    expect(w.gh.comments[0].body).toContain('| 0.8 | 0.9 | +0.1 | ✅ better |');
    expect(w.gh.checkRuns.at(-1).conclusion).toBe('success');
  }, 120_000);

  it('a fork pull request: no comment, no check, no failure; the report in the summary and the log says why', async () => {
    w.gh.clear();
    const head = pushCommit(w, 'forked', { 'gitml/experiments/train.yaml': TRAIN(0.1) }, main1);
    pullRef(w, 8, head);
    git(w.bare, 'update-ref', '-d', 'refs/heads/forked'); // the fork's branch lives in the fork; the base repo has refs/pull/8/head
    const ws = await checkout(w, main1);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 8, headSha: head, headRef: 'main', baseSha: main1, fork: 'stranger/demo' }), ref: 'refs/pull/8/merge', sha: head, inputs: { 'fail-on-regression': 'true' } });
    expect(r.code, r.stdout).toBe(0);
    expect(w.gh.requests).toEqual([]);
    expect(r.stdout).toContain('::notice::fork pull request: the token is read-only, so no comment and no check run were posted');
    expect(r.stdout).toMatch(/::warning title=gitml%3A train regressed::/);
    expect(r.summary).toContain('| **accuracy** (primary, maximize) | 0.8 | 0.1 |');
  }, 120_000);

  it('a token without checks: write: the check is skipped with a reason, the report is still in the summary', async () => {
    w.gh.clear();
    w.gh.deny('checks/create');
    const head = pushCommit(w, 'nochecks', { 'gitml/experiments/train.yaml': TRAIN(0.85) }, main1);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 9, headSha: head, headRef: 'nochecks', baseSha: main1 }), ref: 'refs/pull/9/merge', sha: head });
    expect(r.code, r.stdout).toBe(0);
    expect(w.gh.requests.map((q) => `${q.operationId} ${q.status}`)).toEqual(['issues/list-comments 200', 'issues/create-comment 201', 'checks/create 403']);
    expect(r.stdout).toContain('could not create the check run (GitHub answered 403): give the workflow `checks: write`');
    expect(r.summary).toContain('| 0.8 | 0.85 |');
  }, 120_000);

  it('invalid YAML in the pull request: annotations at the loader positions, a failed check, nothing run', async () => {
    w.gh.clear();
    const before = runCount(w);
    const head = pushCommit(w, 'broken', { 'gitml/experiments/train.yaml': 'kind: Experiment\ncommand: [python3\nparams: {\n' }, main1);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 10, headSha: head, headRef: 'broken', baseSha: main1 }), ref: 'refs/pull/10/merge', sha: head });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/::error file=gitml\/experiments\/train.yaml,line=\d+,col=\d+,title=gitml%3A invalid YAML::/);
    expect(JSON.parse(r.outputs['run-ids'])).toEqual([]);
    const check = w.gh.checkRuns.at(-1);
    expect(check.conclusion).toBe('failure');
    expect(check.output.annotations[0]).toMatchObject({ path: 'gitml/experiments/train.yaml', annotation_level: 'failure' });
    expect(w.gh.violations()).toEqual([]);
    expect(runCount(w)).toBe(before);
  }, 120_000);

  it('an experiment that fails at head: the check fails and says so', async () => {
    w.gh.clear();
    const head = pushCommit(w, 'failing', { 'gitml/experiments/train.yaml': TRAIN(-1) }, main1);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 11, headSha: head, headRef: 'failing', baseSha: main1 }), ref: 'refs/pull/11/merge', sha: head });
    expect(r.code).toBe(1);
    expect(w.gh.checkRuns.at(-1)).toMatchObject({ conclusion: 'failure', output: { title: 'gitml: a run failed at head' } });
    expect(w.gh.comments.at(-1)!.body).toContain('❌ head run failed');
  }, 120_000);

  it('GitHub 5xx and rate limits are retried with backoff, Retry-After honoured', async () => {
    w.gh.clear();
    w.gh.fail('issues/list-comments', { status: 502, body: { message: 'Server Error' } }, { status: 503, body: { message: 'Unavailable' } });
    w.gh.fail('issues/create-comment', { status: 403, headers: { 'retry-after': '1', 'x-ratelimit-remaining': '0' }, body: { message: 'API rate limit exceeded' } });
    const head = pushCommit(w, 'retry', { 'gitml/experiments/train.yaml': TRAIN(0.81) }, main1);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 12, headSha: head, headRef: 'retry', baseSha: main1 }), ref: 'refs/pull/12/merge', sha: head });
    expect(r.code, r.stdout).toBe(0);
    const q = w.gh.requests.map((x) => `${x.operationId} ${x.status}`);
    expect(q).toEqual(['issues/list-comments 502', 'issues/list-comments 503', 'issues/list-comments 200', 'issues/create-comment 403', 'issues/create-comment 201', 'checks/create 201']);
    const [limited, retried] = w.gh.requests.filter((x) => x.operationId === 'issues/create-comment');
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(950);
    expect(r.stdout).toContain('GitHub answered 403 to POST');
  }, 120_000);

  it('comment: new adds a comment each time; comment: off posts none and still creates the check', async () => {
    w.gh.clear();
    const head = pushCommit(w, 'modes', { 'gitml/experiments/train.yaml': TRAIN(0.82) }, main1);
    const ws = await checkout(w, head);
    const pr = prEvent({ number: 14, headSha: head, headRef: 'modes', baseSha: main1 });
    for (let i = 0; i < 2; i++) expect((await runBundle(w, { workspace: ws, eventName: 'pull_request', event: pr, ref: 'refs/pull/14/merge', sha: head, inputs: { comment: 'new' } })).code).toBe(0);
    expect(w.gh.comments.filter((c) => c.issue === 14)).toHaveLength(2);
    expect(w.gh.requests.filter((q) => q.operationId === 'issues/list-comments')).toEqual([]);
    w.gh.clear();
    const off = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: pr, ref: 'refs/pull/14/merge', sha: head, inputs: { comment: 'off' } });
    expect(off.code).toBe(0);
    expect(w.gh.requests.map((q) => q.operationId)).toEqual(['checks/create']);
    expect(w.gh.violations()).toEqual([]);
  }, 120_000);

  it('a report over the size limits is cut cleanly with a note, in the comment and the check', async () => {
    w.gh.clear();
    const many = `kind: Experiment
command: [python3, -c, "[print(f'::gitml metric name=metric_with_a_long_name_{i:05d} value={i}') for i in range(4000)]"]
metrics: { primary: metric_with_a_long_name_00000 }
triggers: {}
`;
    const base = pushCommit(w, 'main', { 'gitml/experiments/wide.yaml': many }, main1);
    const wsBase = await checkout(w, base);
    expect((await runBundle(w, { workspace: wsBase, eventName: 'push', event: pushEvent('refs/heads/main', main1, base), ref: 'refs/heads/main', sha: base })).code).toBe(0);
    const head = pushCommit(w, 'wide', { 'gitml/experiments/wide.yaml': many.replace('value={i}', 'value={i+1}') }, base);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 13, headSha: head, headRef: 'wide', baseSha: base }), ref: 'refs/pull/13/merge', sha: head, inputs: { experiments: 'wide' } });
    expect(r.code, r.stdout).toBe(0);
    expect(w.gh.violations()).toEqual([]);
    const body = w.gh.comments.at(-1)!.body;
    expect(body.length).toBeLessThanOrEqual(65_536);
    expect(body).toContain("Cut to fit GitHub's size limit");
    expect(Buffer.byteLength(w.gh.checkRuns.at(-1).output.summary)).toBeLessThanOrEqual(65_535);
    expect(r.summary.length).toBeGreaterThan(65_536); // the job summary holds the whole report
  }, 180_000);

  it('workflow_dispatch runs one experiment with the params given', async () => {
    const before = runCount(w);
    const e = webhookExample('workflow_dispatch');
    e.ref = 'refs/heads/main';
    e.inputs = { experiment: 'train', params: 'acc=0.42' };
    const sha = git(w.bare, 'rev-parse', 'refs/heads/main');
    const ws = await checkout(w, sha);
    const r = await runBundle(w, { workspace: ws, eventName: 'workflow_dispatch', event: e, ref: 'refs/heads/main', sha });
    expect(r.code, r.stdout).toBe(0);
    expect(runCount(w)).toBe(before + 1);
    const id = JSON.parse(r.outputs['run-ids'])[0];
    const file = git(w.bare, 'ls-tree', '-r', '--name-only', 'refs/heads/runs').split('\n').find((f) => f.includes(id) && f.endsWith('run.json'))!;
    expect(JSON.parse(git(w.bare, 'show', `refs/heads/runs:${file}`))).toMatchObject({ params: { acc: 0.42 }, metrics: { accuracy: 0.42 }, trigger: { kind: 'action', event: 'workflow_dispatch' } });
  }, 120_000);
});

describe('the bundled Action: concurrency, bases without runs, tags', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld(FILES);
  }, 60_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('a base with no runs yet: the report says "no base run"', async () => {
    const main1 = git(w.seed, 'rev-parse', 'HEAD');
    const head = pushCommit(w, 'first-pr', { 'gitml/experiments/train.yaml': TRAIN(0.5) }, main1);
    const ws = await checkout(w, head);
    const r = await runBundle(w, { workspace: ws, eventName: 'pull_request', event: prEvent({ number: 1, headSha: head, headRef: 'first-pr', baseSha: main1 }), ref: 'refs/pull/1/merge', sha: head, inputs: { 'fail-on-regression': 'true' } });
    expect(r.code, r.stdout).toBe(0);
    expect(w.gh.comments[0].body).toContain('**no base run**');
    expect(w.gh.checkRuns[0].conclusion).toBe('success');
  }, 120_000);

  it('two pushes at once: the second push of the runs branch is rejected, merged and retried; no run lost', async () => {
    const main1 = git(w.bare, 'rev-parse', 'refs/heads/main');
    const a = pushCommit(w, 'main', { 'gitml/experiments/train.yaml': TRAIN(0.7).replace('sleep: 0', 'sleep: 2') }, main1);
    const b = pushCommit(w, 'release', { 'gitml/experiments/train.yaml': TRAIN(0.71, '').replace('triggers: {}', 'triggers: { branches: [release] }').replace('sleep: 0', 'sleep: 2') }, main1);
    const [wa, wb] = await Promise.all([checkout(w, a), checkout(w, b)]);
    const [ra, rb] = await Promise.all([
      runBundle(w, { workspace: wa, eventName: 'push', event: pushEvent('refs/heads/main', main1, a), ref: 'refs/heads/main', sha: a }),
      runBundle(w, { workspace: wb, eventName: 'push', event: pushEvent('refs/heads/release', ZERO, b), ref: 'refs/heads/release', sha: b }),
    ]);
    expect(ra.code, ra.stdout).toBe(0);
    expect(rb.code, rb.stdout).toBe(0);
    expect(runCount(w)).toBe(2);
    expect(`${ra.stdout}\n${rb.stdout}`).toContain('merged runs recorded meanwhile');
  }, 120_000);

  it('a model tag with no service following it deploys nothing, and says so', async () => {
    const sha = git(w.bare, 'rev-parse', 'refs/heads/main');
    const ws = await checkout(w, sha);
    const r = await runBundle(w, { workspace: ws, eventName: 'push', event: pushEvent('refs/tags/iris@v1.0.0', ZERO, sha), ref: 'refs/tags/iris@v1.0.0', sha });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('no service follows model iris');
    const other = await runBundle(w, { workspace: ws, eventName: 'push', event: pushEvent('refs/tags/v1.2', ZERO, sha), ref: 'refs/tags/v1.2', sha });
    expect(other.stdout).toContain('is not a model version or stage assignment');
  }, 120_000);
});
