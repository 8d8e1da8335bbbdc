#!/usr/bin/env node
// Entry point: runs the bundled CLI (dist/bundle/, cli/build.mjs), or the compiled one (dist/cli/)
// when that is newer (tsc run alone after a change), both made by `npm run build`.
import { existsSync, readFileSync, statSync } from 'node:fs';
// `gitml -V` / `--version` answered before any other module loads (start-up is its whole cost).
if (process.argv.length === 3 && (process.argv[2] === '-V' || process.argv[2] === '--version')) {
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
  process.exit(0);
}
// GITML_DEBUG=1 prints stack traces: through the source maps, they name the TypeScript sources.
if (process.env.GITML_DEBUG === '1') process.setSourceMapsEnabled(true);
const bundled = new URL('../dist/bundle/main.js', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const mtime = (u) => statSync(u, { throwIfNoEntry: false })?.mtimeMs;
const b = mtime(bundled);
const t = mtime(compiled);
const entry = b !== undefined && (t === undefined || b >= t) ? bundled : compiled;
if (!existsSync(entry)) {
  process.stderr.write('gitml: not built yet; run `npm run build` in the gitml folder first\n');
  process.exit(3);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// Let pending stdout flush before exiting; long-running commands (serve, daemon) never return here.
process.exitCode = code;
