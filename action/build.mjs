// Bundles the Action's entry into action/dist/index.mjs, one file the runner runs with no
// node_modules (action.yml: runs.main). Not split into chunks: esbuild's split chunks hand a
// CommonJS package imported with import() over as a bare default export, which breaks core's
// lazy imports (isomorphic-git, dockerode); one minified file loads in a fraction of a second.
// `node action/build.mjs --check` fails when the committed bundle differs from a fresh build.
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = path.join(root, 'action/dist');

/**
 * core loads a few packages lazily through createRequire (yaml, ajv's runtime), which esbuild
 * cannot follow; as plain require() calls it bundles them, so the bundle needs no node_modules.
 */
const lazyRequires = {
  name: 'gitml-lazy-requires',
  setup(b) {
    b.onLoad({ filter: /core[\\/]entities[\\/](parse|schemas|validators\.generated)\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
        .replace(/const require = createRequire\(import\.meta\.url\);/g, '')
        .replace(/createRequire\(import\.meta\.url\)\(/g, 'require(');
      return { contents: text, loader: 'ts' };
    });
  },
};

export async function bundle({ write = true } = {}) {
  const r = await build({
    entryPoints: { index: path.join(root, 'action/main.ts') },
    outdir: OUT_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    minify: process.env.GITML_BUNDLE_DEBUG ? false : true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    write,
    legalComments: 'none',
    // Optional native add-ons (ssh2's crypto helpers): loaded in a try, absent, the pure-JS path runs.
    external: ['cpu-features', '*.node'],
    banner: { js: "import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);" },
    plugins: [lazyRequires],
    logLevel: 'warning',
  });
  return write ? undefined : r.outputFiles;
}

/** Names of files that differ between a fresh build and action/dist/ (empty: up to date). */
export async function staleFiles() {
  const fresh = new Map((await bundle({ write: false })).map((f) => [path.relative(OUT_DIR, f.path), Buffer.from(f.contents)]));
  let have = [];
  try {
    have = readdirSync(OUT_DIR);
  } catch {
    /* no bundle yet */
  }
  const out = [];
  for (const [name, bytes] of fresh) {
    let committed;
    try {
      committed = readFileSync(path.join(OUT_DIR, name));
    } catch {
      committed = undefined;
    }
    if (!committed || !committed.equals(bytes)) out.push(name);
  }
  for (const name of have) if (!fresh.has(name)) out.push(name);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = await staleFiles();
    if (stale.length) {
      console.error(`action/dist/ is stale (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', ...' : ''}): run \`npm run build:action\` and commit it`);
      process.exit(1);
    }
  } else {
    rmSync(OUT_DIR, { recursive: true, force: true });
    await bundle();
  }
}
