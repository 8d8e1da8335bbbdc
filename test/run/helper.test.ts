import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExperiment } from '../../core/run/run-experiment.js';
import { removeDir } from '../support/repo.js';
import { ROOT } from '../support/repo.js';
import { runFile, runSeries, workspace } from './fixtures.js';

describe('templates/python/gitml_helper.py', () => {
  let dir = '';
  afterAll(() => dir && removeDir(dir));
  it('log_metric and outputs_dir follow the run contract', async () => {
    dir = workspace({
      'src/gitml_helper.py': readFileSync(path.join(ROOT, 'templates/python/gitml_helper.py'), 'utf8'),
      'src/use_helper.py': [
        'import os',
        'from gitml_helper import log_metric, outputs_dir, run_id',
        'for i, v in enumerate([0.9, 0.5, 0.25]):',
        '    log_metric("loss", v)',
        'log_metric("acc", 0.8, step=10, timestamp=1700000000000)',
        'open(os.path.join(outputs_dir(), "out.txt"), "w").write(run_id())',
        '',
      ].join('\n'),
      'gitml/experiments/helper.yaml': 'kind: Experiment\ncode: src\ncommand: python3 use_helper.py\n',
    });
    const r = await runExperiment({ dir, experiment: 'helper' });
    expect(r.record.status).toBe('completed');
    expect(r.record.metrics).toEqual({ loss: 0.25, acc: 0.8 });
    const series = await runSeries(dir, r.runId);
    expect(series.loss.map((p) => p.step)).toEqual([0, 1, 2]);
    expect(series.acc).toEqual([{ name: 'acc', step: 10, timestamp: 1700000000000, value: 0.8 }]);
    expect(runFile(dir, r.runId, 'artifacts/out.txt')).toBe(r.runId);
  });
});
