/**
 * The UI's view-models against real repositories (runs recorded by recordRun, registry tags
 * written by registerModel/promoteModel, status files by writeStatus), no terminal.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeStatus } from '../../core/status/branch.js';
import { closeRunStore } from '../../core/runs/store.js';
import { allRows, applyFilter, cellText, columnsFor, followCursor, loadRuns, narrows, nextSort, parseFilter, sortRuns, tablePrimary, tableView, windowStart, type FilterMemo, type RunsData } from '../../cli/ui/model/runs.js';
import { lineageRows, loadRunDetail } from '../../cli/ui/model/detail.js';
import { historyLines, loadModel, loadRegistry } from '../../cli/ui/model/registry.js';
import { loadCompare } from '../../cli/ui/model/compare.js';
import { loadServices } from '../../cli/ui/model/services.js';
import { chart, downsample, overlay } from '../../cli/ui/model/chart.js';
import { LogPager } from '../../cli/ui/model/pager.js';
import { refsSignature } from '../../cli/ui/model/watch.js';
import { isGitmlError } from '../../core/errors.js';
import { makeRepo, removeDir } from '../support/repo.js';
import { record } from '../registry/fixtures.js';
import { makeDemo, record1, type Demo } from './fixture.js';

let demo: Demo;
beforeAll(async () => {
  demo = await makeDemo();
});
afterAll(() => {
  closeRunStore();
  removeDir(demo.dir);
});

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isGitmlError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe('runs table', () => {
  const ids = (data: RunsData, rows: number[]) => rows.map((p) => data.table.id(p));

  test('loads every run with the primary metric of the experiment, best first by default', async () => {
    const data = await loadRuns({ dir: demo.dir });
    expect(data.table.n).toBe(4);
    // Newest first, as `gitml runs` lists them.
    expect(ids(data, allRows(data))).toEqual([...demo.runs].reverse().map((r) => r.id));
    expect(data.primaries.train).toEqual({ name: 'accuracy', goal: 'maximize' });
    const primary = tablePrimary(data);
    expect(primary?.name).toBe('accuracy');
    const v = tableView(data, '', { key: 'metrics.accuracy', desc: true });
    expect(data.table.id(v.rows[0])).toBe(demo.best.id);
    const cols = columnsFor(data, { width: 120, primary });
    // The primary metric comes right after the fixed columns.
    expect(cols.map((c) => c.key).slice(0, 6)).toEqual(['id', 'experiment', 'status', 'startedAt', 'durationMs', 'metrics.accuracy']);
    expect(cols.map((c) => c.key)).toEqual(expect.arrayContaining(['params.C', 'params.kernel']));
    // Names most common first: C and kernel are on three runs, depth on one.
    expect(data.paramNames).toEqual(['C', 'kernel', 'depth']);
    // Narrow terminals drop columns rather than squeeze them.
    const narrow = columnsFor(data, { width: 50, primary });
    expect(narrow.reduce((n, c) => n + c.width + 1, -1)).toBeLessThanOrEqual(50);
    // Cells from the index columns; the full record only when asked for.
    const best = data.table.positionOf(demo.best.id);
    expect(cellText(data.table, best, { key: 'metrics.accuracy', title: 'A', width: 8, align: 'right' })).toBe('    0.97');
    expect(cellText(data.table, best, { key: 'params.kernel', title: 'K', width: 6, align: 'left' })).toBe('rbf   ');
    expect(data.table.records([best])[0]).toMatchObject({ id: demo.best.id, inputs: demo.best.inputs });
  });

  test('--experiment narrows the runs and picks that experiment primary metric', async () => {
    const data = await loadRuns({ dir: demo.dir, experiment: 'other' });
    expect(ids(data, allRows(data))).toEqual([demo.runs[3].id]);
    expect(data.recorded).toBe(4);
    expect(tablePrimary(data, 'other')).toBeUndefined();
  });

  test('filter: the --where grammar plus bare words; errors inline, the last rows kept', async () => {
    const data = await loadRuns({ dir: demo.dir });
    expect(ids(data, tableView(data, 'metrics.accuracy>0.92', undefined).rows).sort()).toEqual([demo.runs[1].id, demo.runs[2].id].sort());
    expect(ids(data, tableView(data, 'params.kernel=rbf metrics.accuracy>0.92', undefined).rows)).toEqual([demo.runs[1].id]);
    expect(ids(data, tableView(data, 'failed', undefined).rows)).toEqual([demo.runs[2].id]);
    expect(ids(data, tableView(data, 'OTHER', undefined).rows)).toEqual([demo.runs[3].id]);
    expect(ids(data, tableView(data, demo.runs[0].id.slice(3, 12).toUpperCase(), undefined).rows)).toEqual([demo.runs[0].id]);
    // A key the index has no column for is answered from the records.
    expect(tableView(data, 'inputs.iris!=x', undefined).rows).toHaveLength(4);
    expect(tableView(data, 'inputs.iris=x', undefined).rows).toHaveLength(0);
    const prev = allRows(data).slice(0, 2);
    const half = tableView(data, 'metrics.accuracy>', undefined, prev);
    expect(half.error?.code).toBe('USAGE');
    expect(half.rows).toBe(prev);
    const typo = tableView(data, 'metrics.acuracy>0.9', undefined, prev);
    expect(typo.error?.code).toBe('USAGE');
    expect(typo.error?.message).toContain('did you mean metrics.accuracy?');
    expect(codeOf(() => parseFilter('metrics.accuracy>high', data))).toBe('USAGE');
    const all = allRows(data);
    expect(applyFilter(data, all, parseFilter('', data))).toBe(all);
  });

  test('a filter typed on from the last good one filters its rows only, with the same answer', async () => {
    const data = await loadRuns({ dir: demo.dir });
    const f = (t: string) => parseFilter(t, data);
    expect(narrows(f('rb metrics.accuracy>0.92'), f('metrics.accuracy>0.9'))).toBe(true);
    expect(narrows(f('train'), f('tra'))).toBe(true);
    expect(narrows(f('tra'), f('train'))).toBe(false);
    expect(narrows(f('metrics.accuracy>0.9'), f('metrics.accuracy>0.92'))).toBe(false);
    expect(narrows(f('metrics.accuracy<0.9'), f('failed'))).toBe(false);
    const sorted = sortRuns(data, { key: 'metrics.accuracy', desc: true });
    const memo: { current?: FilterMemo } = {};
    // How many rows each filter looked at.
    const looked: number[] = [];
    const filter = data.table.filter.bind(data.table);
    data.table.filter = (rows, tests) => (looked.push(rows.length), filter(rows, tests));
    const typed = 'metrics.accuracy>0.92 params.kernel=rbf';
    let prev: number[] | undefined;
    for (let i = 1; i <= typed.length; i++) {
      const text = typed.slice(0, i);
      const before = memo.current;
      const v = tableView(data, text, undefined, prev, sorted, memo);
      if (!v.error) prev = v.rows;
      // Every step answers as the same filter from scratch.
      expect({ text, rows: v.rows }).toEqual({ text, rows: v.error ? v.rows : tableView(data, text, undefined, undefined, sorted).rows });
      if (text === 'metrics.accuracy>0.92 p') {
        // From the last good rows (two runs above 0.92), not every run.
        expect(before?.rows).toHaveLength(2);
        expect(looked.at(-2)).toBe(2);
      }
      // `>0.9` after `>0.` (above 0): the three runs with an accuracy, not the fourth.
      if (text === 'metrics.accuracy>0.9') expect(looked.at(-2)).toBe(3);
      // The first condition after the bare word `metrics.accuracy`: every run.
      if (text === 'metrics.accuracy>0') expect(looked.at(-2)).toBe(4);
    }
    expect(ids(data, prev!)).toEqual([demo.runs[1].id]);
    // A memo of another sort is not used.
    const other = sortRuns(data, { key: 'id', desc: false });
    expect(ids(data, tableView(data, 'metrics.accuracy>0.92', undefined, undefined, other, memo).rows)).toEqual([demo.runs[1].id, demo.runs[2].id]);
  });

  test('sort cycles over the columns, descending then ascending; missing values last', async () => {
    const data = await loadRuns({ dir: demo.dir });
    const cols = columnsFor(data, { width: 120, primary: tablePrimary(data) });
    const s1 = nextSort(cols, undefined);
    expect(s1).toEqual({ key: 'id', desc: true });
    expect(nextSort(cols, s1)).toEqual({ key: 'id', desc: false });
    expect(nextSort(cols, { key: 'id', desc: false })).toEqual({ key: 'experiment', desc: true });
    const asc = sortRuns(data, { key: 'metrics.accuracy', desc: false });
    expect(asc.map((p) => data.table.value(p, 'metrics.accuracy'))).toEqual([0.91, 0.93, 0.97, undefined]);
    expect(ids(data, sortRuns(data, { key: 'params.kernel', desc: false }))).toEqual([demo.runs[2].id, demo.runs[1].id, demo.runs[0].id, demo.runs[3].id]);
  });

  test('window follows the cursor and the cursor follows its run', async () => {
    expect(windowStart(100_000, 0, 20)).toBe(0);
    expect(windowStart(100_000, 25, 20, 0)).toBe(6);
    expect(windowStart(100_000, 10, 20, 6)).toBe(6);
    expect(windowStart(100_000, 3, 20, 6)).toBe(3);
    expect(windowStart(10, 9, 20, 5)).toBe(0);
    const data = await loadRuns({ dir: demo.dir });
    const rows = allRows(data).slice(1);
    expect(followCursor(data, rows, data.table.id(rows[2]), 0)).toBe(2);
    expect(followCursor(data, rows, 'gone', 7)).toBe(2);
    // Its run filtered out: the cursor stays where it was, clamped.
    expect(followCursor(data, rows, data.table.id(allRows(data)[0]), 1)).toBe(1);
  });

  test('a repository with no runs loads as empty; a malformed record is a problem, the rest usable; control characters shown escaped', async () => {
    const empty = makeRepo({ 'README.md': 'x' });
    try {
      const d = await loadRuns({ dir: empty });
      expect(d.table.n).toBe(0);
      expect(d.recorded).toBe(0);
      expect(tableView(d, 'failed metrics.x>1', undefined).rows).toEqual([]);
    } finally {
      removeDir(empty);
    }
    const dir = makeRepo({ 'README.md': 'x' });
    try {
      const good = record({ params: { note: 'a\u001b]52;c;eA==\u0007b\nc' } });
      await record1(dir, good);
      // A run.json that is not JSON, committed on the branch with plain git.
      const badId = record().id;
      const tip = execFileSync('git', ['rev-parse', 'runs'], { cwd: dir, encoding: 'utf8' }).trim();
      const tree = execFileSync('git', ['rev-parse', 'runs^{tree}'], { cwd: dir, encoding: 'utf8' }).trim();
      execFileSync('git', ['read-tree', '--index-output=' + dir + '/.git/ui-index', tree], { cwd: dir });
      const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: dir, input: '{not json', encoding: 'utf8' }).trim();
      const folder = (await import('../../core/runs/layout.js')).runFolder('train', badId);
      execFileSync('git', ['update-index', '--add', '--cacheinfo', `100644,${blob},${folder}/run.json`], { cwd: dir, env: { ...process.env, GIT_INDEX_FILE: dir + '/.git/ui-index' } });
      const newTree = execFileSync('git', ['write-tree'], { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_INDEX_FILE: dir + '/.git/ui-index' } }).trim();
      const commit = execFileSync('git', ['commit-tree', newTree, '-p', tip, '-m', 'bad'], { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e' } }).trim();
      execFileSync('git', ['update-ref', 'refs/heads/runs', commit, tip], { cwd: dir });
      const d = await loadRuns({ dir });
      expect(ids(d, allRows(d))).toEqual([good.id]);
      expect(d.problems.map((p) => p.path)).toEqual([`${folder}`]);
      const text = cellText(d.table, 0, { key: 'params.note', title: 'NOTE', width: 40, align: 'left' });
      expect(text).not.toMatch(/[\u0000-\u001f]/);
      expect(text).toContain('\\x1b');
      expect(text).toContain('\\n');
    } finally {
      removeDir(dir);
    }
  });
});

describe('run detail, compare, registry, services', () => {
  test('detail: lineage, series, and the registry version made from the run', async () => {
    const { state } = await loadRegistry(demo.dir);
    const d = await loadRunDetail({ dir: demo.dir, id: demo.best.id.slice(0, 12), registry: state });
    expect(d.record.id).toBe(demo.best.id);
    expect(d.series.loss).toHaveLength(20);
    expect(d.sourceSubject).toBe('');
    expect(d.versions).toEqual([{ model: 'iris', version: 'v0.0.1', stages: ['staging'], active: true }]);
    const rows = Object.fromEntries(lineageRows(d));
    expect(rows.branch).toBe('main');
    expect(rows['input iris']).toContain('data/iris.csv');
    expect(rows['recorded in']).toBe(d.commit.slice(0, 12));
    const other = await loadRunDetail({ dir: demo.dir, id: demo.runs[0].id, registry: state });
    expect(other.versions).toEqual([]);
  });

  test('compare: param differences, metric deltas, one metric overlaid', async () => {
    const c = await loadCompare({ dir: demo.dir, ids: [demo.runs[0].id, demo.runs[1].id], metric: 'loss' });
    expect(c.params.find((p) => p.name === 'C')?.differs).toBe(true);
    expect(c.params.find((p) => p.name === 'kernel')?.differs).toBe(false);
    expect(c.metrics.find((m) => m.name === 'accuracy')?.deltas[1]).toBeCloseTo(0.06, 10);
    expect(c.metric).toBe("loss");
    expect(c.seriesNames).toEqual(["loss"]);
    expect(c.series.map((s) => s.length)).toEqual([20, 20]);
  });

  test('models: versions, stages and the stage history with who and when', async () => {
    const { list } = await loadRegistry(demo.dir);
    expect(list.models.find((m) => m.name === 'iris')?.stages.staging).toBe('v0.0.1');
    const m = await loadModel(demo.dir, 'iris');
    expect(m.selected?.lineage?.run).toBe(demo.best.id);
    const h = historyLines(m);
    expect(h.map((x) => x.what)).toEqual(['registered v0.0.1', 'staging ← v0.0.1']);
    expect(h[0].by).toBe('test@example.com');
  });

  test('services: none deployed, then status and drift from the status branch', async () => {
    expect(await loadServices(demo.dir)).toEqual([]);
    const sig0 = await refsSignature(demo.dir, ['runs', 'gitml-status']);
    await writeStatus({
      dir: demo.dir,
      message: 'status iris-svc',
      files: {
        'services/iris-svc/status.json': JSON.stringify({ desired: { version: 'v0.0.1' }, running: { version: 'v0.0.1' }, conditions: [{ type: 'Ready', status: 'True', reason: 'Applied' }] }),
        'monitor/iris-svc/latest.json': JSON.stringify({ id: 'abc', drifted: true, driftedColumns: ['petal_length'] }),
        'services/broken/status.json': '{oops',
      },
    });
    const rows = await loadServices(demo.dir);
    expect(rows.map((r) => r.name)).toEqual(['broken', 'iris-svc']);
    expect(rows[0].problem).toBeDefined();
    expect(rows[1]).toMatchObject({ desired: 'v0.0.1', running: 'v0.0.1', conditions: [{ type: 'Ready', status: 'True' }], drift: { drifted: true, columns: ['petal_length'] } });
    expect(await refsSignature(demo.dir, ['runs', 'gitml-status'])).not.toBe(sig0);
  });
});

describe('charts and the pager', () => {
  test('a 100,000-point series is reduced to the chart width, axes labelled', () => {
    const pts = Array.from({ length: 100_000 }, (_, i) => ({ step: i, value: Math.sin(i / 1000) }));
    const b = downsample(pts, 50);
    expect(b).toHaveLength(50);
    expect(b[0].from).toBe(0);
    expect(b[49].to).toBe(99_999);
    const lines = chart(pts, { width: 60, height: 6 });
    expect(lines).toHaveLength(8);
    expect(lines[0]).toMatch(/^\s*1 ┤/);
    expect(lines[5]).toMatch(/^\s*-1 ┤/);
    expect(lines[7]).toContain('99999');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(60 + 40);
    const o = overlay([pts.slice(0, 10), pts.slice(0, 10).map((p) => ({ ...p, value: -p.value }))], { width: 40, height: 5, marks: ['a', 'b'] });
    expect(o.join('\n')).toMatch(/a/);
    expect(o.join('\n')).toMatch(/b/);
    expect(chart([], { width: 10, height: 3 })).toEqual(['(no finite points)']);
  });

  test('the pager pages and searches without splitting the log; escapes shown', () => {
    const text = Array.from({ length: 200_000 }, (_, i) => `line ${i}${i === 150_000 ? ' NEEDLE \u001b]52;c;x\u0007' : ''}`).join('\n') + '\n';
    const p = new LogPager(text);
    expect(p.lineCount).toBe(200_000);
    expect(p.page(10, 2, 80)).toEqual(['line 10', 'line 11']);
    const hit = p.search('NEEDLE', 0);
    expect(hit).toBe(150_000);
    expect(p.search('NEEDLE', hit)).toBe(150_000);
    expect(p.search('NEEDLE', 160_000, true)).toBe(150_000);
    expect(p.search('absent', 0)).toBe(-1);
    expect(p.page(hit, 1, 200)[0]).not.toMatch(/[\u0000-\u001f]/);
    expect(new LogPager('').lineCount).toBe(0);
    expect(new LogPager('a\nb\n').page(0, 5, 80)).toEqual(['a', 'b']);
  });
});
