/**
 * core/docker/tar.ts extractTar against forged archives (no engine needed): whatever the
 * entries, nothing is written or read outside the destination, and no link leading outside is
 * left in it. The engine's own archives come from a real filesystem (unique names), but the
 * extractor is the one place that must not trust its input.
 */
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { extractTar } from '../../core/docker/tar.js';
import { escapeLink, forgedLayout, tarOf as tarBuffer, type Entry } from '../support/forged-tar.js';
import { removeDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

const tarOf = async (entries: Entry[]) => Readable.from([await tarBuffer(entries)]);
const layout = () => forgedLayout('gitml-tar-forged-', dirs);

describe('extractTar of a forged archive', () => {
  test('a hard link entry named like an earlier escaping symlink does not write through it', async () => {
    const { dest, victim } = layout();
    const tar = await tarOf([
      { name: 'orig.txt', body: 'payload' },
      ...escapeLink.slice(0, 3),
      { name: 'z', type: 'symlink', linkname: 'd/e/s/../../victim/secret.txt' },
      { name: 'z', type: 'link', linkname: 'orig.txt' },
    ]);
    const r = await extractTar(tar, dest);
    expect(readFileSync(path.join(victim, 'secret.txt'), 'utf8')).toBe('host secret');
    expect(r.refused.map((x) => x.path)).toContain('z');
  });

  test('a hard link whose source is reached through an escaping symlink copies nothing from the host', async () => {
    const { dest } = layout();
    const r = await extractTar(await tarOf([...escapeLink, { name: 'stolen.txt', type: 'link', linkname: 'y/secret.txt' }]), dest);
    expect(existsSync(path.join(dest, 'stolen.txt'))).toBe(false);
    expect(r.refused.map((x) => x.path)).toContain('stolen.txt');
  });

  test('a symlink that escapes only by the kernel\'s resolution is not left in the folder', async () => {
    const { dest } = layout();
    const r = await extractTar(await tarOf([...escapeLink, { name: 'ok.txt', body: 'fine' }]), dest);
    expect(existsSync(path.join(dest, 'y'))).toBe(false);
    expect(r.refused.map((x) => x.path)).toContain('y');
    expect(readFileSync(path.join(dest, 'ok.txt'), 'utf8')).toBe('fine');
    // the inner link stays: it resolves inside
    expect(lstatSync(path.join(dest, 'd/e/s')).isSymbolicLink()).toBe(true);
    expect(readdirSync(dest).sort()).toEqual(['d', 'ok.txt']);
  });
});
