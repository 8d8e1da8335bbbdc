/**
 * A run id given from outside (`gitml run --worker ID`, the daemon, an API caller) names
 * folders that are created and removed recursively (the scratch folder, the live files): it
 * must be a run id, never a path.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { runExperiment } from '../../core/run/run-experiment.js';
import { removeDir, tmpDir } from '../support/repo.js';
import { workspace } from './fixtures.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

test('a run id that is a path is refused before anything is removed or written', async () => {
  const dir = workspace();
  dirs.push(dir);
  // The scratch root is <tmp>/gitml-runs: "../<victim>" would be removed as the run's scratch folder.
  const victim = tmpDir('gitml-victim-');
  dirs.push(victim);
  writeFileSync(path.join(victim, 'keep.txt'), 'precious');
  mkdirSync(path.join(tmpdir(), 'gitml-runs'), { recursive: true });
  const runId = path.join('..', path.basename(victim));
  await expect(runExperiment({ dir, experiment: 'contract', runId })).rejects.toMatchObject({ code: 'PARAM' });
  expect(existsSync(path.join(victim, 'keep.txt'))).toBe(true);
  expect(existsSync(path.join(dir, '.git', 'gitml', 'live', `${runId}.log`))).toBe(false);
});
