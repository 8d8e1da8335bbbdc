import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, GIT_ENV, git, gitml, removeDir, tmpDir } from '../support/repo.js';

type Ev = { event: string; [k: string]: unknown };
let dir: string;
beforeAll(() => {
  const parent = tmpDir();
  dir = path.join(parent, 'demo');
  const r = gitml(parent, ['init', dir, '--template', 'python']);
  if (r.code !== 0) throw new Error(r.stderr);
});
afterAll(() => removeDir(path.dirname(dir)));

function once(): { code: number; events: Ev[]; stderr: string } {
  const r = gitml(dir, ['daemon', '--once', '--json']);
  return { code: r.code, stderr: r.stderr, events: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) };
}
const named = (evs: Ev[], name: string) => evs.filter((e) => e.event === name);
function commit(files: Record<string, string>, msg: string, append = true): string {
  for (const [rel, text] of Object.entries(files)) (append ? appendFileSync : writeFileSync)(path.join(dir, rel), text);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', msg);
  return git(dir, 'rev-parse', 'HEAD');
}
const runs = () => (JSON.parse(gitml(dir, ["runs", "list", "--json"]).stdout) as { runs: unknown[] }).runs as Array<{ id: string; status: string; source: { commit: string; branch?: string }; trigger?: { kind: string; ref?: string } }>;

describe('gitml daemon --once on the python template', () => {
  it('the first pass records where the branches are and runs nothing', () => {
    const r = once();
    expect(r.code, r.stderr).toBe(0);
    expect(named(r.events, 'commit')).toEqual([expect.objectContaining({ branch: 'main', affected: [] })]);
    expect(named(r.events, 'run-started')).toEqual([]);
    expect(runs()).toEqual([]);
  });

  it('a commit touching src/ runs the experiment once, recorded on the runs branch for that commit', () => {
    const c = commit({ 'src/train.py': '\n# tweak\n' }, 'tweak training');
    const r = once();
    expect(r.code, r.stderr).toBe(0);
    expect(named(r.events, 'commit')[0]).toMatchObject({ branch: 'main', commit: c, baseKind: 'previous', affected: ['train'] });
    const fin = named(r.events, 'run-finished');
    expect(fin).toEqual([expect.objectContaining({ experiment: 'train', status: 'completed' })]);
    const rec = runs().find((x) => x.id === fin[0].runId)!;
    expect(rec.source.commit).toBe(c);
    expect(rec.source.branch).toBe('main');
    expect(rec.trigger).toMatchObject({ kind: 'daemon', ref: 'refs/heads/main' });
    const q = JSON.parse(gitml(dir, ['queue', 'list', '--json']).stdout);
    expect(q).toEqual([expect.objectContaining({ state: 'completed', runId: fin[0].runId, commit: c })]);

    // nothing new: nothing runs
    const again = once();
    expect(again.code).toBe(0);
    expect(named(again.events, 'run-started')).toEqual([]);
    expect(runs()).toHaveLength(1);
  });

  it('a branch its triggers do not name runs nothing; gitml\'s own runs branch is never scanned', () => {
    git(dir, 'checkout', '-q', '-b', 'feature');
    commit({ 'src/train.py': '\n# on a feature branch\n' }, 'feature work');
    git(dir, 'checkout', '-q', 'main');
    const r = once();
    expect(r.code).toBe(0);
    expect(named(r.events, 'commit').map((e) => e.branch)).toEqual(['feature']);
    expect(named(r.events, 'commit')[0]).toMatchObject({ baseKind: 'merge-base', affected: [] });
    expect(named(r.events, 'run-started')).toEqual([]);
  });

  it('invalid gitml YAML is a failed trigger with the problems; the daemon goes on and runs the fix', () => {
    const bad = commit({ 'gitml/experiments/train.yaml': 'oops: [\n' }, 'break the yaml');
    const r = once();
    expect(r.code, r.stderr).toBe(0);
    const inv = named(r.events, 'trigger-invalid');
    expect(inv).toEqual([expect.objectContaining({ branch: 'main', commit: bad })]);
    expect((inv[0].problems as Array<{ code: string; file: string }>).map((p) => p.file)).toContain('gitml/experiments/train.yaml');
    git(dir, 'revert', '--no-edit', 'HEAD');
    const fix = once();
    expect(named(fix.events, 'run-finished')).toEqual([expect.objectContaining({ status: 'completed' })]);
  });

  it('a run that fails is an event and a failed entry, not a daemon failure', () => {
    const c = commit({ 'src/train.py': '\nraise SystemExit(3)\n' }, 'break training');
    const r = once();
    expect(r.code, r.stderr).toBe(0);
    expect(named(r.events, 'run-finished')).toEqual([expect.objectContaining({ status: 'failed' })]);
    const q = JSON.parse(gitml(dir, ['queue', 'list', '--json']).stdout) as Array<{ commit: string; state: string }>;
    expect(q.find((e) => e.commit === c)?.state).toBe('failed');
    git(dir, 'revert', '--no-edit', 'HEAD');
  });

  it('a second daemon on the repository refuses (exit 3); SIGTERM stops the first with exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'daemon', '--json', '--interval', '1h'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
    let out = '';
    const started = new Promise<void>((resolve) => child.stdout.on('data', (b) => ((out += b), out.includes('"event":"stop"') || out.includes('"run-finished"') || out.includes('"commit"') ? resolve() : undefined)));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await started; // its first pass runs the reverted commit's experiment
    const second = gitml(dir, ['daemon', '--once', '--json']);
    expect(second.code).toBe(3);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('"event":"stop"');
    // the lock is released: the next daemon starts
    expect(once().code).toBe(0);
  }, 120_000);

  it('a daemon SIGKILLed mid-run: the next one settles the entry as lost and runs it again, once', async () => {
    once(); // whatever earlier commits left is processed first
    const c = commit({ 'src/train.py': '\nimport time\ntime.sleep(4)\n' }, 'slow training');
    const child = spawn(process.execPath, [BIN, 'daemon', '--once', '--json'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (b) => ((out += b), out.includes('"run-started"') || out.includes('"stop"') ? resolve() : undefined)));
    expect(out).toContain('"run-started"');
    const exited = new Promise((resolve) => child.on('close', resolve));
    child.kill('SIGKILL');
    await exited;
    const q1 = JSON.parse(gitml(dir, ['queue', 'list', '--json']).stdout) as Array<{ commit: string; state: string }>;
    expect(q1.find((e) => e.commit === c)?.state).toBe('running');
    const r = once();
    expect(r.code, r.stderr).toBe(0);
    expect(named(r.events, 'requeued')).toEqual([expect.objectContaining({ experiment: 'train' })]);
    expect(named(r.events, 'run-started')).toEqual([expect.objectContaining({ attempt: 2 })]);
    expect(named(r.events, 'run-finished')).toEqual([expect.objectContaining({ status: 'completed' })]);
    const q2 = JSON.parse(gitml(dir, ['queue', 'list', '--json']).stdout) as Array<{ commit: string; state: string; lost: number; attempts: number }>;
    expect(q2.find((e) => e.commit === c)).toMatchObject({ state: 'completed', lost: 1, attempts: 2 });
    // and it is not run a third time
    expect(named(once().events, 'run-started')).toEqual([]);
  }, 120_000);

  it('gitml queue cancel on a running entry stops its run, recorded canceled', async () => {
    once();
    const c = commit({ 'src/train.py': '\nimport time\ntime.sleep(20)\n' }, 'very slow training');
    const child = spawn(process.execPath, [BIN, 'daemon', '--once', '--json'], { cwd: dir, env: { ...process.env, ...GIT_ENV, NO_COLOR: '1' } });
    let out = '';
    const exited = new Promise((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) => child.stdout.on('data', (b) => ((out += b), out.includes('"run-started"') || out.includes('"stop"') ? resolve() : undefined)));
    const id = (JSON.parse(out.split('\n').find((l) => l.includes('"run-started"'))!) as { id: string }).id;
    const t0 = Date.now();
    const cancel = gitml(dir, ['queue', 'cancel', id, '--json']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout).outcome).toBe('requested');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000); // not the 20 s of the run
    const fin = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev).find((e) => e.event === 'run-finished');
    expect(fin).toMatchObject({ id, status: 'canceled' });
    const q = JSON.parse(gitml(dir, ['queue', 'list', '--json']).stdout) as Array<{ id: string; commit: string; state: string }>;
    expect(q.find((e) => e.id === id)).toMatchObject({ commit: c, state: 'canceled' });
    git(dir, 'revert', '--no-edit', 'HEAD');
  }, 120_000);
});
