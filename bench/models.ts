/**
 * `gitml models` with 1,500 registry tags: `npx tsx bench/models.ts [--runs 7] [--tags 1500] [--no-gto] [--keep]`.
 *
 * Builds a repository (one `git fast-import` stream): a valid workspace, a runs branch with one
 * commit per model version, and 50 models × (20 registered versions + 10 stage assignments) =
 * 1,500 annotated tags with gitml's metadata messages, refs packed as in a fresh clone.
 * Then measures, interleaved, --runs times each (medians):
 *   for-each-ref  `git for-each-ref refs/tags` (the floor for reading the tags: one process);
 *   node -e 0     bare node start-up;
 *   gitml -V      `node bin/gitml.js -V` (the floor for any gitml command: node plus every
 *                 command module's imports);
 *   engine        listModels() in this process (warm: one for-each-ref, the replay, gitml.yaml);
 *   gitml models  the CLI end to end (`node bin/gitml.js -C REPO models`), and with --json;
 *   gto show      the real GTO on the same repository (if .venv/bin/gto exists; 2 runs).
 * Prints the figures and ratios. Target: gitml models under 500 ms (GTO needs seconds).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listModels } from '../core/registry/list.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/gitml.js');
const GTO = path.join(ROOT, '.venv/bin/gto');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || def : def;
};
const RUNS = arg('--runs', 7);
const TAGS = arg('--tags', 1500);
const WITH_GTO = !process.argv.includes('--no-gto') && existsSync(GTO);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  NO_COLOR: '1',
};

function git(dir: string, args: string[], input?: string): string {
  return execFileSync('git', args, { cwd: dir, env: ENV, input, encoding: 'utf8', maxBuffer: 1 << 28 });
}

function data(s: string): string {
  return `data ${Buffer.byteLength(s)}\n${s}\n`;
}

/** A repository with `tags` registry tags, written with one fast-import stream. */
function buildRepo(tags: number): { dir: string; models: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'gitml-bench-models-'));
  git(dir, ['init', '-q', '-b', 'main']);
  const files: Record<string, string> = {
    'gitml.yaml': 'kind: Workspace\nname: bench\ndefaults:\n  compute: local\n  environment: py\nstages: [dev, staging, production]\n',
    'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
    'gitml/environments/py.yaml': 'kind: Environment\nimage: gitml/python:bookworm\n',
    'gitml/experiments/train.yaml': 'kind: Experiment\ncommand: [python3, train.py]\noutputs:\n  model: model.pkl\ncompute: local\nenvironment: py\n',
  };
  const perModel = 30; // 20 registrations + 10 assignments
  const models = Math.ceil(tags / perModel);
  for (let m = 0; m < models; m++) files[`gitml/models/model-${m}.yaml`] = 'kind: Model\nexperiment: train\nartifact: model\n';
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '-m', 'workspace']);

  const t0 = 1_790_000_000;
  let s = '';
  let mark = 0;
  let written = 0;
  let time = t0;
  const stages = ['dev', 'staging', 'production'];
  for (let m = 0; m < models && written < tags; m++) {
    const name = `model-${m}`;
    const versionMarks: number[] = [];
    for (let v = 0; v < 20 && written < tags; v++) {
      mark++;
      const id = `01m8${String(m).padStart(3, '0')}${String(v).padStart(3, '0')}${'0'.repeat(16)}`;
      const run = JSON.stringify({ schema: 1, id, experiment: 'train', status: 'completed', metrics: { accuracy: 0.9 + v / 1000 } });
      s += `commit refs/heads/runs\nmark :${mark}\ncommitter Bench <bench@example.com> ${time++} +0000\n${data(`run ${id}`)}`;
      if (mark > 1) s += `from :${mark - 1}\n`;
      s += `M 644 inline train/2026-11/${id.slice(10, 12)}/${id}/run.json\n${data(run)}\n`;
      versionMarks.push(mark);
      const version = `v1.${v}.0`;
      const meta = {
        gitml: 1,
        action: 'register',
        model: name,
        version,
        run: id,
        experiment: 'train',
        artifact: { output: 'model', path: 'model.pkl', sha256: 'e'.repeat(64), size: 12345 },
        metrics: { accuracy: 0.9 + v / 1000, f1: 0.8 },
        source: 'a'.repeat(40),
      };
      s += `tag ${name}@${version}\nfrom :${mark}\ntagger Bench <bench@example.com> ${time++} +0000\n${data(`Register model ${name} ${version} from run ${id} (train)\n\n${JSON.stringify(meta)}\n`)}`;
      written++;
    }
    for (let a = 1; a <= 10 && written < tags; a++) {
      const v = 10 + a - 1;
      const stage = stages[a % 3];
      const meta = { gitml: 1, action: 'assign', model: name, version: `v1.${v}.0`, stage };
      s += `tag ${name}#${stage}#${a}\nfrom :${versionMarks[v] ?? versionMarks[versionMarks.length - 1]}\ntagger Bench <bench@example.com> ${time++} +0000\n${data(`Promote model ${name} v1.${v}.0 to ${stage}\n\n${JSON.stringify(meta)}\n`)}`;
      written++;
    }
  }
  git(dir, ['fast-import', '--quiet'], s);
  git(dir, ['pack-refs', '--all']);
  return { dir, models };
}

function time(cmd: string, args: string[], cwd: string): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
  const d = ms(t);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return d;
}

async function main(): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
  const t = process.hrtime.bigint();
  const { dir, models } = buildRepo(TAGS);
  const count = git(dir, ['for-each-ref', '--count=100000', '--format=x', 'refs/tags']).split('\n').filter(Boolean).length;
  process.stdout.write(`repository: ${count} tags, ${models} models, built in ${ms(t).toFixed(0)} ms (${dir})\n`);

  // Sanity: the CLI sees every model, with the expected latest version.
  const list = JSON.parse(execFileSync(process.execPath, [BIN, '-C', dir, 'models', '--json'], { env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 }));
  if (list.models.length !== models || list.models[0].latest !== 'v1.19.0') throw new Error(`unexpected listing: ${JSON.stringify(list.models[0])}`);

  const series: Record<string, number[]> = { 'for-each-ref': [], 'node -e 0': [], 'gitml -V': [], engine: [], 'gitml models': [], 'gitml models --json': [] };
  await listModels({ dir, entities: 'light' }); // warm the module cache
  for (let i = 0; i < RUNS; i++) {
    series['for-each-ref'].push(time('git', ['for-each-ref', '--format=%(refname) %(objectname) %(*objectname) %(taggerdate:raw) %(contents)', 'refs/tags'], dir));
    series['node -e 0'].push(time(process.execPath, ['-e', '0'], dir));
    series['gitml -V'].push(time(process.execPath, [BIN, '-V'], dir));
    const e = process.hrtime.bigint();
    await listModels({ dir, entities: 'light' });
    series.engine.push(ms(e));
    series['gitml models'].push(time(process.execPath, [BIN, '-C', dir, 'models'], dir));
    series['gitml models --json'].push(time(process.execPath, [BIN, '-C', dir, 'models', '--json'], dir));
  }
  if (WITH_GTO) {
    series['gto show'] = [];
    for (let i = 0; i < 2; i++) series['gto show'].push(time(GTO, ['show', '--json'], dir));
  }

  const base = median(series['for-each-ref']);
  const cli = median(series['gitml models']);
  process.stdout.write(`\n${'measure'.padEnd(22)}${'median ms'.padStart(10)}${'min ms'.padStart(9)}  ratio to for-each-ref\n`);
  for (const [k, xs] of Object.entries(series)) {
    const m = median(xs);
    process.stdout.write(`${k.padEnd(22)}${m.toFixed(1).padStart(10)}${Math.min(...xs).toFixed(1).padStart(9)}  ${(m / base).toFixed(1)}x\n`);
  }
  process.stdout.write(`\ngitml models: ${cli.toFixed(0)} ms for ${count} tags (target < 500 ms: ${cli < 500 ? 'met' : 'NOT met'}); bare node ${median(series['node -e 0']).toFixed(0)} ms, gitml -V (node + every command module) ${median(series['gitml -V']).toFixed(0)} ms; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores\n`);
  if (series['gto show']) process.stdout.write(`gto show: ${median(series['gto show']).toFixed(0)} ms, ${(median(series['gto show']) / cli).toFixed(1)}x gitml models\n`);
  if (process.argv.includes('--keep')) process.stdout.write(`kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
