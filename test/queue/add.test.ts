// The daemon's way of queueing (from the entities it already read at the commit) makes the
// same entry as `gitml queue add` (which prepares a run): same id, compute, concurrency and
// resolved params, so an entry the daemon queued and one added by hand are one entry.
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initRepo } from '../../core/init.js';
import { addToQueue } from '../../core/queue/add.js';
import { affectedExperiments } from '../../core/triggers/affected.js';
import { git, removeDir, tmpDir } from '../support/repo.js';

let parent: string;
let dir: string;
beforeAll(async () => {
  parent = tmpDir();
  dir = path.join(parent, 'demo');
  Object.assign(process.env, { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' });
  await initRepo({ dir, template: 'python' });
  writeFileSync(path.join(dir, 'gitml/compute/local.yaml'), 'kind: ComputeTarget\ntype: local\nconcurrency: 3\n');
  git(dir, 'commit', '-qam', 'local runs three at a time');
});
afterAll(() => removeDir(parent));

it('from the entities read at the commit: the entry gitml queue add makes', async () => {
  const commit = git(dir, 'rev-parse', 'HEAD');
  const r = await affectedExperiments({ dir, branch: 'main', commit, previous: git(dir, 'rev-parse', 'HEAD~1') });
  if (!r.ok) throw new Error('invalid entities');
  const [fast] = await addToQueue({ dir, experiment: 'train', rev: commit, branch: 'main', entities: r.entities, trigger: { kind: 'daemon' } });
  const [slow] = await addToQueue({ dir, experiment: 'train', rev: commit, branch: 'main', trigger: { kind: 'queue' } });
  expect(fast.added).toBe(true);
  expect(slow.added).toBe(false); // the same key: the same entry
  expect(slow.entry).toEqual(fast.entry);
  expect(fast.entry).toMatchObject({ compute: 'local', concurrency: 3, params: { lr: 0.5, epochs: 200, test_size: 0.3, seed: 42 } });
  await expect(addToQueue({ dir, experiment: 'nope', rev: commit, entities: r.entities })).rejects.toMatchObject({ code: 'UNKNOWN_ENTITY' });
});
