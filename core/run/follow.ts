/**
 * Follow a run from another process: print its live log from the start and as it grows,
 * until the run is final (`gitml runs show ID --follow`, `gitml run --detach` then follow).
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { GitmlError } from '../errors.js';
import { FINAL_STATUSES } from '../runs/types.js';
import { livePaths, pidAlive, readLiveStatus, type LiveStatus } from './live.js';

export async function followRun(opts: {
  dir: string;
  runId: string;
  onLog: (chunk: string) => void;
  signal?: AbortSignal;
  pollMs?: number;
}): Promise<LiveStatus> {
  const paths = livePaths(opts.dir, opts.runId);
  const poll = opts.pollMs ?? 100;
  let status = readLiveStatus(opts.dir, opts.runId);
  if (!status) {
    throw new GitmlError('RUN_NOT_FOUND', `run ${opts.runId} is not running on this machine (no live log in .git/gitml/live); see \`gitml runs show ${opts.runId}\``, {
      id: opts.runId,
    });
  }
  let pos = 0;
  const buf = Buffer.alloc(1 << 16);
  const dec = new TextDecoder('utf-8');
  const drain = async () => {
    let fh;
    try {
      fh = await open(paths.log, 'r');
    } catch {
      return; // not created yet
    }
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        opts.onLog(dec.decode(buf.subarray(0, bytesRead), { stream: true }));
      }
    } finally {
      await fh.close();
    }
  };
  let deadChecks = 0;
  for (;;) {
    await drain();
    status = readLiveStatus(opts.dir, opts.runId) ?? status;
    if (FINAL_STATUSES.includes(status.status)) {
      await drain();
      return status;
    }
    if (opts.signal?.aborted) return status;
    if (!pidAlive(status.pid)) {
      // The status file may have been replaced between our read and the check: look twice.
      if (++deadChecks > 2) {
        await drain();
        let tail = '';
        try {
          tail = readFileSync(paths.worker, 'utf8').trim().split('\n').slice(-5).join('\n');
        } catch {
          tail = '';
        }
        return { ...status, status: 'failed', error: `the process running it (pid ${status.pid}) exited without recording a final status${tail ? `:\n${tail}` : ''}` };
      }
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}
