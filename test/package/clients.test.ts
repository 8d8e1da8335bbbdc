/**
 * Issue 16: what the real MLflow and Triton clients send must work. A scikit-learn model
 * (an imputer and a logistic regression on iris, so a missing value has an answer) recorded
 * with the real runs store, registered, and served by `gitml serve`, both as a local process
 * and as the model image on the Docker engine (the container a service runs); then clients.py
 * drives it with MLflow's ScoringServerClient and tritonclient.http from the venv, and every
 * answer is compared with the model's own predictions, made in the Python that trained it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerModel } from '../../core/registry/register.js';
import { closeRunStore } from '../../core/runs/store.js';
import { addRun, makeRegistryRepo, record } from '../registry/fixtures.js';
import { git, removeDir, ROOT, tmpDir } from '../support/repo.js';
import { serveJson, type Served } from '../support/serve.js';
import { testPython } from '../support/python.js';
import { BASE_IMAGE, describeDocker } from '../support/docker.js';
import { call, runAsync, startServer, writeBundle } from '../server/helpers.js';

const VENV_BIN = path.dirname(testPython());
const ENV = { PATH: `${VENV_BIN}${path.delimiter}${process.env.PATH}` };
const COLUMNS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

// Rows 0, 60 and 120 of iris (one of each species); `nan` is row 0 with sepal_width missing.
const TRAIN = `
import json, pickle, sys
import numpy as np
from sklearn.datasets import load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
out = sys.argv[1]
d = load_iris(as_frame=True)
X = d.data.copy()
X.columns = ${JSON.stringify(COLUMNS)}
m = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=1000)).fit(X, d.target)
pickle.dump(m, open(out + "/model.pkl", "wb"))
rows = X.iloc[[0, 60, 120]]
json.dump(rows.to_dict(orient="records"), open(out + "/sample.json", "w"))
nan = rows.copy()
nan.iloc[0, 1] = np.nan
json.dump({"rows": rows.values.tolist(), "pred": m.predict(rows).tolist(), "nan": m.predict(nan).tolist()}, open(out + "/expected.json", "w"))
`;

interface Expected {
  rows: number[][];
  pred: number[];
  nan: number[];
}

/**
 * Train the model (with the venv's Python, or in a container of the base image so that the
 * pickle is made by the scikit-learn that will load it), record and register it, serve it with
 * `gitml serve` (a local process, or with --docker the model image `gitml image build` makes),
 * then drive it with clients.py and check every answer.
 */
function clientSuite(name: string, mode: 'process' | 'docker'): void {
  const suite = mode === 'docker' ? describeDocker : describe;
  suite(name, () => {
    let dir: string;
    let work: string;
    let served: Served;
    let expected: Expected;
    let out: Record<string, any>;

    beforeAll(async () => {
      work = tmpDir('gitml-clients-');
      const t =
        mode === 'docker'
          ? await runAsync('docker', ['run', '--rm', '--label', 'dev.gitml.test=clients', '-v', `${work}:/out`, BASE_IMAGE, 'python3', '-c', TRAIN, '/out'], { timeoutMs: 180_000 })
          : await runAsync(testPython(), ['-c', TRAIN, work]);
      if (t.status !== 0) throw new Error(`training failed:\n${t.stderr}`);
      expected = JSON.parse(readFileSync(path.join(work, 'expected.json'), 'utf8'));
      dir = makeRegistryRepo({
        'gitml/environments/py.yaml': `kind: Environment\nimage: ${BASE_IMAGE}\n`,
        'gitml/models/iris.yaml': 'kind: Model\nexperiment: train\nartifact: model\nflavor: sklearn\nsample: sample\n',
      });
      const rec = record({ experiment: 'train', source: { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}'), branch: 'main' } });
      const files = { 'model.pkl': readFileSync(path.join(work, 'model.pkl')), 'sample.json': readFileSync(path.join(work, 'sample.json'), 'utf8') };
      await addRun(dir, rec, files as unknown as Record<string, string>);
      await registerModel({ dir, name: 'iris', runId: rec.id, version: 'v0.1.0' });
      closeRunStore();
      served = await serveJson(dir, ['iris@v0.1.0', '--port', '0', ...(mode === 'docker' ? ['--docker'] : [])], ENV);
      expect(served.info.mode).toBe(mode);
      const port = new URL(served.info.url).port;
      const r = await runAsync(testPython(), [path.join(ROOT, 'test/package/clients.py'), port, JSON.stringify(expected.rows)], { timeoutMs: 180_000 });
      if (r.status !== 0) throw new Error(`clients.py failed:\n${r.stderr}\n--- gitml serve\n${served.stderr()}`);
      out = JSON.parse(r.stdout);
    }, 600_000);

    afterAll(async () => {
      // SIGTERM: gitml serve stops the server (and removes its container) before it exits.
      if (served && served.proc.exitCode === null) {
        served.proc.kill('SIGTERM');
        await served.exited;
      }
      if (dir) removeDir(dir);
      if (work) removeDir(work);
    }, 60_000);

    test('the three rows are one of each species, and the missing value changes nothing the imputer cannot fill', () => {
      expect(new Set(expected.pred).size).toBe(3);
      expect(expected.nan).toHaveLength(3);
    });

    test('MLflow ScoringServerClient: invoke with a DataFrame (with params, with NaN), an ndarray and records; /version', () => {
      expect(out.mlflow_version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(out.mlflow_dataframe).toEqual(expected.pred);
      expect(out.mlflow_dataframe_params).toEqual(expected.pred);
      expect(out.mlflow_dataframe_nan).toEqual(expected.nan);
      expect(out.mlflow_ndarray).toEqual(expected.pred);
      expect(out.mlflow_records).toEqual(expected.pred);
    });

    test("MLflow's pandas orients and CSV as pandas writes them (index column, empty cell for NaN)", () => {
      for (const k of ['mlflow_split_json', 'mlflow_instances', 'mlflow_inputs_columns', 'mlflow_csv', 'mlflow_csv_no_index']) {
        expect(out[k], k).toEqual([200, { predictions: expected.pred }]);
      }
      expect(out.mlflow_records_json).toEqual([200, { predictions: expected.nan }]); // pandas writes NaN as null
      expect(out.mlflow_csv_nan).toEqual([200, { predictions: expected.nan }]);
      expect(out.mlflow_parquet).toBe(415);
      expect(out.mlflow_latin1).toBe(415);
    });

    test('tritonclient: health, server metadata with the binary extension, model metadata', () => {
      expect([out.triton_live, out.triton_ready, out.triton_model_ready]).toEqual([true, true, true]);
      expect(out.triton_server_metadata.extensions).toContain('binary_tensor_data');
      expect(out.triton_model_metadata).toMatchObject({ name: 'iris', versions: ['v0.1.0'], platform: 'sklearn' });
      expect(out.triton_model_metadata.inputs.map((i: { name: string }) => i.name)).toEqual(COLUMNS);
    });

    test('tritonclient infer: binary tensors in and out (its default), JSON both ways, JSON in and binary out', () => {
      for (const k of ['triton_binary_2d', 'triton_binary_columns', 'triton_json', 'triton_json_in_binary_out']) {
        expect(out[k].pred, k).toEqual(expected.pred);
      }
      const binOut = out.triton_binary_2d.response.outputs[0];
      expect(binOut.parameters.binary_data_size).toBe(3 * 8); // INT64 values, raw
      expect(binOut.data).toBeUndefined();
      expect(out.triton_json.response.outputs[0].data).toEqual(expected.pred);
    });

    test('tritonclient errors: a v2 error string for an unknown model, an unknown sub-route and a bad tensor', () => {
      expect(out.triton_unknown_model.status).toBe('404');
      expect(out.triton_config_route.status).toBe('404');
      expect(out.triton_config_route.message).toContain('/v2/models/iris/config');
      expect(out.triton_statistics_route.status).toBe('404');
      expect(out.triton_wrong_shape.status).toBe('400');
      for (const k of ['triton_unknown_model', 'triton_config_route', 'triton_wrong_shape']) expect(typeof out[k].message, k).toBe('string');
    });
  });
}

clientSuite('the real MLflow and Triton clients against gitml serve (a local process)', 'process');
clientSuite('the real MLflow and Triton clients against the model image (gitml serve --docker)', 'docker');

describe('MLflow params reach run(data, params)', () => {
  test('a scoring script with a second argument gets the params; one without gets none and scores', async () => {
    const dir = tmpDir('gitml-params-');
    try {
      writeBundle(dir, {
        'server.json': { model: 'echo', version: 'v1', flavor: 'python', artifact: null, scoring: 'score.py', runtime: '1.0.0' },
        'schema.json': { inputs: [{ name: 'x', type: 'double' }] },
        'score.py': 'def run(data, params=None):\n    return [{"x": r["x"], "scale": (params or {}).get("scale")} for r in data]\n',
        'one.py': 'def run(data):\n    return [r["x"] for r in data]\n',
      });
      const s = await startServer(dir, { ready: true });
      try {
        const r = await call(`${s.url}/invocations`, { body: { instances: [{ x: 1 }, { x: null }], params: { scale: 3 } } });
        expect(r.status).toBe(200);
        expect(r.body).toEqual({ predictions: [{ x: 1, scale: 3 }, { x: null, scale: 3 }] }); // NaN answered as null
        expect((await call(`${s.url}/invocations`, { body: { instances: [{ x: 1 }] } })).body).toEqual({ predictions: [{ x: 1, scale: null }] });
      } finally {
        await s.stop();
      }
      writeBundle(dir, { 'server.json': { model: 'echo', version: 'v1', flavor: 'python', artifact: null, scoring: 'one.py', runtime: '1.0.0' } });
      const one = await startServer(dir, { ready: true });
      try {
        for (let i = 0; i < 3; i++) {
          const r = await call(`${one.url}/invocations`, { body: { dataframe_split: { columns: ['x'], data: [[2]] }, params: { scale: 3 } } });
          expect(r.body).toEqual({ predictions: [2] });
        }
        // as MLflow does for a model without params: ignored, said once, not once a request
        expect(one.log().match(/carries params/g)).toHaveLength(1);
      } finally {
        await one.stop();
      }
    } finally {
      removeDir(dir);
    }
  });
});
