/**
 * Validating a repository with 1,000 entity files. Prints the in-process load+validate time,
 * the end-to-end `gitml validate` CLI time, and baselines from the same run: reading the same
 * files, and starting node itself.
 *
 *   npx tsx bench/validate.ts [--files 1000] [--repeat 5]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadEntities } from '../core/entities/load.js';

const { values } = parseArgs({ options: { files: { type: 'string', default: '1000' }, repeat: { type: 'string', default: '5' } } });
const N = Number(values.files);
const R = Number(values.repeat);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const dir = mkdtempSync(path.join(tmpdir(), 'gitml-bench-validate-'));
execFileSync('git', ['init', '-q', '-b', 'main', dir]);
const w = (rel: string, text: string) => {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
};
w('gitml.yaml', 'kind: Workspace\nname: bench\ndefaults: { compute: local, environment: py }\n');
w('gitml/compute/local.yaml', 'kind: ComputeTarget\ntype: local\n');
w('gitml/compute/docker.yaml', 'kind: ComputeTarget\ntype: docker\n');
w('gitml/environments/py.yaml', 'kind: Environment\nimage: gitml/python:bookworm\npip: [scikit-learn]\n');
const per = Math.floor((N - 4) / 3);
for (let i = 0; i < per; i++) {
  w(`gitml/experiments/e${i}.yaml`, `kind: Experiment\ndescription: experiment ${i}\ncommand: [python3, train.py, --C, "\${{params.C}}", --out, "\${{outputs.model}}"]\nparams:\n  C: { type: number, default: 1.0 }\n  seed: 42\ninputs:\n  data: data/d${i}.csv\noutputs:\n  model: model.pkl\n  sample: sample.json\nmetrics: { primary: accuracy, goal: maximize }\ntimeout: 30m\n`);
  w(`gitml/models/m${i}.yaml`, `kind: Model\nexperiment: e${i}\nartifact: model\nsample: sample\n`);
  w(`gitml/services/s${i}.yaml`, `kind: Service\nmodel: m${i}\ncompute: docker\nport: ${8000 + (i % 1000)}\n`);
}
const total = 4 + per * 3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn: () => unknown) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

const files = [path.join(dir, 'gitml.yaml'), ...['experiments', 'compute', 'environments', 'models', 'services'].flatMap((k) => readdirSync(path.join(dir, 'gitml', k)).map((f) => path.join(dir, 'gitml', k, f)))];
const readAll = [];
const inProc = [];
const cli = [];
const nodeStart = [];
await loadEntities({ dir }); // compile the schemas once, as a long-lived process would
for (let i = 0; i < R; i++) {
  readAll.push(await time(() => files.forEach((f) => readFileSync(f))));
  inProc.push(
    await time(async () => {
      const r = await loadEntities({ dir });
      if (r.errors.length) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
    }),
  );
  cli.push(
    await time(() => {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/gitml.js'), 'validate'], { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
    }),
  );
  nodeStart.push(await time(() => spawnSync(process.execPath, ['-e', '0'])));
}
const f = (x: number) => `${x.toFixed(1)} ms`;
console.log(`entity files: ${total}`);
console.log(`baseline, reading the files:       ${f(median(readAll))}`);
console.log(`baseline, node start-up:           ${f(median(nodeStart))}`);
console.log(`loadEntities (in process, warm):   ${f(median(inProc))}  (${(median(inProc) / median(readAll)).toFixed(1)}x reading)`);
console.log(`gitml validate (CLI, end to end):  ${f(median(cli))}  (${(median(cli) / median(nodeStart)).toFixed(1)}x node start-up)`);
rmSync(dir, { recursive: true, force: true });
