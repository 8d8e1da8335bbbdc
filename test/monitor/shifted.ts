/**
 * The sklearn template's iris data as scoring requests with petal_length shifted by +2 cm:
 * rows a client could send, in batches of 10, for the drift walk-throughs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const COLUMNS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

export function shiftedIrisBatches(dir: string): { rows: number; batches: Array<Array<Record<string, number>>> } {
  const csv = readFileSync(path.join(dir, 'data/iris.csv'), 'utf8').trim().split('\n');
  const header = csv[0].split(',');
  const rows = csv.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], Number(v)])));
  const batches: Array<Array<Record<string, number>>> = [];
  for (let i = 0; i < rows.length; i += 10) {
    batches.push(rows.slice(i, i + 10).map((r) => Object.fromEntries(COLUMNS.map((c) => [c, c === 'petal_length' ? r[c] + 2 : r[c]]))));
  }
  return { rows: rows.length, batches };
}
