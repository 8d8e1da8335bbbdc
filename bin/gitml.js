#!/usr/bin/env node
// Entry point: runs the compiled CLI from dist/ (npm run build).
import { existsSync, readFileSync } from 'node:fs';
// `gitml -V` / `--version` answered before any other module loads (start-up is its whole cost).
if (process.argv.length === 3 && (process.argv[2] === '-V' || process.argv[2] === '--version')) {
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
  process.exit(0);
}
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('gitml: not built yet; run `npm run build` in the gitml folder first\n');
  process.exit(3);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// Let pending stdout flush before exiting; long-running commands (serve, daemon) never return here.
process.exitCode = code;
