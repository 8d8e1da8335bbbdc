/** The README's walk-throughs, run word for word by the tests that follow them. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, GIT_ENV, ROOT } from './repo.js';

/** The first bash block after the heading. */
export function readmeBlock(heading: string): string {
  const md = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = md.indexOf(heading);
  if (at < 0) throw new Error(`README.md has no section ${heading}`);
  const m = /```bash\n([\s\S]*?)```/.exec(md.slice(at));
  if (!m) throw new Error(`no bash block under ${heading}`);
  return m[1];
}

/**
 * Run the README's bash block under `heading` word for word, with `DEMO=… PORT=…` set to the
 * test's folder and port, from `base`, with a `gitml` on PATH that runs this checkout (and the
 * test venv's Python when `venv` is set).
 */
export function runReadmeBlock(o: { heading: string; base: string; demo: string; port: number; env?: Record<string, string>; venv?: boolean }): SpawnSyncReturns<string> {
  const block = readmeBlock(o.heading);
  if (!/^DEMO=\S+ PORT=\d+$/m.test(block)) throw new Error(`the block under ${o.heading} does not start with DEMO=… PORT=…`);
  const script = block.replace(/^DEMO=\S+ PORT=\d+$/m, `DEMO=${o.demo} PORT=${o.port}`);
  const bin = path.join(o.base, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'gitml'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(path.join(bin, 'gitml'), 0o755);
  const PATH = [bin, ...(o.venv ? [path.join(ROOT, '.venv/bin')] : []), process.env.PATH].join(path.delimiter);
  return spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: o.base,
    env: { ...process.env, ...GIT_ENV, NO_COLOR: '1', ...o.env, PATH },
    encoding: 'utf8',
    timeout: 900_000,
  });
}
