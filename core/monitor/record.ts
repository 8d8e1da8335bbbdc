/**
 * Recording a drift report on the status branch, so drift over time is a `git log`:
 *   monitor/<service>/reports/<yyyy-mm>/<timestamp>-<report id>.json   every report
 *   monitor/<service>/latest.json                                       the newest one
 * Commit trailers name the service, the report and whether it drifted.
 *
 * Example:
 *   const { commit } = await recordReport({ dir, report });
 *   // git log gitml-status -- monitor/iris/   lists every report of the iris service
 */
import { checkName } from './names.js';
import type { MonitorReport } from './report.js';
import { writeStatus } from '../status/branch.js';

export async function recordReport(o: { dir: string; report: MonitorReport; clock?: () => number }): Promise<{ branch: string; commit: string; path: string }> {
  const r = o.report;
  checkName(r.service);
  const now = new Date((o.clock ?? Date.now)());
  const month = now.toISOString().slice(0, 7);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const file = `monitor/${r.service}/reports/${month}/${stamp}-${r.id}.json`;
  const json = JSON.stringify({ recordedAt: now.toISOString(), ...r }, null, 2) + '\n';
  const what = r.noData ? 'no requests yet' : r.drifted ? `drift in ${[...r.driftedColumns, ...(r.prediction?.drifted ? ['prediction'] : [])].join(', ')}` : 'no drift';
  const message = `monitor ${r.service}: ${what} (${r.model}@${r.version})\n\nGitml-Service: ${r.service}\nGitml-Report: ${r.id}\nGitml-Drift: ${r.drifted ? 'yes' : 'no'}\nGitml-Drift-Share: ${r.driftShare.toFixed(4)}\n`;
  const w = await writeStatus({ dir: o.dir, files: { [file]: json, [`monitor/${r.service}/latest.json`]: json }, message, clock: o.clock });
  return { ...w, path: file };
}
