/**
 * Start-up cost of the CLI: `gitml -V`, `gitml --help` and a command's `--help`, each as a ratio
 * to `node -e 0` measured in the same run (interleaved, median of --rounds runs each).
 *
 *   npx tsx bench/startup.ts [--rounds 31]
 *
 * Runs the compiled CLI (npm run build first).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin/gitml.js');
const i = process.argv.indexOf('--rounds');
const ROUNDS = i > 0 ? Number(process.argv[i + 1]) : 31;

const cases: Array<[string, string[]]> = [
  ['node -e 0 (baseline)', ['-e', '0']],
  ['gitml -V', [bin, '-V']],
  ['gitml --version', [bin, '--version']],
  ['gitml --help', [bin, '--help']],
  ['gitml runs --help', [bin, 'runs', '--help']],
];

function once(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const t = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return t;
}

const times = cases.map(() => [] as number[]);
for (const [, a] of cases) once(a); // warm the page cache
for (let r = 0; r < ROUNDS; r++) cases.forEach(([, a], k) => times[k].push(once(a)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const base = median(times[0]);
console.log(`start-up, median of ${ROUNDS} (node ${process.version})`);
cases.forEach(([name], k) => {
  const m = median(times[k]);
  console.log(`  ${name.padEnd(22)} ${m.toFixed(1).padStart(7)} ms  ${(m / base).toFixed(2)}x node -e 0${k === 1 ? '  (goal <= 1.25x)' : ''}`);
});
