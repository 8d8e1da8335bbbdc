import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './repo.js';

/**
 * A Python with scikit-learn, pandas and pyspark: $GITML_TEST_PYTHON, else the venv that
 * .ci/run creates at <repo>/.venv.
 */
export function testPython(): string {
  const fromEnv = process.env.GITML_TEST_PYTHON;
  if (fromEnv) return fromEnv;
  const venv = path.join(ROOT, '.venv/bin/python');
  if (existsSync(venv)) return venv;
  throw new Error('no Python with scikit-learn for tests: run `bash .ci/run` (or set GITML_TEST_PYTHON)');
}
