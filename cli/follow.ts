/**
 * `gitml runs show ID --follow`: print a run's log live (from `.git/gitml/live/`, written by
 * whichever process runs it: a terminal, a detached worker, the daemon) until it is final,
 * then show the recorded run. The exit status mirrors the run's: 0 completed, 1 failed or
 * timed out, 130 canceled.
 */
import { readdirSync } from 'node:fs';
import { EXIT, GitmlError } from '../core/errors.js';
import { printJson } from './output.js';

const EXIT_FOR: Record<string, number> = { completed: EXIT.OK, failed: EXIT.FAILURE, timed_out: EXIT.FAILURE, canceled: EXIT.INTERRUPTED };

export async function followCommand(opts: {
  dir: string;
  id: string;
  json?: boolean;
  render: (record: import('../core/runs/types.js').RunRecord, commit: string) => string;
}): Promise<void> {
  const { findRepoRoot } = await import('../core/git.js');
  const { liveDir, readLiveStatus } = await import('../core/run/live.js');
  const { followRun } = await import('../core/run/follow.js');
  const { getRun } = await import('../core/runs/get.js');
  const repo = await findRepoRoot(opts.dir);
  // A detached run may not be on the branch yet: resolve the id (or a prefix) from the live files first.
  let id = opts.id;
  let live: string[] = [];
  try {
    live = readdirSync(liveDir(repo)).filter((f) => f.endsWith('.json') && f.startsWith(opts.id)).map((f) => f.slice(0, -5));
  } catch {
    live = [];
  }
  if (live.length > 1) throw new GitmlError('USAGE', `run id prefix ${JSON.stringify(opts.id)} is ambiguous: ${live.slice(0, 5).join(', ')}`, { id: opts.id });
  if (live.length === 1) id = live[0];
  else id = (await getRun({ dir: repo, id: opts.id })).record.id;

  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  let status: string | undefined;
  try {
    if (readLiveStatus(repo, id)) {
      const out = opts.json ? process.stderr : process.stdout;
      const s = await followRun({ dir: repo, runId: id, onLog: (chunk) => out.write(chunk), signal: ac.signal });
      status = s.status;
      if (ac.signal.aborted) {
        process.exitCode = EXIT.INTERRUPTED;
        return; // stopped following; the run goes on
      }
      if (s.error && !s.commit) {
        process.stderr.write(`gitml: ${s.error}\n`);
        process.exitCode = EXIT_FOR[s.status] ?? EXIT.FAILURE;
        return;
      }
    }
  } finally {
    process.off('SIGINT', stop);
  }
  const { record, commit } = await getRun({ dir: repo, id });
  if (opts.json) printJson({ ...record, commit });
  else process.stdout.write('\n' + opts.render(record, commit));
  process.exitCode = EXIT_FOR[status ?? record.status] ?? EXIT.OK;
}
