import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// CLI tests spawn bin/gitml.js, which runs the bundle of dist/bundle/ (cli/build.mjs): compile and
// bundle once before any test, as `npm run build` does. tsc emits even when a file has a type
// error; test/typecheck.test.ts is what fails on those.
export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')], {
    encoding: 'utf8',
  });
  if (r.status !== 0) process.stderr.write(`warning: tsc reported type errors (see test/typecheck.test.ts)\n`);
  const b = spawnSync(process.execPath, [path.join(root, 'cli/build.mjs')], { encoding: 'utf8' });
  // Without a fresh bundle bin/gitml.js would run dist/cli/ (newer): the tests would not test the bundle.
  if (b.status !== 0) throw new Error(`bundling the CLI failed (node cli/build.mjs):\n${b.stderr}`);
}
