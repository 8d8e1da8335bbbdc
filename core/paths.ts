import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GitmlError } from './errors.js';

let root: string | undefined;

/** The installed gitml package folder (holds schemas/ and templates/), from source or from dist/. */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'gitml') return (root = dir);
      } catch {
        /* keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new GitmlError('INTERNAL', 'cannot locate the gitml package folder');
    dir = up;
  }
}

export const schemasDir = (): string => path.join(packageRoot(), 'schemas');
export const templatesDir = (): string => path.join(packageRoot(), 'templates');

export function packageVersion(): string {
  return JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
}

/**
 * Join `rel` under `base` and refuse anything that would land outside it (`..`, absolute
 * paths, NUL bytes). Used for every path that comes from YAML, archives or run records.
 */
export function safeJoin(base: string, rel: string): string {
  if (rel.includes('\0')) throw new GitmlError('PATH_ESCAPE', `path ${JSON.stringify(rel)} contains a NUL byte`, { path: rel });
  if (path.isAbsolute(rel) || /^[a-zA-Z]:[\\/]/.test(rel)) {
    throw new GitmlError('PATH_ESCAPE', `path ${JSON.stringify(rel)} must be relative to ${base}`, { path: rel, base });
  }
  const full = path.resolve(base, rel);
  const b = path.resolve(base);
  if (full !== b && !full.startsWith(b + path.sep)) {
    throw new GitmlError('PATH_ESCAPE', `path ${JSON.stringify(rel)} escapes its folder ${base}`, { path: rel, base });
  }
  return full;
}

/** The same check for POSIX paths inside git trees and archives (always '/'-separated). */
export function safeRelPosix(rel: string): string {
  const norm = path.posix.normalize(rel.replace(/\\/g, '/'));
  if (rel.includes('\0') || path.posix.isAbsolute(norm) || norm === '..' || norm.startsWith('../')) {
    throw new GitmlError('PATH_ESCAPE', `path ${JSON.stringify(rel)} escapes its folder`, { path: rel });
  }
  return norm === '.' ? '' : norm;
}
