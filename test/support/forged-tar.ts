/**
 * Forged tar archives for the extractors' tests (docker outputs, kube outputs): entries of any
 * kind and order, and a host folder next to the destination that nothing may reach.
 *
 * The trick of `escapeLink`: `y` looks like `d/victim` when its `..` are resolved as text, but
 * `d/e/s` is itself a link to `../../d`, so the kernel takes `y` to `<dest>/../victim`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpDir } from './repo.js';

export type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; body?: string };

export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const { pack } = await import('tar-stream');
  const p = pack();
  for (const e of entries) {
    if (e.type === 'file' || e.type === undefined) p.entry({ name: e.name }, e.body ?? '');
    else p.entry({ name: e.name, type: e.type, linkname: e.linkname });
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** base/out is the destination; base/victim, a host folder next to it holding secret.txt. */
export function forgedLayout(prefix: string, dirs: string[]): { base: string; dest: string; victim: string } {
  const base = tmpDir(prefix);
  dirs.push(base);
  const victim = path.join(base, 'victim');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'secret.txt'), 'host secret');
  return { base, dest: path.join(base, 'out'), victim };
}

export const escapeLink: Entry[] = [
  { name: 'd/', type: 'directory' },
  { name: 'd/e/', type: 'directory' },
  { name: 'd/e/s', type: 'symlink', linkname: '../../d' },
  { name: 'y', type: 'symlink', linkname: 'd/e/s/../../victim' },
];
