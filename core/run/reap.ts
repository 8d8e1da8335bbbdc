/**
 * Runs whose gitml process died without a final record (SIGKILL, the OOM killer, a power cut)
 * would stay `running` on the runs branch forever. The live status file names the process doing
 * the work; when that process is gone, the run is recorded `failed` with what its log had so
 * far. `gitml run` and `gitml runs` call this, so a lost run is settled the next time anyone
 * looks. Only processes of this host are judged, and only runs the branch still shows unfinished.
 */
import { closeSync, existsSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { isGitmlError } from '../errors.js';
import { pidAlive } from '../pid.js';
import { FINAL_STATUSES, type RunRecord } from '../runs/types.js';
import { liveDir, livePaths, readLiveStatus, writeLiveStatus } from './live.js';

export interface ReapOptions {
  /**
   * Runs the caller knows have ended although their process lives (the daemon that ran them
   * could not record their result: a full disk), with the reason to record.
   */
  ended?: ReadonlyMap<string, string>;
  /** The runs store configuration, when the caller has it (saves reading gitml.yaml). */
  config?: import('../runs/config.js').RunStoreConfig;
  now?: () => number;
}

/** The ids of the runs this call recorded as failed. Never throws: a reader must still read. */
export async function reapLostRuns(repoDir: string, opts: ReapOptions = {}): Promise<string[]> {
  let files: string[];
  try {
    files = readdirSync(liveDir(repoDir)).filter((f) => f.endsWith('.json') && !f.includes('.tmp'));
  } catch {
    return [];
  }
  const host = hostname();
  const lost = files
    .map((f) => readLiveStatus(repoDir, f.slice(0, -'.json'.length)))
    .filter((s) => s && !FINAL_STATUSES.includes(s.status) && (s.host ?? host) === host && (opts.ended?.has(s.id) || !pidAlive(s.pid)));
  const reaped: string[] = [];
  for (const s of lost) {
    if (!s) continue;
    const paths = livePaths(repoDir, s.id);
    // One reaper per run: the claim file is created exclusively and removed when done.
    const claim = `${paths.status}.reap`;
    const fd = takeClaim(claim, (opts.now ?? Date.now)());
    if (fd === undefined) continue;
    try {
      closeSync(fd);
      const { getRun } = await import('../runs/get.js');
      const { recordRun } = await import('../runs/record.js');
      let current: { record: RunRecord } | undefined;
      try {
        current = await getRun({ dir: repoDir, id: s.id, ...(opts.config ? { config: opts.config } : {}) });
      } catch (e) {
        // Not on the branch: it never reached it. Anything else (a lock, a full disk): next time.
        if (!isGitmlError(e, 'RUN_NOT_FOUND')) throw e;
        current = undefined;
      }
      if (current && FINAL_STATUSES.includes(current.record.status)) {
        writeLiveStatus(repoDir, { ...s, status: current.record.status, endedAt: current.record.endedAt ?? new Date().toISOString() });
        continue;
      }
      if (!current) {
        // It died before its first record: nothing on the branch to settle, only the live status.
        writeLiveStatus(repoDir, { ...s, status: 'failed', endedAt: new Date((opts.now ?? Date.now)()).toISOString(), exitCode: null, error: 'lost before it was recorded' });
        continue;
      }
      const error = opts.ended?.get(s.id) ?? `lost: the gitml process running it (pid ${s.pid} on ${host}) ended without recording a result; its command may have gone on running`;
      // When it died is unknown (the log's last write says only when it last spoke): the record
      // ends now, when it was found lost, and has no duration.
      const { durationMs: _unknown, ...rest } = current.record;
      const record: RunRecord = { ...rest, status: 'failed', endedAt: new Date((opts.now ?? Date.now)()).toISOString(), exitCode: null, error };
      const rec = await recordRun({ dir: repoDir, record, ...(existsSync(paths.log) ? { logsFile: paths.log } : {}), ...(opts.config ? { config: opts.config } : {}) });
      writeLiveStatus(repoDir, { ...s, status: 'failed', endedAt: record.endedAt, exitCode: null, error, commit: rec.commit });
      reaped.push(s.id);
    } catch (e) {
      // Settled by a later call; a reader must still read.
      if (process.env.GITML_DEBUG) process.stderr.write(`gitml: could not settle lost run ${s.id}: ${(e as Error).stack ?? e}\n`);
    } finally {
      try {
        unlinkSync(claim);
      } catch {
        /* gone already */
      }
    }
  }
  return reaped;
}

/** Create the claim file exclusively; one left by a reaper that died over a minute ago is taken over. */
function takeClaim(file: string, now: number): number | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return openSync(file, 'wx');
    } catch {
      try {
        if (now - statSync(file).mtimeMs < 60_000) return undefined;
        unlinkSync(file);
      } catch {
        /* removed meanwhile: try again */
      }
    }
  }
  return undefined;
}
