/**
 * Services from the status branch: `services/<name>/status.json` (written by the service
 * reconciler: desired and running version, conditions) and the last drift report
 * `monitor/<name>/latest.json` (gitml monitor --record). Both are read loosely: the view shows
 * what a file has and says so when a file cannot be read, rather than hiding the service.
 */
import { listStatusDir, readStatusFile } from '../../../core/status/branch.js';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface ServiceRow {
  name: string;
  desired?: string;
  running?: string;
  conditions: Condition[];
  drift?: { drifted: boolean; columns: string[]; at?: string; id?: string };
  /** A file that is present but not the expected JSON. */
  problem?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

function versionOf(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object') return str(v);
  const o = v as Record<string, unknown>;
  return str(o.version) ?? str(o.tag) ?? str(o.image);
}

async function readJson(dir: string, file: string): Promise<{ value?: Record<string, unknown>; problem?: string }> {
  const buf = await readStatusFile(dir, file);
  if (!buf) return {};
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? { value: v as Record<string, unknown> } : { problem: `${file} is not a JSON object` };
  } catch {
    return { problem: `${file} is not valid JSON` };
  }
}

/** Every service with a status or a monitoring report, by name; [] when nothing was deployed. */
export async function loadServices(dir: string): Promise<ServiceRow[]> {
  const names = new Set([...(await listStatusDir(dir, 'services')), ...(await listStatusDir(dir, 'monitor'))]);
  const rows: ServiceRow[] = [];
  for (const name of [...names].sort()) {
    const [status, report] = await Promise.all([readJson(dir, `services/${name}/status.json`), readJson(dir, `monitor/${name}/latest.json`)]);
    const s = status.value ?? {};
    const conds = Array.isArray(s.conditions) ? s.conditions : [];
    const row: ServiceRow = {
      name,
      desired: versionOf(s.desired),
      running: versionOf(s.running ?? s.actual ?? s.current),
      conditions: conds
        .filter((c): c is Record<string, unknown> => Boolean(c) && typeof c === 'object')
        .map((c) => ({ type: str(c.type) ?? '?', status: str(c.status) ?? '?', reason: str(c.reason), message: str(c.message) })),
      problem: status.problem ?? report.problem,
    };
    const r = report.value;
    if (r) row.drift = { drifted: r.drifted === true, columns: Array.isArray(r.driftedColumns) ? r.driftedColumns.map(String) : [], at: str(r.time) ?? str(r.createdAt) ?? str(r.at), id: str(r.id) };
    rows.push(row);
  }
  return rows;
}
