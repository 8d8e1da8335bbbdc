/**
 * The real `gitml ui` program: refusals without a terminal or outside a repository (exit codes,
 * one line, no stack trace), and a session in tmux on a real repository: open, filter, open a
 * run, its log, compare two runs, help, resize, quit.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT } from '../../core/errors.js';
import { closeRunStore } from '../../core/runs/store.js';
import { BIN, gitml, removeDir, tmpDir } from '../support/repo.js';
import { makeDemo, type Demo } from './fixture.js';

let demo: Demo;
beforeAll(async () => {
  demo = await makeDemo();
});
afterAll(() => {
  closeRunStore();
  removeDir(demo.dir);
});

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at /m);

test('without a terminal: a usage error, no stack trace', () => {
  const r = gitml(demo.dir, ['ui']);
  expect(r.code).toBe(EXIT.USAGE);
  expect(r.stderr).toMatch(/^error: gitml ui needs a terminal/);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  noStack(r.stderr);
});

test('outside a git repository: a clear error before anything is drawn', () => {
  const dir = tmpDir();
  try {
    const r = gitml(dir, ['ui']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not inside a git repository/);
    noStack(r.stderr);
  } finally {
    removeDir(dir);
  }
});

test('a bad --poll is a usage error', () => {
  expect(gitml(demo.dir, ['ui', '--poll', 'soon']).code).toBe(EXIT.USAGE);
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

test.runIf(hasTmux)('in tmux: open, filter, open a run and its log, compare, help, resize, quit', async () => {
  const session = `gitml-ui-test-${process.pid}`;
  const out = tmpDir('gitml-ui-tmux-');
  const exitFile = path.join(out, 'exit');
  const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const until = async (pred: (s: string) => boolean, what: string, ms = 30_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const s = screen();
      if (pred(s)) return s;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // One key per send-keys and a pause between: keys sent together reach the program as one chunk.
  const keys = async (...k: string[]) => {
    for (const x of k) {
      tmux('send-keys', '-t', session, x);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const type = (s: string) => tmux('send-keys', '-t', session, '-l', s);
  // CI=true as on a CI runner: ink would draw nothing until exit if it believed it ran in CI.
  const cmd = `cd '${demo.dir}' && CI=true NO_COLOR=1 '${process.execPath}' '${BIN}' ui --poll 0.5; echo $? > '${exitFile}'`;
  tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', cmd);
  try {
    let s = await until((x) => x.includes('sort metrics.accuracy desc'), 'the runs table');
    expect(s.split('\n').find((l) => l.startsWith('›'))).toContain(demo.best.id.slice(0, 14));
    await keys('/');
    type('params.kernel=rbf');
    await keys('Enter');
    s = await until((x) => x.includes('2/2 runs (of 4)') || x.includes('1/2 runs (of 4)'), 'the filtered table');
    await keys('Enter');
    s = await until((x) => x.includes('experiment   train'), 'the run detail');
    expect(s).toContain(`Run ${demo.best.id}`);
    await keys('l');
    s = await until((x) => x.includes('epoch 2 loss=0.2'), 'the log');
    await keys('Escape');
    await until((x) => x.includes(`Run ${demo.best.id}`), 'back to the detail');
    await keys('Escape');
    await until((x) => x.includes('sort metrics.accuracy desc'), 'back to the table');
    await keys('Space', 'Space', 'c');
    s = await until((x) => x.includes('PARAMS (differences marked *)'), 'the compare view');
    expect(s).toMatch(/ {2}kernel\s+rbf\s+rbf/);
    expect(s).toMatch(/\* C\s+10\s+1/);
    await keys('Escape', '?');
    await until((x) => x.includes('Keys (any key closes this help)'), 'the help overlay');
    await keys('x');
    tmux('resize-window', '-t', session, '-x', '40', '-y', '10');
    await until((x) => x.includes('Terminal too small'), 'too small');
    tmux('resize-window', '-t', session, '-x', '90', '-y', '30');
    await until((x) => x.includes('sort metrics.accuracy desc'), 'redrawn after resize');
    await keys('q');
    const end = Date.now() + 15_000;
    while (!existsSync(exitFile) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0');
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session]);
    removeDir(out);
  }
});
