/**
 * The training reference a service's requests are compared with: the Model's `reference:`
 * output of the run that produced the served version (rows of features and, optionally,
 * `prediction`), else its `sample:` output (a few rows; the report says how few).
 * Formats: a JSON list of records, `{columns, data}`, JSON lines, or CSV with a header.
 */
import { createHash } from 'node:crypto';
import { GitmlError, isGitmlError } from '../errors.js';
import { requireEntities } from '../entities/load.js';
import { findOutput } from '../registry/register.js';
import { resolveModelRef } from '../registry/resolve.js';
import { readArtifact } from '../runs/store.js';

export interface Reference {
  model: string;
  version: string;
  runId: string;
  /** Which output the rows came from, and whether it is the (small) sample. */
  source: { output: string; path: string; kind: 'reference' | 'sample' };
  rows: Array<Record<string, unknown>>;
}

export interface ServiceTarget {
  service: string;
  model: string;
  /** The ref resolved in the registry: `model#stage` or `model@vX.Y.Z`. */
  ref: string;
  monitoring: Record<string, unknown>;
}

/** The model ref and monitoring settings of a Service in the working tree. */
export async function serviceTarget(dir: string, service: string): Promise<ServiceTarget> {
  const ents = await requireEntities({ dir });
  const svc = ents.services.get(service);
  if (!svc) {
    const known = [...ents.services.keys()].sort();
    throw new GitmlError('UNKNOWN_ENTITY', `there is no service ${JSON.stringify(service)} in gitml/services/ (known: ${known.join(', ') || 'none'})`, { kind: 'Service', name: service, known });
  }
  const spec = svc.spec;
  const ref = spec.version ? `${spec.model}@${spec.version}` : `${spec.model}#${spec.stage ?? 'production'}`;
  return { service, model: spec.model, ref, monitoring: (spec.monitoring ?? {}) as Record<string, unknown> };
}

export async function loadReference(dir: string, ref: string): Promise<Reference> {
  const r = await resolveModelRef({ dir, ref });
  const ents = await requireEntities({ dir }).catch(() => undefined);
  const model = ents?.models.get(r.name)?.spec as { reference?: string; sample?: string } | undefined;
  const tries: Array<{ output: string; kind: 'reference' | 'sample' }> = [];
  if (model?.reference) tries.push({ output: model.reference, kind: 'reference' });
  if (model?.sample) tries.push({ output: model.sample, kind: 'sample' });
  for (const t of tries) {
    const art = findOutput(r.record, ents, t.output);
    if (!art) continue;
    let bytes: Buffer;
    try {
      bytes = await readArtifact({ dir, id: r.runId, path: art.path });
    } catch (e) {
      if (isGitmlError(e)) throw e;
      throw new GitmlError('IO', `the ${t.kind} data ${art.path} of run ${r.runId} cannot be read: ${(e as Error).message}`, { run: r.runId, path: art.path });
    }
    if (createHash('sha256').update(bytes).digest('hex') !== art.sha256) {
      throw new GitmlError('RUNS_BRANCH_CORRUPT', `the ${t.kind} data ${art.path} of run ${r.runId} does not match the digest its run recorded`, { run: r.runId, path: art.path });
    }
    const rows = parseRows(bytes.toString('utf8'), `${t.kind} ${art.path} of run ${r.runId}`);
    if (rows.length === 0) {
      throw new GitmlError('MONITOR', `${r.name}@${r.version}: the ${t.kind} data ${art.path} of run ${r.runId} has no rows to compare with: have the experiment write its training rows there`, { run: r.runId, path: art.path });
    }
    return { model: r.name, version: r.version, runId: r.runId, source: { output: t.output, path: art.path, kind: t.kind }, rows };
  }
  throw new GitmlError(
    'MONITOR',
    `${r.name}@${r.version}: run ${r.runId} has no reference data: set \`reference:\` (or \`sample:\`) in gitml/models/${r.name}.yaml to an output of the experiment holding training rows (JSON lines, JSON records or CSV)`,
    { model: r.name, version: r.version, run: r.runId },
  );
}

/** Rows from JSON records, `{columns, data}`, JSON lines or CSV (with a header). */
export function parseRows(text: string, what: string): Array<Record<string, unknown>> {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith('[') || (t.startsWith('{') && !t.includes('\n'))) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new GitmlError('MONITOR', `${what} is not valid JSON: ${(e as Error).message}`);
    }
    return recordsOf(v, what);
  }
  if (t.startsWith('{')) {
    const out: Array<Record<string, unknown>> = [];
    for (const [k, line] of t.split('\n').entries()) {
      if (!line.trim()) continue;
      try {
        const v = JSON.parse(line);
        if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v);
      } catch {
        throw new GitmlError('MONITOR', `${what}: line ${k + 1} is not a JSON object`);
      }
    }
    return out;
  }
  return parseCsv(t);
}

function recordsOf(v: unknown, what: string): Array<Record<string, unknown>> {
  if (Array.isArray(v)) return v.filter((r): r is Record<string, unknown> => !!r && typeof r === 'object' && !Array.isArray(r));
  if (v && typeof v === 'object') {
    const o = v as { columns?: unknown; data?: unknown };
    if (Array.isArray(o.columns) && Array.isArray(o.data)) {
      const cols = o.columns.map(String);
      return o.data.filter(Array.isArray).map((row: unknown[]) => Object.fromEntries(cols.map((c, i) => [c, row[i]])));
    }
    return [v as Record<string, unknown>];
  }
  throw new GitmlError('MONITOR', `${what} is neither a list of records nor {columns, data}`);
}

/** CSV with a header row (RFC 4180 quoting); numbers become numbers, empty cells missing. */
export function parseCsv(text: string): Array<Record<string, unknown>> {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  const [header, ...body] = rows;
  if (!header) return [];
  return body
    .filter((r) => r.length > 1 || r[0] !== '')
    .map((r) =>
      Object.fromEntries(
        header.map((h, i) => {
          const s = r[i] ?? '';
          if (s === '') return [h, null];
          const n = Number(s);
          return [h, Number.isFinite(n) && /^[\s+-]?[\d.]/.test(s) ? n : s];
        }),
      ),
    );
}
