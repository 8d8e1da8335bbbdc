/**
 * The outputs tar in a pod log is written by the run's own code: it can read the marker nonce
 * from its parent's command line (/proc/PPID/cmdline), remove $GITML_OUTPUTS so the real block
 * is never printed, and print a block of its own. Whatever that tar holds, extraction on the
 * host must write only inside the outputs folder and read nothing outside it.
 *
 * The trick used here: a symlink whose target looks inside when its `..` are resolved by text
 * (`d/e/s/../../victim` → `d/victim`) but leaves the folder when the kernel resolves it, because
 * `d/e/s` is itself a link to a shallower folder (`../../d`).
 */
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { extractOutputs, extractTar, LogDemux } from '../../core/kube/outputs.js';
import { escapeLink, forgedLayout, tarOf } from '../support/forged-tar.js';
import { removeDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

const layout = () => forgedLayout('gitml-kube-forged-', dirs);

describe('a forged outputs tar from a pod log', () => {
  test('a file written through a link that escapes by the kernel\'s resolution lands nowhere outside', async () => {
    const { dest, victim } = layout();
    const tar = await tarOf([...escapeLink, { name: 'y/pwned.txt', body: 'evil' }]);
    await extractTar(tar, dest).catch(() => undefined);
    expect(readdirSync(victim)).toEqual(['secret.txt']);
    // and no link that leads outside is left behind for the collector
    expect(existsSync(path.join(dest, 'y')) && lstatSync(path.join(dest, 'y')).isSymbolicLink()).toBe(false);
  });

  test('a hard link through that escaping link does not copy a host file into the outputs', async () => {
    const { dest } = layout();
    const tar = await tarOf([...escapeLink, { name: 'stolen.txt', type: 'link', linkname: 'y/secret.txt' }]);
    await extractTar(tar, dest).catch(() => undefined);
    const stolen = path.join(dest, 'stolen.txt');
    expect(existsSync(stolen) ? readFileSync(stolen, 'utf8') : 'absent').not.toBe('host secret');
  });

  test('an entry written over an earlier symlink does not write through it', async () => {
    const { dest, victim } = layout();
    const tar = await tarOf([
      { name: 'orig.txt', body: 'payload' },
      ...escapeLink.slice(0, 3),
      { name: 'z', type: 'symlink', linkname: 'd/e/s/../../victim/secret.txt' },
      { name: 'z', type: 'link', linkname: 'orig.txt' },
      { name: 'z', body: 'overwritten' },
    ]);
    await extractTar(tar, dest).catch(() => undefined);
    expect(readFileSync(path.join(victim, 'secret.txt'), 'utf8')).toBe('host secret');
  });

  test('end to end: a forged block printed by the program, then collected with extractOutputs', async () => {
    const { base, victim } = layout();
    const tar = await tarOf([...escapeLink, { name: 'y/pwned.txt', body: 'evil' }, { name: 'stolen.txt', type: 'link', linkname: 'y/secret.txt' }, { name: 'ok.txt', body: 'fine' }]);
    const b64 = tar.toString('base64').match(/.{1,76}/g)!.join('\n');
    const demux = new LogDemux('n0nce', () => {});
    demux.push(`hello\n::gitml:n0nce:begin outputs tar ${tar.length}\n${b64}\n::gitml:n0nce:end outputs\n::gitml:n0nce:exit 0\n`);
    demux.end();
    const out = path.join(base, 'out2');
    const r = await extractOutputs({ demux, outputsDir: out, metricsPath: path.join(base, 'm.jsonl') }).catch((e: unknown) => e);
    expect(readdirSync(victim)).toEqual(['secret.txt']);
    expect(existsSync(path.join(out, 'stolen.txt')) ? readFileSync(path.join(out, 'stolen.txt'), 'utf8') : 'absent').not.toBe('host secret');
    if (!(r instanceof Error)) {
      expect(readFileSync(path.join(out, 'ok.txt'), 'utf8')).toBe('fine');
      expect((r as { warnings: string[] }).warnings.join('\n')).toMatch(/y/);
    }
  });
});
