/**
 * Tar archives to and from the Docker engine's archive API (build contexts, `putArchive`,
 * `getArchive`), in memory or streamed, never through a shell. Extraction refuses entries
 * that would land outside the destination and symlinks that point outside it, since a run's
 * outputs are written by untrusted code.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rm, symlink, copyFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { GitmlError } from '../errors.js';
import { safeJoin, safeRelPosix } from '../paths.js';

export interface PackOptions {
  /** Prefix every entry name with this folder ('/'-separated, no leading slash). */
  prefix?: string;
  /** Owner recorded for every entry (the engine applies it when extracting as root). */
  uid?: number;
  gid?: number;
  /** Names skipped at any depth (default: ['.git']). */
  exclude?: string[];
  /** Extra in-memory files, '/'-separated names (after the prefix is applied to folder files). */
  extra?: Record<string, string | Buffer>;
  /** Leave out folder entries for which this returns true ('/'-separated path relative to `dir`). */
  ignore?: (rel: string, isDir: boolean) => boolean;
  /** Whether an ignored folder may still hold entries that are not ignored (`!` rules): then it is walked. */
  descendIgnored?: boolean;
}

/**
 * A tar stream of a host folder's contents, read lazily. Files keep their mode, symlinks stay
 * symlinks (never followed), and every entry is owned by `uid:gid`.
 *
 * @example
 *   await container.putArchive(packFolder(job.codeDir, { prefix: 'code', uid: 1000, gid: 1000 }), { path: '/gitml' });
 */
export function packFolder(dir: string | undefined, opts: PackOptions = {}): Readable {
  const pack = tar.pack();
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? 0;
  const exclude = new Set(opts.exclude ?? ['.git']);
  const prefix = opts.prefix ? safeRelPosix(opts.prefix) : '';
  const name = (rel: string) => (prefix ? (rel ? `${prefix}/${rel}` : prefix) : rel);
  const mtime = new Date();
  const entry = (header: Partial<tar.Header> & { name: string }, body?: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body === undefined) pack.entry(header, done);
      else pack.entry(header, body, done);
    });

  const walk = async (abs: string, rel: string): Promise<void> => {
    const ents = await readdir(abs, { withFileTypes: true });
    ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of ents) {
      if (exclude.has(ent.name)) continue;
      const full = path.join(abs, ent.name);
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      const st = await lstat(full);
      if (opts.ignore?.(r, st.isDirectory())) {
        if (st.isDirectory() && opts.descendIgnored) await walk(full, r);
        continue;
      }
      if (st.isSymbolicLink()) {
        await entry({ name: name(r), type: 'symlink', linkname: await readlink(full), mode: 0o777, uid, gid, mtime });
      } else if (st.isDirectory()) {
        await entry({ name: `${name(r)}/`, type: 'directory', mode: st.mode & 0o7777, uid, gid, mtime });
        await walk(full, r);
      } else if (st.isFile()) {
        // Stream file bodies so a large code folder is never held in memory.
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ name: name(r), type: 'file', size: st.size, mode: st.mode & 0o7777, uid, gid, mtime }, (err) =>
            err ? reject(err) : resolve(),
          );
          pipeline(createReadStream(full), sink as unknown as NodeJS.WritableStream).catch(reject);
        });
      }
    }
  };

  (async () => {
    if (prefix) await entry({ name: `${prefix}/`, type: 'directory', mode: 0o755, uid, gid, mtime });
    if (dir) await walk(dir, '');
    for (const [rel, body] of Object.entries(opts.extra ?? {})) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      await entry({ name: safeRelPosix(rel), type: 'file', size: buf.length, mode: 0o644, uid, gid, mtime }, buf);
    }
    pack.finalize();
  })().catch((e) => pack.destroy(e as Error));
  return pack as unknown as Readable;
}

/** A tar of in-memory files, as one Buffer (a generated build context). */
export async function packFiles(files: Record<string, string | Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = packFolder(undefined, { extra: files });
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface ExtractResult {
  /** Files written, '/'-separated relative to the destination. */
  files: string[];
  /** Entries refused, with why (escaping paths, symlinks to outside, devices...). */
  refused: Array<{ path: string; reason: string }>;
}

export interface ExtractOptions {
  /** Drop this many leading path components of every entry. */
  strip?: number;
  /**
   * An entry whose name (or hard link source) escapes the destination: 'refuse' lists it in
   * `refused` and goes on (default), 'throw' stops with 'PATH_ESCAPE' (an archive that should
   * never contain one: it is damaged or forged).
   */
  onEscape?: 'refuse' | 'throw';
}

/**
 * Extract a tar stream into `dest`, dropping the first `strip` path components (the engine's
 * archive of /gitml/outputs names its entries `outputs/...`). The archive is untrusted (a run's
 * code chose its entries), so:
 * - nothing is ever written or read through a symlink: every parent of an entry must be a real
 *   folder, an entry is never written over an existing symlink, and a hard link's source must be
 *   a regular file reached through real folders;
 * - a symlink is created only when its target stays inside by its text, and once everything is
 *   extracted every symlink is resolved by the kernel and removed when it lands outside (a link
 *   through another link, `d/e/s/../..`, can leave the folder although its text stays inside);
 * - hard links become copies; devices, fifos and other types are refused; ownership and
 *   set-id bits are not applied.
 */
export async function extractTar(stream: NodeJS.ReadableStream, dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const strip = opts.strip ?? 0;
  await mkdir(dest, { recursive: true });
  const root = await realpath(dest);
  const result: ExtractResult = { files: [], refused: [] };
  const links: Array<{ full: string; norm: string; target: string }> = [];
  const extract = tar.extract();

  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  const escaped = (rel: string, reason: string, cause?: unknown) => {
    if (opts.onEscape === 'throw') {
      if (cause instanceof GitmlError) throw cause;
      throw new GitmlError('PATH_ESCAPE', `archive entry ${JSON.stringify(rel)}: ${reason}`, { path: rel });
    }
    result.refused.push({ path: rel, reason });
  };
  const isSymlink = async (p: string) => lstat(p).then((st) => st.isSymbolicLink(), () => false);

  // A path is used only when every existing parent is a real folder inside root (a symlinked
  // parent created by an earlier entry must not redirect later writes or reads).
  const parentsOk = async (full: string): Promise<boolean> => {
    let dir = path.dirname(full);
    const chain: string[] = [];
    while (dir !== root && inside(dir)) {
      chain.unshift(dir);
      dir = path.dirname(dir);
    }
    for (const d of chain) {
      try {
        const st = await lstat(d);
        if (!st.isDirectory()) return false;
      } catch {
        return true; // not created yet: mkdir below creates real folders
      }
    }
    return true;
  };

  const handle = async (header: tar.Header, body: NodeJS.ReadableStream): Promise<void> => {
    const parts = header.name.split('/').filter((s: string) => s !== '' && s !== '.');
    const rel = parts.slice(strip).join('/');
    const drain = () => new Promise<void>((resolve) => {
      body.on('end', resolve);
      body.resume();
    });
    if (!rel) return drain();
    let norm: string;
    let full: string;
    try {
      norm = safeRelPosix(rel);
      full = safeJoin(root, norm);
    } catch (e) {
      escaped(rel, 'path escapes the outputs folder', e);
      return drain();
    }
    if (!(await parentsOk(full))) {
      result.refused.push({ path: norm, reason: 'a parent folder is a symlink' });
      return drain();
    }
    if (header.type !== 'directory' && (await isSymlink(full))) {
      result.refused.push({ path: norm, reason: 'would write through a symlink' });
      return drain();
    }
    switch (header.type) {
      case 'directory':
        await mkdir(full, { recursive: true });
        return drain();
      case 'file':
      case 'contiguous-file': {
        await mkdir(path.dirname(full), { recursive: true });
        await pipeline(body, createWriteStream(full, { mode: (header.mode ?? 0o644) & 0o755 }));
        result.files.push(norm);
        return;
      }
      case 'symlink': {
        const target = header.linkname ?? '';
        const resolved = path.resolve(path.dirname(full), target);
        if (path.isAbsolute(target) || target.includes('\0') || !inside(resolved) || resolved === root) {
          result.refused.push({ path: norm, reason: `symlink to ${target}, outside the outputs folder` });
          return drain();
        }
        await mkdir(path.dirname(full), { recursive: true });
        await symlink(target, full);
        links.push({ full, norm, target });
        result.files.push(norm);
        return drain();
      }
      case 'link': {
        // A hard link to an entry extracted earlier: copy it if that entry is a regular file
        // inside, reached through real folders only (lstat follows a symlinked parent).
        const linkname = header.linkname ?? '';
        let src: string;
        try {
          const srcParts = linkname.split('/').filter((s: string) => s !== '' && s !== '.');
          src = safeJoin(root, safeRelPosix(srcParts.slice(strip).join('/')));
        } catch (e) {
          escaped(norm, `hard link to ${linkname}, outside the outputs folder`, e);
          return drain();
        }
        if (!(await parentsOk(src)) || !(await lstat(src).then((st) => st.isFile(), () => false))) {
          result.refused.push({ path: norm, reason: `hard link to ${linkname}, not a file in the outputs folder` });
          return drain();
        }
        await mkdir(path.dirname(full), { recursive: true });
        await copyFile(src, full);
        result.files.push(norm);
        return drain();
      }
      default:
        result.refused.push({ path: norm, reason: `${header.type} entries are not collected` });
        return drain();
    }
  };

  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      handle(header, body as unknown as NodeJS.ReadableStream).then(() => next(), (e) => {
        extract.destroy(e as Error);
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    (stream as Readable).on('error', reject);
    (stream as Readable).pipe(extract as unknown as NodeJS.WritableStream);
  }).catch((e) => {
    if (e instanceof GitmlError) throw e;
    throw new GitmlError('IO', `cannot extract an archive into ${dest}: ${(e as Error).message}`, { dest }, { cause: e });
  });

  // Now that every link exists, resolve each one as the kernel does: a link that lands outside
  // (or on the folder itself) goes, whatever its text said.
  for (const l of links) {
    let real: string | undefined;
    try {
      real = await realpath(l.full);
    } catch {
      real = undefined; // dangling: reaches nothing
    }
    if (real !== undefined && (real === root || !inside(real))) {
      await rm(l.full, { force: true });
      result.files = result.files.filter((f) => f !== l.norm);
      result.refused.push({ path: l.norm, reason: `symlink to ${l.target}, which resolves outside the outputs folder` });
    }
  }
  return result;
}

/**
 * A `.dockerignore` as the docker CLI applies it: one pattern per line, `#` comments, `!`
 * exceptions, the last matching rule wins, and a pattern that matches a folder excludes
 * everything under it. Returns the predicate for packFolder's `ignore`, and whether ignored
 * folders must still be walked (when there are exceptions).
 */
export async function dockerignore(text: string): Promise<{ ignore: (rel: string) => boolean; descendIgnored: boolean }> {
  const { default: picomatch } = await import('picomatch');
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const neg = l.startsWith('!');
      const pat = path.posix.normalize((neg ? l.slice(1) : l).trim().replace(/^\/+/, '')).replace(/\/+$/, '');
      return { neg, match: picomatch(pat, { dot: true }) };
    })
    .filter((r) => r.match !== undefined);
  const ignore = (rel: string): boolean => {
    const parts = rel.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const r of rules) if (prefixes.some((p) => r.match(p))) ignored = !r.neg;
    return ignored;
  };
  return { ignore, descendIgnored: rules.some((r) => r.neg) };
}
