#!/usr/bin/env node
// Entry point: runs the compiled CLI from dist/ (npm run build).
import { existsSync } from 'node:fs';
const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('gitml: not built yet; run `npm run build` in the gitml folder first\n');
  process.exit(3);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// Let pending stdout flush before exiting; long-running commands (serve, daemon) never return here.
process.exitCode = code;
