import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { environmentDigest } from '../../core/environments/digest.js';
import type { Environment } from '../../core/entities/types.js';
import { removeDir, tmpDir, writeFiles } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const folder = (files: Record<string, string>) => {
  const d = tmpDir();
  dirs.push(d);
  writeFiles(d, files);
  return d;
};

describe('environmentDigest', () => {
  it('ignores key order, name and description; changes with any content', async () => {
    const d = folder({ 'requirements.txt': 'scikit-learn==1.2\n' });
    const a: Environment = { kind: 'Environment', image: 'base:1', pip: ['x'], requirements: 'requirements.txt' };
    const b = { requirements: 'requirements.txt', pip: ['x'], image: 'base:1', kind: 'Environment', name: 'n', description: 'd' } as Environment;
    const da = await environmentDigest(a, d);
    expect(da).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await environmentDigest(b, d)).toBe(da);
    expect(await environmentDigest({ ...a, pip: ['y'] }, d)).not.toBe(da);
    writeFileSync(path.join(d, 'requirements.txt'), 'scikit-learn==1.3\n');
    expect(await environmentDigest(a, d)).not.toBe(da);
  });

  it('hashes the Dockerfile and every file of its context', async () => {
    const d = folder({ 'docker/Dockerfile': 'FROM base\n', 'docker/app/x.py': 'print(1)\n' });
    const e: Environment = { kind: 'Environment', dockerfile: 'docker/Dockerfile' };
    const d1 = await environmentDigest(e, d);
    writeFileSync(path.join(d, 'docker/app/x.py'), 'print(2)\n');
    const d2 = await environmentDigest(e, d);
    expect(d2).not.toBe(d1);
    writeFileSync(path.join(d, 'outside.txt'), 'not in the context');
    expect(await environmentDigest(e, d)).toBe(d2);
  });

  it('refuses a missing referenced file or an escaping path', async () => {
    const d = folder({ 'a.txt': 'x' });
    await expect(environmentDigest({ kind: 'Environment', requirements: 'nope.txt' }, d)).rejects.toMatchObject({ code: 'INVALID_ENTITIES' });
    await expect(environmentDigest({ kind: 'Environment', requirements: '../etc/passwd' }, d)).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });
});
