/** A small gitml workspace for run tests: real git repo, real Python. */
import { execFileSync } from 'node:child_process';
import { git, makeRepo } from '../support/repo.js';

export const CONTRACT_PY = `
import hashlib, json, os, sys
print("ARGS=" + json.dumps(sys.argv[1:]))
print("CWD=" + os.getcwd())
env = {k: os.environ.get(k) for k in ["GITML_RUN_ID", "GITML_OUTPUTS", "GITML_METRICS", "MY_VAR"]}
print("ENV=" + json.dumps(env))
secret = os.environ.get("MY_SECRET", "")
print("SECRET_SHA=" + hashlib.sha256(secret.encode()).hexdigest())
print("SECRET_RAW=" + secret)
import time
sys.stdout.write("SPLIT=" + secret[:5]); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(secret[5:] + "\\n"); sys.stdout.flush()
with open(os.environ["GITML_METRICS"], "a") as f:
    f.write(json.dumps({"name": "loss", "value": 0.5, "step": 0, "timestamp": 1700000000000}) + "\\n")
    f.write(json.dumps({"name": "loss", "value": 0.25, "step": 1}) + "\\n")
    f.write("this is not json\\n")
    f.write(json.dumps({"name": "loss", "value": "high"}) + "\\n")
print("::gitml metric name=acc value=0.9 step=3")
print('::gitml metric {"name": "acc", "value": 0.95}')
print("::gitml metric name=acc value=oops")
out = os.environ["GITML_OUTPUTS"]
with open(sys.argv[sys.argv.index("--model") + 1], "w") as f:
    f.write("weights")
os.makedirs(os.path.join(out, "sub"), exist_ok=True)
with open(os.path.join(out, "sub", "b.txt"), "w") as f:
    f.write("b")
os.symlink("/etc/passwd", os.path.join(out, "leak"))
os.symlink("../..", os.path.join(out, "sub", "up"))
with open(sys.argv[sys.argv.index("--data") + 1]) as f:
    print("DATA=" + f.read().strip())
`;

export function workspace(extra: Record<string, string> = {}): string {
  const dir = makeRepo({
    'gitml.yaml': 'kind: Workspace\nname: runtest\ndefaults:\n  compute: local\n',
    'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
    'gitml/environments/env.yaml': 'kind: Environment\npython: python3\nvariables:\n  MY_VAR: v1\nsecrets: [MY_SECRET, MISSING_SECRET]\n',
    'gitml/experiments/contract.yaml': [
      'kind: Experiment',
      'code: src',
      'command: python3 contract.py --msg ${{params.msg}} --n=${{params.n}} --flag ${{params.flag}} --data ${{inputs.data}} --model ${{outputs.model}}',
      'params:',
      '  msg: hello',
      '  n: { type: integer, default: 3 }',
      '  flag: false',
      'inputs:',
      '  data: data/d.txt',
      '  folder: data',
      'outputs:',
      '  model: model.txt',
      'environment: env',
      '',
    ].join('\n'),
    'src/contract.py': CONTRACT_PY,
    'data/d.txt': 'committed data\n',
    'data/more/e.txt': 'e\n',
    ...extra,
  });
  return dir;
}

export function head(dir: string): { commit: string; tree: string } {
  return { commit: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}') };
}

/** A file of a run's folder on the runs branch, read with plain git. */
export function runFile(dir: string, runId: string, name: string): string | undefined {
  const files = execFileSync('git', ['ls-tree', '-r', '--name-only', 'runs'], { cwd: dir, encoding: 'utf8' }).split('\n');
  const f = files.find((p) => p.includes(`/${runId}/`) && p.endsWith(`/${runId}/${name}`));
  return f ? execFileSync('git', ['show', `runs:${f}`], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 28 }) : undefined;
}

export function runFiles(dir: string, runId: string): string[] {
  return execFileSync('git', ['ls-tree', '-r', '--name-only', 'runs'], { cwd: dir, encoding: 'utf8' })
    .split('\n')
    .filter((p) => p.includes(`/${runId}/`))
    .map((p) => p.slice(p.indexOf(`/${runId}/`) + runId.length + 2));
}

/** A run's metric series through the runs store (its on-branch format is the store's business). */
export async function runSeries(dir: string, runId: string): Promise<Record<string, Array<{ step: number; timestamp: number; value: number }>>> {
  const { readRunMetrics } = await import('../../core/runs/read.js');
  return readRunMetrics({ dir, id: runId });
}
