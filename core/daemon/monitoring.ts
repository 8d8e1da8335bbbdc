/**
 * The daemon monitors services on their schedule: every Service with `monitoring.every`
 * (e.g. `1h`) has its deployed replicas' sampled requests compared with its reference
 * (core/monitor), the report recorded on the status branch, and, when the drift share passes
 * `monitoring.retrain.threshold`, its retraining queued (core/monitor/retrain.ts: one at a
 * time per service, with its back-off after a failure; the daemon's worker runs it and then
 * registers and promotes by the policy). Passes run one at a time in the
 * background, so a monitor never holds up runs or deploys. When each service was last
 * monitored is kept in the daemon's folder, so a restart does not monitor everything again.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isGitmlError } from '../errors.js';
import { loadEntities } from '../entities/load.js';
import { parseDuration } from '../monitor/requests.js';
import type { DaemonEvent } from './daemon.js';

const errInfo = (e: unknown) => (isGitmlError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) });

export interface MonitorScheduleOptions {
  dir: string;
  /** The daemon's state folder (last monitor time per service). */
  ddir: string;
  log: (e: DaemonEvent) => void;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** A retraining was queued: the daemon claims it without waiting for its next pass. */
  onQueued?: () => void;
}

export class MonitorSchedule {
  private running: Promise<void> | undefined;
  private readonly file: string;

  constructor(private readonly o: MonitorScheduleOptions) {
    this.file = path.join(o.ddir, 'monitor.json');
  }

  private readLast(): Record<string, number> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private writeLast(last: Record<string, number>): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(last) + '\n');
    renameSync(tmp, this.file);
  }

  /** Start a monitoring pass of the services that are due (unless one is still going). */
  tick(): void {
    this.running ??= this.pass()
      .catch((e: unknown) => this.o.log({ event: 'monitor-failed', error: errInfo(e) }))
      .finally(() => (this.running = undefined));
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async pass(): Promise<void> {
    const now = this.o.now ?? Date.now;
    const loaded = await loadEntities({ dir: this.o.dir });
    if (!loaded.value) return; // invalid YAML in the working tree: `gitml validate` says why
    const last = this.readLast();
    for (const svc of [...loaded.value.services.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const every = (svc.spec.monitoring as { every?: string } | undefined)?.every;
      if (!every) continue;
      if (last[svc.name] !== undefined && now() - last[svc.name] < parseDuration(every)) continue;
      last[svc.name] = now();
      this.writeLast(last);
      await this.monitorOne(svc.name);
    }
  }

  private async monitorOne(service: string): Promise<void> {
    const { monitorService } = await import('../monitor/report.js');
    const { recordReport } = await import('../monitor/record.js');
    let report;
    try {
      report = await monitorService({ dir: this.o.dir, service });
    } catch (e) {
      this.o.log({ event: 'monitor-failed', service, error: errInfo(e) });
      return;
    }
    const recorded = await recordReport({ dir: this.o.dir, report }).catch((e: unknown) => {
      this.o.log({ event: 'monitor-failed', service, error: errInfo(e) });
      return undefined;
    });
    this.o.log({ event: 'monitored', service, id: report.id, rows: report.current.rows, drifted: report.driftedColumns, driftShare: report.driftShare, ...(recorded ? { recorded: recorded.path } : {}) });
    if (report.noData || report.driftedColumns.length === 0) return;
    const { queueRetraining } = await import('../monitor/retrain.js');
    try {
      // Through the queue: the run takes its turn with the others on the compute's concurrency,
      // survives a restart of the daemon, and its worker registers (and promotes) the model.
      const r = await queueRetraining({ dir: this.o.dir, service, report, env: this.o.env });
      if (r.action !== 'no-policy' && r.action !== 'below-threshold') this.o.log({ event: 'retrain', service, action: r.action, message: r.message, ...(r.entry ? { entry: r.entry } : {}) });
      if (r.action === 'queued') this.o.onQueued?.();
    } catch (e) {
      this.o.log({ event: 'monitor-failed', service, error: errInfo(e) });
    }
  }
}
