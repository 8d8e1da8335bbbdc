/**
 * Live state of runs in progress, shared between processes through files under
 * `.git/gitml/live/`: `<run-id>.log` (the log as it is written) and `<run-id>.json` (status,
 * pid of the process doing the work). `gitml runs show ID --follow` tails them from any
 * process; the runs branch stays the record of truth once a run is final.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gitDir } from '../git.js';
import type { RunStatus } from '../runs/types.js';

export interface LiveStatus {
  id: string;
  experiment: string;
  status: RunStatus;
  /** Process doing the work (the CLI, or the detached worker). */
  pid: number;
  /** Host of that process: only there can its death be judged. */
  host?: string;
  startedAt: string;
  endedAt?: string;
  exitCode?: number | null;
  error?: string;
  /** runs-branch commit that recorded the final run. */
  commit?: string;
}

export function liveDir(repoDir: string): string {
  return path.join(gitDir(repoDir), 'gitml', 'live');
}

export function livePaths(repoDir: string, runId: string): { log: string; status: string; worker: string } {
  const d = liveDir(repoDir);
  return { log: path.join(d, `${runId}.log`), status: path.join(d, `${runId}.json`), worker: path.join(d, `${runId}.worker.log`) };
}

/** Replace the status file atomically (write then rename), so a reader never sees half of it. */
export function writeLiveStatus(repoDir: string, s: LiveStatus): void {
  const p = livePaths(repoDir, s.id).status;
  mkdirSync(path.dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s) + '\n');
  renameSync(tmp, p);
}

export function readLiveStatus(repoDir: string, runId: string): LiveStatus | undefined {
  try {
    return JSON.parse(readFileSync(livePaths(repoDir, runId).status, 'utf8')) as LiveStatus;
  } catch {
    return undefined;
  }
}

export { pidAlive } from '../pid.js';
