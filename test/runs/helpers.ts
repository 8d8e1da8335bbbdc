import type { RunRecord } from '../../core/runs/types.js';
import { newRunId } from '../../core/runs/id.js';

/** A complete run record with sensible defaults. */
export function rec(over: Partial<RunRecord> = {}): RunRecord {
  return {
    schema: 1,
    id: over.id ?? newRunId(),
    experiment: 'train',
    status: 'completed',
    params: { C: 1, kernel: 'rbf' },
    metrics: {},
    source: { commit: 'c0ffee'.padEnd(40, '0'), tree: 'e'.repeat(40), branch: 'main' },
    inputs: {},
    compute: { name: 'local', type: 'local' },
    host: 'test-host',
    startedAt: '2026-01-02T03:04:05.000Z',
    artifacts: [],
    ...over,
  };
}
