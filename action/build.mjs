// Bundles the Action's entry into action/dist/ (index.mjs and the chunks core loads lazily:
// the Kubernetes client, the S3 SDK, isomorphic-git...), which the runner runs with no
// node_modules (action.yml: runs.main). Split, because compiling one 7 MB module costs the
// runner about a second on every job.
// `node action/build.mjs --check` fails when the committed bundle differs from a fresh build.
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/**
 * In split output esbuild hands a CommonJS package loaded with import() over as a bare default
 * export, where Node gives its named exports too (core does `(await import('isomorphic-git'))
 * .readTree`). Such imports go through a small ES module that names every export.
 */
/** The file as esbuild will bundle it is CommonJS (by extension, its package's type, or no ESM syntax). */
function isCommonJs(file) {
  if (file.endsWith('.cjs')) return true;
  if (file.endsWith('.mjs')) return false;
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pj = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pj.type === 'module') return false;
      break;
    } catch {
      /* keep walking up */
    }
  }
  return !/^\s*(export|import)\s[^(]/m.test(readFileSync(file, 'utf8'));
}

const cjsInterop = {
  name: 'gitml-cjs-interop',
  setup(b) {
    const req = createRequire(path.join(root, 'package.json'));
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.kind !== 'dynamic-import' || args.pluginData === 'interop') return undefined;
      const r = await b.resolve(args.path, { kind: 'dynamic-import', resolveDir: args.resolveDir, pluginData: 'interop' });
      if (r.errors.length || r.external || !isCommonJs(r.path)) return undefined;
      return { path: args.path, namespace: 'cjs-interop' };
    });
    b.onLoad({ filter: /.*/, namespace: 'cjs-interop' }, (args) => {
      const names = Object.keys(req(args.path)).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
      return { contents: `import m from ${JSON.stringify(args.path)};\nexport default m;\nexport const { ${names.join(', ')} } = m;\n`, loader: 'js', resolveDir: root };
    });
  },
};

export async function bundle({ write = true } = {}) {
  const r = await build({
    entryPoints: { index: path.join(root, 'action/main.ts') },
    outdir: OUT_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    minify: process.env.GITML_BUNDLE_DEBUG ? false : true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    write,
    legalComments: 'none',
    // Optional native add-ons (ssh2's crypto helpers): loaded in a try, absent, the pure-JS path runs.
    external: ['cpu-features', '*.node'],
    // CommonJS packages expect require, __filename and __dirname (ssh2 reads __dirname as it loads).
    banner: {
      js: "import{createRequire as __gitmlRequire}from'node:module';import{fileURLToPath as __gitmlPath}from'node:url';import{dirname as __gitmlDir}from'node:path';const require=__gitmlRequire(import.meta.url);const __filename=__gitmlPath(import.meta.url);const __dirname=__gitmlDir(__filename);",
    },
    plugins: [lazyRequires, cjsInterop],
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
