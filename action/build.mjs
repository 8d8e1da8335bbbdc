// Bundles the Action's entry into action/dist/ (index.mjs and the chunks it loads on demand:
// the Kubernetes client only when a service deploys there, the S3 SDK only for an s3 store),
// which the runner runs with no node_modules (action.yml: runs.main).
// `node action/build.mjs --check` fails when the committed bundle differs from a fresh build.
import { build } from 'esbuild';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = path.join(root, 'action/dist');

export async function bundle({ write = true } = {}) {
  const r = await build({
    entryPoints: { index: path.join(root, 'action/main.ts') },
    outdir: OUT_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    write,
    legalComments: 'none',
    // Native add-ons of optional transports (ssh for remote Docker): absent, they are skipped at run time.
    external: ['cpu-features', 'ssh2', '*.node'],
    banner: { js: "import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);" },
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
  } else await bundle();
}
