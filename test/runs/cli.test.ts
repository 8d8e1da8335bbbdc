import { afterAll, beforeAll, expect, test } from 'vitest';
import { closeRunStore, recordRun } from '../../core/runs/store.js';
import { gitml, makeRepo, removeDir, tmpDir } from '../support/repo.js';
import { rec } from './helpers.js';

// No background `git gc --auto` while tests run fsck and delete repositories.
process.env.GITML_AUTO_GC = '0';

let dir = '';
const ids: string[] = [];
beforeAll(async () => {
  dir = makeRepo({ 'README.md': '# p\n' });
  for (let i = 0; i < 3; i++) {
    const r = rec({ params: { C: i, kernel: 'rbf' }, metrics: {}, durationMs: 1500 * (i + 1), experiment: i === 2 ? 'tune' : 'train' });
    ids.push(r.id);
    await recordRun({
      dir,
      record: r,
      metrics: [0, 1, 2, 3].map((s) => ({ name: 'accuracy', value: 0.5 + i / 10 + s / 100, step: s, timestamp: 1_700_000_000_000 + s })),
      logs: `log of run ${i}\n`,
    });
  }
});
afterAll(() => {
  closeRunStore();
  removeDir(dir);
});

test('gitml runs lists a table, filters, sorts, limits and prints JSON', () => {
  const t = gitml(dir, ['runs']);
  expect(t.code, t.stderr).toBe(0);
  const lines = t.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^RUN\s+EXPERIMENT\s+STATUS\s+STARTED\s+DURATION\s+ACCURACY\s+PARAMS$/);
  expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([...ids].reverse());
  const j = gitml(dir, ['runs', '--experiment', 'train', '--where', 'metrics.accuracy>0.55', '--sort', '-metrics.accuracy', '--json']);
  expect(j.code, j.stderr).toBe(0);
  const parsed = JSON.parse(j.stdout);
  expect(parsed.runs.map((r: { id: string }) => r.id)).toEqual([ids[1]]);
  expect(parsed.problems).toEqual([]);
  const lim = JSON.parse(gitml(dir, ['runs', '--limit', '1', '--json']).stdout);
  expect(lim.runs).toHaveLength(1);
  expect(lim.total).toBe(3);
  expect(gitml(dir, ['runs', '--where', 'garbage']).code).toBe(2);
  expect(gitml(dir, ['runs', '--limit', 'many']).code).toBe(2);
  // -C from another folder
  const elsewhere = tmpDir();
  expect(JSON.parse(gitml(elsewhere, ['-C', dir, 'runs', '--json']).stdout).runs).toHaveLength(3);
  removeDir(elsewhere);
});

test('gitml runs show / compare / logs / metrics', () => {
  const show = gitml(dir, ['runs', 'show', ids[0].slice(0, 16)]);
  expect(show.code, show.stderr).toBe(0);
  expect(show.stdout).toMatch(new RegExp(`^run\\s+${ids[0]}$`, 'm'));
  expect(show.stdout).toMatch(/^accuracy\s+0\.53$/m);
  const sj = JSON.parse(gitml(dir, ['runs', 'show', ids[0], '--json']).stdout);
  expect(sj.id).toBe(ids[0]);
  expect(sj.commit).toMatch(/^[0-9a-f]{40}$/);
  const missing = gitml(dir, ['runs', 'show', '01jd3q6k2f7x9m1c4v8r2t5w0n']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^error: /);

  const cmp = JSON.parse(gitml(dir, ['runs', 'compare', ids[0], ids[1], '--json']).stdout);
  expect(cmp.metrics[0].name).toBe('accuracy');
  expect(cmp.metrics[0].deltas[1]).toBeCloseTo(0.1);
  const ct = gitml(dir, ['runs', 'compare', ids[0], ids[1]]);
  expect(ct.stdout).toMatch(/^\* params\.C\s+0\s+1$/m);
  expect(ct.stdout).toMatch(/metrics\.accuracy\s+0\.53\s+0\.63 \(\+0\.1\)/);
  expect(gitml(dir, ['runs', 'compare', ids[0]]).code).toBe(2);

  expect(gitml(dir, ['runs', 'logs', ids[2]]).stdout).toBe('log of run 2\n');
  const m = gitml(dir, ['runs', 'metrics', ids[1]]);
  expect(m.stdout).toMatch(/^accuracy\s+4\s+0\.63\s+0\.6\s+0\.63\s+▁▃▆█$/m);
  const mj = JSON.parse(gitml(dir, ['runs', 'metrics', ids[1], '--metric', 'accuracy', '--json']).stdout);
  expect(mj.accuracy.map((p: { step: number }) => p.step)).toEqual([0, 1, 2, 3]);
  expect(gitml(dir, ['runs', 'metrics', ids[1], '--metric', 'nope']).code).toBe(2);
});
