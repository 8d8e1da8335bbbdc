// Bundles the CLI (cli/main.ts and every module it imports, lazily or not) into dist/bundle/,
// which bin/gitml.js runs: `npm run build` compiles dist/ with tsc, then runs this.
//
// Why: a new process spent a good part of its start-up finding, reading and compiling the ~40
// small ES modules a command loads (`gitml runs` at 100,000 runs: 2.1x `gitml -V` before, see
// bench/runs.ts). Here they are a few chunks. Splitting keeps lazy loading: every import() in
// the source (a command's module, the engine code a command loads on demand) is a chunk of its
// own, loaded only when that import() runs, and modules shared between them are chunks shared
// by them (one instance of each module per process, as with tsc's output).
//
// Packages stay in node_modules (resolved at run time from the chunks, as from dist/), except
// commander, which every command loads: bundled, with its `require('node:child_process')` (for
// executable subcommands, which gitml has none of) deferred to first use, since that one built-in
// pulls in net, dgram and their helpers, about 3 ms of every start.
//
// dist/ (tsc) stays what the tests import (test/queue/worker.mjs, test/runs/fixtures/writer.mjs)
// and what bin/gitml.js falls back to when it is newer than the bundle (tsc run alone).
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = path.join(root, 'dist/bundle');
const req = createRequire(path.join(root, 'package.json'));

/** Replace `from` by `to` in `text`, failing the build when `from` is not there (a new version of the file). */
function patch(text, from, to, file) {
  if (!text.includes(from)) throw new Error(`cli/build.mjs: ${file} no longer contains ${JSON.stringify(from)}; update the patch`);
  return text.split(from).join(to);
}

const commanderDir = path.dirname(req.resolve('commander'));

/** commander's command.js: built-ins through the banner's __gitmlRequire, child_process only when spawned. */
function commanderText(text, file) {
  text = patch(text, "const childProcess = require('node:child_process');", "const childProcess = { spawn: (...a) => __gitmlRequire('node:child_process').spawn(...a) };", file);
  return text.replace(/require\('(node:[a-z_/]+)'\)/g, "__gitmlRequire('$1')");
}

/**
 * core/targets/index.ts imports the docker and kubernetes targets through a variable (so tsc
 * does not follow them); in the bundle they must be chunks, so the specifiers are written out.
 */
function targetsText(text, file) {
  text = patch(text, 'import(dockerModule)', "import('./docker.js')", file);
  return patch(text, 'import(kubernetesModule)', "import('./kubernetes.js')", file);
}

const plugins = [
  {
    name: 'gitml-sources',
    setup(b) {
      // commander's own ES module wrapper (named exports over its CommonJS), bundled.
      b.onResolve({ filter: /^commander$/ }, () => ({ path: path.join(commanderDir, 'esm.mjs') }));
      b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => ({ contents: commanderText(readFileSync(args.path, 'utf8'), args.path), loader: 'js' }));
      b.onLoad({ filter: /[\\/]core[\\/]targets[\\/]index\.ts$/ }, (args) => ({ contents: targetsText(readFileSync(args.path, 'utf8'), args.path), loader: 'ts' }));
    },
  },
];

/**
 * What `gitml runs` (the command run most, and in scripts) loads, placed in one chunk. With
 * plain splitting esbuild cuts the modules shared between lazily loaded parts into a chunk per
 * set of parts sharing them: `gitml runs --where ... --limit 10` loaded 25 files, and each ES
 * module costs a new process a read, a compile and a link (at 100,000 runs, 12 ms of CPU
 * against the same code as one file). So every entry of the bundle (cli/main.ts and every module
 * the source loads with import()) is made to import these too: they then share the same set of
 * entries and land in one chunk. Nothing runs sooner for it: main.ts loads this group first,
 * before any other part can be loaded.
 */
const HOT = ['cli/program.ts', 'cli/commands/index.ts', 'cli/commands/runs.ts', 'cli/output.ts', 'cli/util.ts', 'core/runs/list.ts', 'commander'];
const HOT_NS = 'gitml-hot';

const options = (extra) => ({
  entryPoints: { main: path.join(root, 'cli/main.ts') },
  outdir: OUT_DIR,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Stack traces (GITML_DEBUG=1) point into the TypeScript sources (bin/gitml.js turns source maps on).
  sourcemap: true,
  banner: { js: "import { createRequire as __gitmlCreateRequire } from 'node:module';\nconst __gitmlRequire = __gitmlCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  ...extra,
});

/** The bundle's entries: cli/main.ts and every file imported with import() (a first build finds them). */
async function entries() {
  const r = await build(options({ write: false, metafile: true, plugins, logLevel: 'silent' }));
  const out = new Set([path.join(root, 'cli/main.ts')]);
  for (const input of Object.values(r.metafile.inputs)) for (const im of input.imports) if (im.kind === 'dynamic-import' && !im.external) out.add(path.resolve(root, im.path));
  return out;
}

export async function bundle() {
  const entry = await entries();
  const hot = {
    name: 'gitml-hot',
    setup(b) {
      b.onResolve({ filter: /^gitml-hot$/ }, () => ({ path: HOT_NS, namespace: HOT_NS }));
      b.onLoad({ filter: /.*/, namespace: HOT_NS }, () => ({
        contents: HOT.map((m) => `import ${JSON.stringify(m === 'commander' ? m : path.join(root, m))};`).join('\n'),
        resolveDir: root,
        loader: 'js',
      }));
      // Every entry imports the group (last, after its own imports).
      b.onLoad({ filter: /\.(ts|tsx|mjs|js)$/ }, (args) => {
        if (!entry.has(args.path)) return undefined;
        const loaded = pluginLoad(args.path);
        return { ...loaded, contents: `${loaded.contents}\nimport 'gitml-hot';\n` };
      });
    },
  };
  return build(options({ plugins: [hot, ...plugins] }));
}

/** A file's contents as the other plugins (or esbuild) would load it. */
function pluginLoad(file) {
  let text = readFileSync(file, 'utf8');
  if (/[\\/]commander[\\/]lib[\\/]command\.js$/.test(file)) text = commanderText(text, file);
  if (/[\\/]core[\\/]targets[\\/]index\.ts$/.test(file)) text = targetsText(text, file);
  const ext = path.extname(file).slice(1);
  return { contents: text, loader: ext === 'mjs' ? 'js' : ext };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(OUT_DIR, { recursive: true, force: true });
  await bundle();
}
