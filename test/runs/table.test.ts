/**
 * The run table (core/runs/table.ts: runs held as the index's columns, filters compiled against
 * them) answers every `--where` and `--sort` exactly as listRuns does, on the snapshot rows and
 * on journal runs, for every column kind (numbers, strings, booleans, null, missing, mixed
 * types, keys without a column such as inputs.x and source); and conditionImplies, which lets
 * the UI filter a previous result again, never claims an implication the runs contradict.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { closeRunStore, listRuns, recordRun } from '../../core/runs/store.js';
import type { RunRecord } from '../../core/runs/types.js';
import { clearCatalogMemo } from '../../core/runs/catalog.js';
import { clearObjectCaches } from '../../core/runs/backend.js';
import { parseWhere, type Condition } from '../../core/runs/query.js';
import { conditionImplies, openRunTable, type RunTable } from '../../core/runs/table.js';
import { rec } from './helpers.js';
import { makeRepo } from '../support/repo.js';

let n = 0;
function variedRun(): RunRecord {
  const i = n++;
  return rec({
    experiment: ['train', 'tune', 'other'][i % 3],
    status: i % 5 === 0 ? 'failed' : 'completed',
    params: { C: (i % 4) * 0.5, kernel: ['rbf', 'linear', 'poly', 'RBF'][i % 4], lr: i % 2 ? 0.5 : '0.5', ...(i % 3 === 0 ? { flag: i % 2 === 0 } : {}) },
    metrics: { accuracy: ((i * 37) % 100) / 100, ...(i % 6 === 0 ? {} : { loss: i % 4 === 0 ? (null as unknown as number) : ((i * 13) % 50) / 50 }) },
    source: { commit: (i % 2 ? 'aaa' : 'bbb').padEnd(40, String(i % 10)), tree: 'e'.repeat(40), branch: i % 4 === 0 ? 'dev' : 'main' },
    durationMs: (i * 7919) % 1000,
    startedAt: new Date(Date.UTC(2026, 0, 1 + (i % 28))).toISOString(),
    exitCode: i % 5 === 0 ? 1 : 0,
    ...(i % 2 ? { tags: { team: i % 4 === 1 ? 'vision' : 'nlp' } } : {}),
    ...(i % 3 === 1 ? { inputs: { data: { path: i % 2 ? 'data/a.csv' : 'data/b.parquet', sha256: 'f'.repeat(64), size: i } } } : {}),
  });
}

const WHERE = [
  'metrics.accuracy>0.5',
  'metrics.accuracy>0.37',
  'metrics.accuracy<0.37',
  'params.C>0.5',
  'params.C<=0.5',
  'metrics.accuracy>=0.37',
  'metrics.accuracy<0.2',
  'metrics.accuracy<=0.74',
  'metrics.accuracy=0.37',
  'metrics.accuracy!=0.37',
  'metrics.accuracy~3',
  'metrics.loss>0.1',
  'metrics.loss!=0.5',
  'metrics.loss<0.4',
  'params.C>=1',
  'params.C=0.5',
  'params.C>a',
  'params.kernel=rbf',
  'params.kernel>poly',
  'params.kernel~b',
  'params.kernel!=linear',
  'params.lr=0.5',
  'params.lr>0.4',
  'params.flag=true',
  'params.flag!=false',
  'status=failed',
  'experiment~ai',
  'source.branch!=main',
  'source.commit~aaa',
  'tags.team~vi',
  'tags.team=nlp',
  'durationMs<300',
  'exitCode=1',
  'startedAt>2026-01-15',
  'id>0',
  'inputs.data~csv',
  'inputs.data!=x',
  'environment.name=py',
];
const SORTS = ['metrics.accuracy', '-metrics.accuracy', 'metrics.loss', '-params.C', 'params.kernel', '-params.lr', 'params.flag', 'tags.team', '-startedAt', 'durationMs', 'id', 'source', '-inputs.data', 'status'];

/** The table's answer to where/sort/experiment, as ids. */
function tableIds(t: RunTable, where: string[], sort?: string): string[] {
  let rows = t.filter(t.all(), where.map((w) => t.test(parseWhere(w))));
  if (sort) rows = t.sort(rows, sort.replace(/^-/, ''), sort.startsWith('-'));
  return rows.map((p) => t.id(p));
}

async function sameAsListRuns(dir: string, label: string): Promise<void> {
  for (const experiment of [undefined, 'tune']) {
    const t = await openRunTable({ dir, experiment });
    const all = await listRuns({ dir, experiment });
    expect(t.n).toBe(all.total);
    expect(t.records(t.all())).toEqual(all.runs);
    for (const w of WHERE) {
      const want = (await listRuns({ dir, experiment, where: [w] })).runs.map((r) => r.id);
      expect({ label, experiment, w, ids: tableIds(t, [w]) }).toEqual({ label, experiment, w, ids: want });
    }
    for (const s of SORTS) {
      const want = (await listRuns({ dir, experiment, sort: s })).runs.map((r) => r.id);
      expect({ label, experiment, s, ids: tableIds(t, [], s) }).toEqual({ label, experiment, s, ids: want });
    }
    const both = ['params.C>=0.5', 'metrics.accuracy>0.2'];
    expect(tableIds(t, both, '-metrics.loss')).toEqual((await listRuns({ dir, experiment, where: both, sort: '-metrics.loss' })).runs.map((r) => r.id));
    // Each row's value is the record's.
    const recs = t.records(t.all());
    for (const key of ['params.lr', 'params.flag', 'metrics.loss', 'tags.team', 'source.branch', 'inputs.data']) {
      expect(t.all().map((p) => t.value(p, key))).toEqual(recs.map((r) => (key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r))));
    }
    expect(t.positionOf(recs[3]?.id ?? 'none')).toBe(recs.length > 3 ? 3 : -1);
    expect(t.positionOf('0')).toBe(-1);
  }
}

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the run table answers as listRuns', () => {
  let dir: string;
  beforeAll(async () => {
    dir = makeRepo({ 'README.md': 'x\n' });
    dirs.push(dir);
    for (let k = 0; k < 30; k++) await recordRun({ dir, record: variedRun() });
  }, 120_000);

  test('from the snapshot, then with journal runs merged in', async () => {
    clearCatalogMemo();
    clearObjectCaches();
    await sameAsListRuns(dir, 'snapshot');
    for (let k = 0; k < 7; k++) await recordRun({ dir, record: variedRun() });
    await sameAsListRuns(dir, 'snapshot + journal');
    clearCatalogMemo();
    expect(existsSync(path.join(dir, '.git/gitml/cache/runs-index-refs_heads_runs.idx.journal'))).toBe(true);
    await sameAsListRuns(dir, 'snapshot + journal, new process');
  }, 120_000);

  test('a bare word is looked for in the id, experiment, status and branch, case-insensitively', async () => {
    const t = await openRunTable({ dir });
    const recs = t.records(t.all());
    for (const word of ['tun', 'fail', 'dev', recs[5].id.slice(2, 9), 'zzz']) {
      const want = recs.filter((r) => `${r.id}\u0000${r.experiment}\u0000${r.status}\u0000${r.source.branch ?? ''}`.toLowerCase().includes(word)).map((r) => r.id);
      expect({ word, ids: t.filter(t.all(), [t.testWord(word)]).map((p) => t.id(p)) }).toEqual({ word, ids: want });
    }
  });

  test('conditionImplies: whenever it says a implies b, every run matching a matches b', async () => {
    const t = await openRunTable({ dir });
    const conds: Condition[] = [];
    for (const key of ['metrics.accuracy', 'metrics.loss', 'params.C', 'params.lr', 'params.kernel'])
      for (const op of ['>', '>=', '<', '<=', '=', '!=', '~'])
        for (const v of ['0', '0.', '0.3', '0.37', '0.5', '1', 'r', 'rb', 'rbf']) {
          try {
            conds.push(parseWhere(`${key}${op}${v}`));
          } catch {
            /* a metric compared with a word */
          }
        }
    let said = 0;
    for (const a of conds)
      for (const b of conds) {
        if (!conditionImplies(a, b)) continue;
        said++;
        const ma = t.filter(t.all(), [t.test(a)]);
        const both = t.filter(ma, [t.test(b)]);
        expect({ a, b, n: both.length }).toEqual({ a, b, n: ma.length });
      }
    // It does find the implications typing goes through (metrics.accuracy>0.3 after >0, ~rb after ~r).
    expect(conditionImplies(parseWhere('metrics.accuracy>0.3'), parseWhere('metrics.accuracy>0'))).toBe(true);
    expect(conditionImplies(parseWhere('params.kernel~rb'), parseWhere('params.kernel~r'))).toBe(true);
    expect(conditionImplies(parseWhere('metrics.accuracy<0.3'), parseWhere('metrics.accuracy<0.5'))).toBe(true);
    expect(conditionImplies(parseWhere('metrics.accuracy>0'), parseWhere('metrics.accuracy>0.3'))).toBe(false);
    expect(conditionImplies(parseWhere('params.C>1'), parseWhere('params.C>0.5'))).toBe(false);
    expect(said).toBeGreaterThan(100);
  });
});
