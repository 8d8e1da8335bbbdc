/**
 * `gitml serve --docker --sample-log FILE` mounts FILE into the container, whose user is uid
 * 1000. It used to chmod FILE 0666 whatever it was (`--sample-log ~/.bashrc` made the user's
 * shell start-up file writable by every local user). Now an existing file is never changed, and
 * a new one is writable by the container's user without being writable by all (where the uid
 * allows: gitml as root chowns it, gitml as uid 1000 owns it already).
 */
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { prepareSampleLog } from '../../core/package/serve.js';
import { removeDir, tmpDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const scratch = () => {
  const d = tmpDir('gitml-sample-log-');
  dirs.push(d);
  return d;
};

describe('the sample log file of gitml serve --docker', () => {
  test('an existing file the container cannot write is refused and left as it was', () => {
    const file = path.join(scratch(), 'profile');
    writeFileSync(file, 'export PATH=/usr/bin\n');
    chmodSync(file, 0o644);
    const before = statSync(file);
    expect(() => prepareSampleLog(file, 1000, 1000)).toThrow(expect.objectContaining({ code: 'SERVE' }));
    const after = statSync(file);
    expect(after.mode & 0o777).toBe(0o644);
    expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
  });

  test('an existing file writable by the container user is used as is', () => {
    const file = path.join(scratch(), 'samples.jsonl');
    writeFileSync(file, '');
    chmodSync(file, 0o666);
    expect(() => prepareSampleLog(file, 1000, 1000)).not.toThrow();
    expect(statSync(file).mode & 0o777).toBe(0o666);
  });

  test('a new file (in a new folder) is created, writable by the container user, not by everyone', () => {
    const file = path.join(scratch(), 'nested', 'samples.jsonl');
    prepareSampleLog(file, 1000, 1000);
    expect(existsSync(file)).toBe(true);
    const st = statSync(file);
    const me = process.getuid!();
    if (me === 0 || me === 1000) {
      expect(st.mode & 0o002).toBe(0);
      expect(st.uid).toBe(1000);
    } else {
      expect(st.mode & 0o002).toBe(0o002); // the only way another uid's container can append
    }
  });
});
