/**
 * Small git helpers shared by the engine: repository discovery, revision parsing, and a
 * promise wrapper around the git CLI with argument arrays (never a shell).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from "node:fs";
import path from 'node:path';
import { GitmlError } from './errors.js';

export interface GitResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Run git with arguments; resolves even when git fails (check `code`). */
export function runGit(dir: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; maxBuffer?: number } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: dir, env: opts.env ?? process.env, maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(new GitmlError('IO', `cannot run git: ${err.message}`, { args }));
          return;
        }
        resolve({ stdout, stderr, code: err ? Number((err as { code?: number }).code ?? 1) : 0 });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run git and return stdout, throwing a GitmlError with git's own message on failure. */
export async function git(dir: string, args: string[], opts: Parameters<typeof runGit>[2] = {}): Promise<string> {
  const r = await runGit(dir, args, opts);
  if (r.code !== 0) throw new GitmlError('IO', `git ${args[0]} failed: ${r.stderr.trim() || `exit ${r.code}`}`, { args, code: r.code });
  return r.stdout;
}

/** The working-tree root containing `cwd` (the folder holding .git). */
export async function findRepoRoot(cwd: string): Promise<string> {
  let dir = path.resolve(cwd);
  if (!existsSync(dir)) throw new GitmlError('NOT_A_REPO', `${cwd} does not exist`, { dir: cwd });
  for (;;) {
    if (existsSync(path.join(dir, '.git'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) {
      throw new GitmlError('NOT_A_REPO', `${path.resolve(cwd)} is not inside a git repository (run \`gitml init\` to create one)`, { dir: cwd });
    }
    dir = up;
  }
}

/** The git directory of a working tree (follows a `.git` file for worktrees and submodules). */
export function gitDir(dir: string): string {
  const dotgit = path.join(dir, '.git');
  if (existsSync(dotgit) && statSync(dotgit).isFile()) {

    const text = readFileSync(dotgit, "utf8");
    const m = /^gitdir:\s*(.+)$/m.exec(text);
    if (m) return path.resolve(dir, m[1].trim());
  }
  return dotgit;
}

/** Resolve any revision git understands (HEAD~2, a tag, a short id) to a full commit id. */
export async function resolveCommit(dir: string, rev: string): Promise<string> {
  if (rev.startsWith('-')) throw new GitmlError('USAGE', `invalid revision ${JSON.stringify(rev)}`, { rev });
  // A full commit id (what gitml passes around once resolved) is checked through the shared
  // `git cat-file --batch` reader instead of a `git rev-parse` child of its own.
  if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(rev)) {
    const { catFile } = await import('./runs/git/catfile.js');
    const o = await catFile(dir).read(`${rev}^{commit}`).catch(() => undefined);
    if (o?.type === 'commit') return o.oid;
    if (o === null) throw new GitmlError('UNKNOWN_REVISION', `unknown revision ${JSON.stringify(rev)}: no such commit in this repository`, { rev });
  }
  const r = await runGit(dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]);
  if (r.code !== 0) throw new GitmlError('UNKNOWN_REVISION', `unknown revision ${JSON.stringify(rev)}: no such commit, branch or tag`, { rev });
  return r.stdout.trim();
}
