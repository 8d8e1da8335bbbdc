/**
 * The scoring server fuzzed from its own /openapi.json with schemathesis (PyPI, property-based
 * on Hypothesis), bounded in examples and time: no 5xx, no status code, content type or body
 * outside the document, and no request the document calls valid refused. The model is iris
 * behind an imputer, so the missing values the document allows on /invocations have an
 * answer. openapi_hooks.py holds the two rules JSON Schema cannot state (equal column lengths,
 * product(shape) tensor values), which the document says in words.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { removeDir, tmpDir } from '../support/repo.js';
import { testPython } from '../support/python.js';
import { irisBundle, runAsync, startServer, type IrisBundle, type RunningServer } from './helpers.js';

let bundle: IrisBundle;
let server: RunningServer;
let work: string;

beforeAll(async () => {
  bundle = irisBundle({}, { imputer: true });
  server = await startServer(bundle.dir, { ready: true });
  work = tmpDir('gitml-fuzz-');
}, 120_000);

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  if (bundle) removeDir(bundle.dir);
  if (work) removeDir(work);
});

test('schemathesis from /openapi.json: no server error, nothing outside the document, nothing valid refused', async () => {
  const st = path.join(path.dirname(testPython()), 'schemathesis');
  const r = await runAsync(
    st,
    ['run', `${server.url}/openapi.json`, '--checks', 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance',
      '--mode', 'positive', '--phases', 'examples,fuzzing,stateful', '--max-examples', '40', '--max-time', '90', '--seed', '16', '--workers', '1', '--no-color'],
    { cwd: work, timeoutMs: 240_000, env: { ...process.env, SCHEMATHESIS_HOOKS: 'openapi_hooks', PYTHONPATH: __dirname, NO_COLOR: '1' } },
  );
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/Tested: 16/); // every operation of the document was fuzzed
  expect(server.log()).not.toMatch(/unexpected failure/);
}, 300_000);
