import { afterAll, expect, test } from 'vitest';
import { GitmlError } from '../../core/errors.js';
import { pushTags } from '../../core/registry/push.js';
import { git, makeRepo, removeDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

test('a token in the remote URL never reaches the error of a failed tag push', async () => {
  const dir = makeRepo({ 'a.txt': 'a\n' });
  dirs.push(dir);
  git(dir, 'tag', '-a', '-m', 'v', 'iris@v0.0.1');
  // Nothing listens on port 1: git fails to connect, and its own message repeats the URL.
  const remote = 'https://ci-bot:s3cr3t-t0ken@127.0.0.1:1/models.git';
  const err = await pushTags({ dir, tags: ['iris@v0.0.1'], remote }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitmlError);
  const e = err as GitmlError;
  expect(e.code).toBe('REMOTE');
  expect(e.message).toContain('https://ci-bot:***@127.0.0.1:1/models.git');
  expect(JSON.stringify({ message: e.message, data: e.data })).not.toContain('s3cr3t');
});
