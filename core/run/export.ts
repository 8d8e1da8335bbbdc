/**
 * Export a commit's tree to a folder, byte for byte as committed: `git ls-tree` then one
 * `git cat-file --batch` for every blob (two git processes whatever the size of the tree).
 * Unlike `git archive`, no .gitattributes rule (export-ignore, export-subst) alters the
 * code a run sees. Symlinks are created only when they stay inside the folder.
 */
import { spawn } from 'node:child_process';
import { mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import { git } from '../git.js';
import { safeJoin, safeRelPosix } from '../paths.js';

export interface Entry {
  mode: string;
  oid: string;
  path: string;
}

/** Read many blobs through one `git cat-file --batch`, calling `onBlob` in request order. */
export async function readBlobs(dir: string, oids: string[], onBlob: (i: number, content: Buffer) => Promise<void> | void): Promise<void> {
  if (oids.length === 0) return;
  const child = spawn('git', ['cat-file', '--batch'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((res, rej) => {
    child.on('error', (e) => rej(new GitmlError('IO', `cannot run git: ${e.message}`)));
    child.on('close', (code) => res(code ?? 1));
  });
  child.stdin.on('error', () => {});
  child.stdin.end(oids.join('\n') + '\n');
  let buf: Buffer = Buffer.alloc(0);
  let i = 0;
  let want = -1; // bytes of content (plus its trailing LF) still awaited for blob i
  for await (const chunk of child.stdout) {
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
    for (;;) {
      if (want < 0) {
        const nl = buf.indexOf(10);
        if (nl < 0) break;
        const header = buf.subarray(0, nl).toString('utf8');
        const m = /^([0-9a-f]+) (\w+) (\d+)$/.exec(header);
        if (!m) throw new GitmlError('IO', `git cat-file: unexpected answer ${JSON.stringify(header)} for ${oids[i]}`);
        want = Number(m[3]);
        buf = buf.subarray(nl + 1);
      }
      if (buf.length < want + 1) break;
      await onBlob(i++, Buffer.from(buf.subarray(0, want)));
      buf = buf.subarray(want + 1);
      want = -1;
    }
  }
  const code = await exited;
  if (code !== 0 || i !== oids.length) throw new GitmlError('IO', `git cat-file failed: ${stderr.trim() || `exit ${code}`}`);
}

/** One `git ls-tree -r` of a commit: every blob and symlink (submodules are reported apart). */
export interface TreeListing {
  commit: string;
  entries: Entry[];
  submodules: string[];
}

export async function listTree(dir: string, commit: string): Promise<TreeListing> {
  const ls = await git(dir, ['ls-tree', '-r', '-z', '--full-tree', commit], { maxBuffer: 1 << 30 });
  const entries: Entry[] = [];
  const submodules: string[] = [];
  for (const rec of ls.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, oid] = rec.slice(0, tab).split(' ');
    const p = rec.slice(tab + 1);
    if (type === 'commit') submodules.push(p);
    else entries.push({ mode, oid, path: safeRelPosix(p) });
  }
  return { commit, entries, submodules };
}

/**
 * Write the tree of `commit` into `dest` (created). Returns any warnings (symlinks that
 * would escape, submodules that are not exported). Pass `listing` when already known.
 */
export async function exportTree(opts: { dir: string; commit: string; dest: string; listing?: TreeListing }): Promise<{ warnings: string[] }> {
  const listing = opts.listing ?? (await listTree(opts.dir, opts.commit));
  const entries = listing.entries;
  const warnings: string[] = listing.submodules.map((p) => `gitml: warning: submodule ${p} is not exported`);
  await mkdir(opts.dest, { recursive: true });
  const dirs = new Set<string>();
  for (const e of entries) dirs.add(path.posix.dirname(e.path));
  for (const d of [...dirs].sort()) if (d !== '.') await mkdir(safeJoin(opts.dest, d), { recursive: true });
  const links: Array<{ at: string; target: string; path: string }> = [];
  await readBlobs(
    opts.dir,
    entries.map((e) => e.oid),
    async (i, content) => {
      const e = entries[i];
      const full = safeJoin(opts.dest, e.path);
      if (e.mode === '120000') links.push({ at: full, target: content.toString('utf8'), path: e.path });
      else await writeFile(full, content, { mode: e.mode === '100755' ? 0o755 : 0o644 });
    },
  );
  // Symlinks last, and only those that resolve inside the tree: a committed link to
  // /etc or ../.. must not let a run (or the artifact collector) reach outside.
  for (const l of links) {
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(l.path), l.target));
    if (path.posix.isAbsolute(l.target) || resolved === '..' || resolved.startsWith('../')) {
      warnings.push(`gitml: warning: symlink ${l.path} -> ${l.target} points outside the repository and was not exported`);
      continue;
    }
    await symlink(l.target, l.at);
  }
  // A lexically safe link can still escape through another link (`d -> .`, `x -> d/..`):
  // check where each one really lands once all exist.
  if (links.length) {
    const root = await realpath(opts.dest);
    for (const l of links) {
      let real: string;
      try {
        real = await realpath(l.at);
      } catch {
        continue; // dangling: points at nothing, reaches nothing
      }
      if (real !== root && !real.startsWith(root + path.sep)) {
        await rm(l.at, { force: true });
        warnings.push(`gitml: warning: symlink ${l.path} -> ${l.target} resolves outside the repository and was not exported`);
      }
    }
  }
  return { warnings };
}
