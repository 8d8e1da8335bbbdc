/**
 * `gitml init`: scaffolds a workspace (gitml.yaml, an experiment, compute targets `local` and
 * `docker`, an environment, a model and a service, training code and data) into a new or
 * existing repository and makes the first commit. Never overwrites a file unless asked.
 *
 * @example
 *   await initRepo({ dir: '/tmp/demo', template: 'python' });
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError } from './errors.js';
import { git, runGit } from './git.js';
import { schemasDir, templatesDir } from './paths.js';

export const TEMPLATES = ['sklearn', 'python'] as const;
export type TemplateName = (typeof TEMPLATES)[number];

export interface InitOptions {
  dir: string;
  template?: TemplateName;
  /** Project name; default: the folder name, made valid. */
  name?: string;
  /** Overwrite files that already exist. */
  force?: boolean;
  /** Skip the commit (files are left staged). */
  commit?: boolean;
}

export interface InitResult {
  dir: string;
  created: boolean;
  files: string[];
  commit?: string;
  /** Set when git had no identity configured and gitml committed as itself. */
  fallbackIdentity?: boolean;
}

const ENV_OF: Record<TemplateName, string> = { sklearn: 'sklearn', python: 'python' };

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, r)));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

export function projectName(dir: string): string {
  const base = path.basename(path.resolve(dir)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  return base || 'gitml-project';
}

export async function initRepo(opts: InitOptions): Promise<InitResult> {
  const template = opts.template ?? 'sklearn';
  if (!TEMPLATES.includes(template)) {
    throw new GitmlError('USAGE', `unknown template ${JSON.stringify(template)} (known: ${TEMPLATES.join(', ')})`);
  }
  const dir = path.resolve(opts.dir);
  const name = opts.name ?? projectName(dir);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
    throw new GitmlError('USAGE', `project name ${JSON.stringify(name)} must use lowercase letters, digits, '.', '_' and '-'`);
  }
  if (existsSync(dir) && !(await stat(dir)).isDirectory()) throw new GitmlError('USAGE', `${dir} exists and is not a folder`);
  await mkdir(dir, { recursive: true });

  const created = !existsSync(path.join(dir, '.git'));
  if (created) await git(dir, ['init', '-q', '-b', 'main']);

  // Plan every file first so a conflict leaves the folder untouched.
  const plan = new Map<string, () => Promise<Buffer>>();
  const render = (text: string) => text.replaceAll('{{project}}', name).replaceAll('{{environment}}', ENV_OF[template]);
  for (const layer of ['common', template]) {
    const root = path.join(templatesDir(), 'init', layer);
    for (const rel of await listFiles(root)) {
      const target = rel === 'gitignore' ? '.gitignore' : rel;
      const src = path.join(root, rel);
      plan.set(target, async () => (/\.(ya?ml|py|md)$/.test(rel) ? Buffer.from(render(await readFile(src, 'utf8'))) : readFile(src)));
    }
  }
  for (const f of await readdir(schemasDir())) {
    if (f.endsWith('.schema.json')) plan.set(`.gitml/schemas/${f}`, () => readFile(path.join(schemasDir(), f)));
  }
  const conflicts = [...plan.keys()].filter((rel) => existsSync(path.join(dir, rel)) && rel !== '.gitignore' && !rel.startsWith('.gitml/schemas/'));
  if (conflicts.length > 0 && !opts.force) {
    throw new GitmlError('USAGE', `refusing to overwrite existing files in ${dir}: ${conflicts.join(', ')} (use --force to replace them)`, { conflicts });
  }

  const files: string[] = [];
  for (const [rel, content] of plan) {
    const full = path.join(dir, rel);
    await mkdir(path.dirname(full), { recursive: true });
    if (rel === '.gitignore' && existsSync(full)) {
      // Add our lines to an existing .gitignore instead of replacing it.
      const have = await readFile(full, 'utf8');
      const add = (await content()).toString().split('\n').filter((l) => l && !have.split('\n').includes(l));
      if (add.length) await writeFile(full, have.replace(/\n?$/, '\n') + add.join('\n') + '\n');
    } else {
      await writeFile(full, await content());
    }
    files.push(rel);
  }
  files.sort();

  if (opts.commit === false) return { dir, created, files };
  await git(dir, ['add', '--', ...files]);
  const identity = await runGit(dir, ['var', 'GIT_COMMITTER_IDENT']);
  const fallbackIdentity = identity.code !== 0;
  const args = fallbackIdentity ? ['-c', 'user.name=gitml', '-c', 'user.email=gitml@localhost'] : [];
  await git(dir, [...args, 'commit', '-q', '-m', `gitml init (template: ${template})`, '--', ...files]);
  const commit = (await git(dir, ['rev-parse', 'HEAD'])).trim();
  return { dir, created, files, commit, fallbackIdentity };
}

