/**
 * The ink app driven with ink-testing-library on real repositories: open, sort, filter (with an
 * inline error), open a run, its log and a search in it, compare two marked runs, the help
 * overlay, the models and services views, live reload keeping the cursor, resize and "too
 * small", NO_COLOR, and the faults the issue lists (no runs, a malformed record, 100,000
 * metric points, control characters).
 */
// Colours on for ink's chalk before it loads, so that NO_COLOR is what turns them off.
process.env.FORCE_COLOR = '3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import React from 'react';
import { execFileSync } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { closeRunStore } from '../../core/runs/store.js';
import { COMMANDS } from '../../cli/ui/keys.js';
import { makeRepo, removeDir } from '../support/repo.js';
import { record } from '../registry/fixtures.js';
import { lossSeries, makeDemo, record1, type Demo } from './fixture.js';

const { render } = await import('ink-testing-library');
const { App } = await import('../../cli/ui/app.js');

const KEY = { enter: '\r', esc: '\u001b', tab: '\t', down: '\u001b[B', up: '\u001b[A' };

type Rendered = ReturnType<typeof render>;
const text = (r: Rendered) => stripVTControlCharacters(r.lastFrame() ?? '');

async function until(r: Rendered, pred: (frame: string) => boolean, what: string, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const f = text(r);
    if (pred(f)) return f;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last frame:\n${f}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}
const has = (s: string) => (f: string) => f.includes(s);

async function press(r: Rendered, ...keys: string[]): Promise<void> {
  for (const k of keys) {
    r.stdin.write(k);
    await new Promise((res) => setTimeout(res, 40));
  }
}

/** A terminal of `columns` x `rows` (ink-testing-library's stdout is 100 wide, with no height). */
function resize(r: Rendered, columns: number, rows: number): void {
  Object.defineProperty(r.stdout, 'columns', { configurable: true, get: () => columns });
  Object.defineProperty(r.stdout, 'rows', { configurable: true, get: () => rows });
  r.stdout.emit('resize');
}

function open(dir: string, props: Partial<React.ComponentProps<typeof App>> = {}): Rendered {
  return render(<App dir={dir} pollMs={0} env={{}} {...props} />);
}

let demo: Demo;
beforeAll(async () => {
  demo = await makeDemo();
});
afterAll(() => {
  closeRunStore();
  removeDir(demo.dir);
});

describe('gitml ui on the demo repository', () => {
  test('the best run by the primary metric comes first; sort cycles; filter narrows, a typo is shown inline', async () => {
    const r = open(demo.dir);
    try {
      let f = await until(r, has('sort metrics.accuracy desc'), 'the runs table');
      const rows = f.split('\n').filter((l) => /^[› ][* ]01/.test(l));
      expect(rows[0]).toContain(demo.best.id.slice(0, 14));
      expect(rows[0].startsWith('›')).toBe(true);
      expect(f).toContain('★ACCURACY');
      // s: the sorted column ascending, then the next column; S reverses.
      await press(r, 's');
      f = await until(r, has('sort metrics.accuracy asc'), 'ascending accuracy');
      expect(f.split('\n').find((l) => l.startsWith('›'))).toContain(demo.runs[0].id.slice(0, 14));
      await press(r, 's');
      await until(r, has('sort metrics.loss desc'), 'the next column');
      await press(r, 'S');
      await until(r, has('sort metrics.loss asc'), 'reversed sort');
      await press(r, '/', 'f', 'a', 'i', 'l', 'e', 'd');
      f = await until(r, (x) => x.includes('1/1 runs (of 4)'), 'the filtered table');
      expect(f).toContain(demo.runs[2].id.slice(0, 14));
      // Keys typed into the prompt are text, not commands ('q' does not quit).
      await press(r, '\u007f', '\u007f', '\u007f', '\u007f', '\u007f', '\u007f');
      await press(r, ...'metrics.acuracy>0.9 q');
      f = await until(r, has('✗ no run has metrics.acuracy'), 'the inline error');
      expect(f).toContain('did you mean metrics.accuracy');
      expect(f).toContain('(of 4)');
    } finally {
      r.unmount();
    }
  });

  test('open a run: lineage, params, a chart per series, artifacts and the model version made from it; its log; search', async () => {
    const r = open(demo.dir);
    try {
      await until(r, has('sort metrics.accuracy desc'), 'the runs table');
      resize(r, 100, 50);
      await press(r, KEY.enter);
      let f = await until(r, has('loss (20 points)'), 'the run detail');
      expect(f).toContain(`Run ${demo.best.id}`);
      expect(f).toContain('experiment   train');
      expect(f).toContain('input iris   data/iris.csv');
      expect(f).toMatch(/C\s+10/);
      expect(f).toContain('loss (20 points)');
      expect(f).toMatch(/┤[▁▂▃▄▅▆▇█]+/);
      await press(r, 'G');
      f = await until(r, has('MODEL VERSIONS'), 'the end of the detail');
      expect(f).toContain('iris@v0.0.1  (staging)');
      expect(f).toMatch(/model\.pkl\s+\d+ B\s+inline/);
      await press(r, 'l');
      f = await until(r, has('epoch 2 loss=0.2'), 'the log');
      expect(f).toContain(`Log of ${demo.best.id}`);
      expect(f).toContain('lines 1-4 of 4');
      await press(r, '/', ...'done', KEY.enter);
      await until(r, has('match at line 4'), 'the search result');
      await press(r, '/', ...'absent', KEY.enter);
      await until(r, has('not found: absent'), 'a search that finds nothing');
      await press(r, KEY.esc);
      await until(r, has(`Run ${demo.best.id}`), 'back to the detail');
      await press(r, KEY.esc);
      await until(r, has('sort metrics.accuracy desc'), 'back to the table');
    } finally {
      r.unmount();
    }
  });

  test('mark two runs with space and compare: differing params marked, deltas, the series overlaid', async () => {
    const r = open(demo.dir);
    try {
      await until(r, has('sort metrics.accuracy desc'), 'the runs table');
      await press(r, KEY.esc); // no-op in the table
      await press(r, 'c');
      await until(r, has('mark two or more runs'), 'the hint when nothing is marked');
      await press(r, ' ', ' ');
      await until(r, has('2 marked'), 'two marks');
      await press(r, 'c');
      const f = await until(r, has('loss over steps'), 'the compare view');
      expect(f).toContain('Compare 2 runs');
      expect(f).toMatch(/\* kernel\s+rbf\s+linear/);
      expect(f).toMatch(/ {2}C\s+10\s+10/);
      expect(f).toMatch(/accuracy\s+0\.97\s+0\.93 -0\.04/);
      expect(f).toContain('loss over steps');
      expect(f).toMatch(/┤.*[●○]/);
    } finally {
      r.unmount();
    }
  });

  test('? lists every key of the command map; tab goes to models and services', async () => {
    const r = open(demo.dir);
    try {
      await until(r, has('sort metrics.accuracy desc'), 'the runs table');
      resize(r, 100, 40);
      await press(r, '?');
      const f = await until(r, has('Keys (any key closes this help)'), 'the help overlay');
      for (const c of COMMANDS) expect(f, c.id).toContain(c.help);
      await press(r, 'x');
      await until(r, has('sort metrics.accuracy desc'), 'help closed');
      await press(r, KEY.tab);
      const m = await until(r, has('STAGE HISTORY'), 'the models view');
      expect(m).toMatch(/iris\s+v0\.0\.1\s+-\s+v0\.0\.1\s+-/);
      expect(m).toMatch(/test@example\.com\s+staging ← v0\.0\.1/);
      expect(m).toContain(`run          ${demo.best.id}`);
      await press(r, KEY.enter);
      await until(r, has(`Run ${demo.best.id}`), 'the run behind the version');
      await press(r, KEY.esc, KEY.tab);
      await until(r, has('No services deployed'), 'the services view');
    } finally {
      r.unmount();
    }
  });

  test('resize: 40x10 says too small, 80x24 draws again with the same cursor', async () => {
    const r = open(demo.dir);
    try {
      await until(r, has('sort metrics.accuracy desc'), 'the runs table');
      await press(r, KEY.down);
      resize(r, 40, 10);
      await until(r, has('Terminal too small (40x10)'), 'too small');
      resize(r, 80, 24);
      const f = await until(r, has('2/4 runs'), 'the table again');
      expect(f.split('\n').every((l) => l.length <= 80)).toBe(true);
      expect(f.split('\n').length).toBeLessThanOrEqual(24);
    } finally {
      r.unmount();
    }
  });

  test('NO_COLOR: no colour codes at all; without it, statuses are coloured', async () => {
    const coloured = open(demo.dir);
    const plain = open(demo.dir, { env: { NO_COLOR: '1' } });
    try {
      await until(coloured, has('sort metrics.accuracy desc'), 'the coloured table');
      await until(plain, has('sort metrics.accuracy desc'), 'the plain table');
      expect(coloured.lastFrame()).toMatch(/\u001b\[(3[0-7]|9[0-7]|2)m/);
      expect(plain.lastFrame()).not.toMatch(/\u001b\[(3[0-9]|9[0-7]|2)m/);
    } finally {
      coloured.unmount();
      plain.unmount();
    }
  });

  test('live: a run recorded while the UI is open appears, the cursor stays on its run', async () => {
    const r = open(demo.dir, { pollMs: 100 });
    try {
      await until(r, has('sort metrics.accuracy desc'), 'the runs table');
      await press(r, KEY.down);
      await until(r, has('2/4 runs'), 'cursor on the second run');
      const second = text(r).split('\n').find((l) => l.startsWith('›'))!;
      const fresh = record({ params: { C: 100, kernel: 'rbf' }, metrics: { accuracy: 0.99 } });
      await record1(demo.dir, fresh);
      const f = await until(r, has('/5 runs'), 'the new run');
      expect(f).toContain(fresh.id.slice(0, 14));
      // The better run sorts first; the cursor moved with its run, now third.
      expect(f).toContain('3/5 runs');
      expect(f.split('\n').find((l) => l.startsWith('›'))).toBe(second);
    } finally {
      r.unmount();
    }
  });
});

describe('faults', () => {
  test('a repository with no runs says what to do', async () => {
    const dir = makeRepo({ 'README.md': 'x' });
    const r = open(dir);
    try {
      await until(r, has('No runs recorded yet'), 'the empty state');
      await press(r, KEY.tab);
      await until(r, has('No models yet'), 'no models');
    } finally {
      r.unmount();
      removeDir(dir);
    }
  });

  test('a malformed record is named, the other runs stay usable', async () => {
    const dir = makeRepo({ 'README.md': 'x' });
    try {
      const good = record();
      await record1(dir, good);
      const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e', GIT_INDEX_FILE: `${dir}/.git/ui-index` };
      const run = (args: string[], input?: string) => execFileSync('git', args, { cwd: dir, env, input, encoding: 'utf8' }).trim();
      const tip = run(['rev-parse', 'runs']);
      run(['read-tree', 'runs^{tree}']);
      const blob = run(['hash-object', '-w', '--stdin'], '{"schema": 1, "id": ');
      const { runFolder } = await import('../../core/runs/layout.js');
      const folder = runFolder('train', record().id);
      run(['update-index', '--add', '--cacheinfo', `100644,${blob},${folder}/run.json`]);
      run(['update-ref', 'refs/heads/runs', run(['commit-tree', run(['write-tree']), '-p', tip, '-m', 'bad']), tip]);
      const r = open(dir);
      try {
        const f = await until(r, has('1 malformed record'), 'the problem named');
        expect(f).toContain(folder.slice(0, 30));
        expect(f).toContain('1/1 runs');
        await press(r, KEY.enter);
        await until(r, has(`run          ${good.id}`), 'the good run opens');
      } finally {
        r.unmount();
      }
    } finally {
      removeDir(dir);
    }
  });

  test('100,000 metric points are downsampled; control characters in the record are shown escaped', async () => {
    const dir = makeRepo({ 'README.md': 'x' });
    try {
      const big = record({ params: { note: 'evil\u001b]52;c;eA==\u0007\u001b[2Jend' } });
      await record1(dir, big, { metrics: lossSeries(100_000), logs: 'clear\u001b[2J\u001b]8;;http://x\u0007link\n' });
      const r = open(dir);
      try {
        await until(r, has('1/1 runs'), 'the table');
        await press(r, KEY.enter);
        const f = await until(r, has('loss (100000 points, one column per bucket'), 'the detail');
        expect(r.lastFrame()).not.toContain('\u001b]52');
        expect(r.lastFrame()).not.toContain('\u001b[2J');
        expect(f).toContain('evil\\x1b]52;c;eA==\\x07');
        await press(r, 'l');
        const l = await until(r, has('lines 1-1 of 1'), 'the log');
        expect(r.lastFrame()).not.toContain('\u001b]8');
        expect(l).toContain('link');
      } finally {
        r.unmount();
      }
    } finally {
      removeDir(dir);
    }
  });
});
