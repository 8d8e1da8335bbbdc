/**
 * Turning a run's inputs to the store into git objects: metric series into one TSV blob per
 * metric, and an outputs folder into artifacts (inline blobs up to the threshold, the artifact
 * store beyond it). Symlinks that point outside the outputs folder are refused.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import type { ArtifactRef, MetricPoint } from './types.js';
import type { RunsRepo } from './backend.js';
import type { ArtifactStore } from './artifact-store.js';
import { MODE_EXEC, MODE_FILE, MODE_TREE, type TreeEntry } from './git/objects.js';
import { METRICS_FILE, METRICS_HEADER, escapeMetricName } from './layout.js';

export interface SeriesResult {
  /** The `metrics.tsv` blob entry, or undefined when there were no points. */
  entry?: TreeEntry;
  finals: Record<string, number>;
  points: number;
}

class SeriesBuilder {
  private lines: string[] = [];
  private escaped = new Map<string, string>();
  finals: Record<string, number> = {};
  points = 0;
  private fallbackTime = Date.now();

  add(p: Partial<MetricPoint> | null | undefined, index: number): void {
    if (!p || typeof p.name !== 'string' || p.name === '' || p.name.length > 200) return;
    const raw = p.value as unknown;
    let value: number;
    if (typeof raw === 'number') value = raw;
    else if (raw === null) value = NaN; // JSON cannot carry NaN; writers send null
    else if (typeof raw === 'string' && raw.trim() !== '' && !Number.isNaN(Number(raw))) value = Number(raw);
    else return;
    const step = typeof p.step === 'number' && Number.isFinite(p.step) ? p.step : index;
    const ts = typeof p.timestamp === 'number' && Number.isFinite(p.timestamp) ? p.timestamp : this.fallbackTime;
    let esc = this.escaped.get(p.name);
    if (esc === undefined) this.escaped.set(p.name, (esc = escapeMetricName(p.name)));
    this.lines.push(`${esc}\t${step}\t${ts}\t${value}`);
    this.finals[p.name] = value;
    this.points++;
  }

  /** A point already in text form (the fast path for JSON-lines files). */
  addText(name: string, step: string, ts: string, valueText: string, value: number): void {
    let esc = this.escaped.get(name);
    if (esc === undefined) this.escaped.set(name, (esc = escapeMetricName(name)));
    this.lines.push(esc + '\t' + step + '\t' + ts + '\t' + valueText);
    this.finals[name] = value;
    this.points++;
  }

  write(repo: RunsRepo): SeriesResult {
    if (this.lines.length === 0) return { finals: this.finals, points: 0 };
    const oid = repo.writeBlob(METRICS_HEADER + this.lines.join('\n') + '\n');
    return { entry: { mode: MODE_FILE, name: METRICS_FILE, oid }, finals: this.finals, points: this.points };
  }
}

const NUM_RE = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/** Where the value of `"key":` starts in a JSON line, or -1. */
function valueStart(line: string, key: string): number {
  const needle = `"${key}"`;
  let i = line.indexOf(needle);
  while (i >= 0) {
    let j = i + needle.length;
    while (line.charCodeAt(j) === 32) j++;
    if (line.charCodeAt(j) === 58 /* : */) {
      j++;
      while (line.charCodeAt(j) === 32) j++;
      return j;
    }
    i = line.indexOf(needle, i + 1);
  }
  return -1;
}

function numberAt(line: string, key: string): string | undefined {
  const j = valueStart(line, key);
  if (j < 0) return undefined;
  let k = j;
  while (k < line.length && line[k] !== ',' && line[k] !== '}') k++;
  const tok = line.slice(j, k).trimEnd();
  return tok === 'null' ? 'NaN' : NUM_RE.test(tok) ? tok : undefined;
}

/**
 * The common line shape `{"name": "loss", "value": 0.3, "step": 2, "timestamp": 1700000000000}`
 * (any key order) read without building objects or reformatting numbers: a million points must
 * record in a few seconds. Anything unusual returns false and goes through JSON.parse.
 */
function fastLine(b: SeriesBuilder, line: string): boolean {
  // A torn last line ("...,\"timestamp\": 17") must not pass as a shorter number.
  if (line.charCodeAt(line.length - 1) !== 125 /* } */ && line.trimEnd().slice(-1) !== '}') return false;
  const n = valueStart(line, 'name');
  if (n < 0 || line[n] !== '"') return false;
  const close = line.indexOf('"', n + 1);
  if (close < 0) return false;
  const name = line.slice(n + 1, close);
  if (name === '' || name.includes('\\') || name.length > 200) return false;
  const value = numberAt(line, 'value');
  const step = numberAt(line, 'step');
  const ts = numberAt(line, 'timestamp');
  if (value === undefined || step === undefined || ts === undefined || step === 'NaN' || ts === 'NaN') return false;
  b.addText(name, step, ts, value, Number(value));
  return true;
}

/** Metric points from an iterable and/or a JSON-lines file, as git objects. */
export function buildSeries(repo: RunsRepo, metrics?: Iterable<MetricPoint>, metricsFile?: string): SeriesResult {
  const b = new SeriesBuilder();
  let i = 0;
  if (metrics) for (const p of metrics) b.add(p, i++);
  if (metricsFile) {
    let text: string;
    try {
      text = readFileSync(metricsFile, 'utf8');
    } catch (e) {
      throw new GitmlError('IO', `cannot read metrics file ${metricsFile}: ${(e as Error).message}`, { file: metricsFile });
    }
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (end > start + 1) {
        const line = text.slice(start, end);
        if (!fastLine(b, line)) {
          try {
            b.add(JSON.parse(line) as MetricPoint, i);
          } catch {
            /* a torn or foreign line: skip it, keep the rest */
          }
        }
      }
      i++;
      start = end + 1;
    }
  }
  return b.write(repo);
}

const BAD_NAME = /[\n\r\0\\]/;

function checkArtifactName(rel: string): void {
  for (const seg of rel.split('/')) {
    if (seg === '' || seg === '.' || seg === '..' || seg.toLowerCase() === '.git' || BAD_NAME.test(seg)) {
      throw new GitmlError('PATH_ESCAPE', `output ${JSON.stringify(rel)} has a name that cannot be stored`, { path: rel });
    }
  }
}

export interface CollectedOutputs {
  artifacts: ArtifactRef[];
  /** The `artifacts` subtree entry when some artifacts are inline. */
  tree?: TreeEntry;
}

/** Collect every file under `outputsDir`. */
export async function collectOutputs(repo: RunsRepo, store: ArtifactStore, outputsDir: string, inlineMaxBytes: number): Promise<CollectedOutputs> {
  let root: string;
  try {
    root = realpathSync(outputsDir);
  } catch {
    return { artifacts: [] };
  }
  const files: Array<{ rel: string; abs: string; exec: boolean; size: number }> = [];
  const seen = new Set<string>();
  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  const walk = (absDir: string, relDir: string) => {
    const real = realpathSync(absDir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const d of readdirSync(absDir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const abs = path.join(absDir, d.name);
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      checkArtifactName(rel);
      let st = lstatSync(abs);
      if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(abs);
        } catch {
          continue; // dangling link: nothing to store
        }
        if (!inside(target)) {
          throw new GitmlError('PATH_ESCAPE', `output ${JSON.stringify(rel)} is a symlink to ${target}, outside the outputs folder`, { path: rel, target });
        }
        st = statSync(abs);
      }
      if (st.isDirectory()) walk(abs, rel);
      else if (st.isFile()) files.push({ rel, abs, exec: (st.mode & 0o111) !== 0, size: st.size });
    }
  };
  walk(root, '');
  const artifacts: ArtifactRef[] = [];
  const inline: Array<{ path: string; oid: string; mode: string }> = [];
  for (const f of files) {
    if (f.size <= inlineMaxBytes) {
      const buf = readFileSync(f.abs);
      const sha256 = createHash('sha256').update(buf).digest('hex');
      inline.push({ path: f.rel, oid: repo.writeBlob(buf), mode: f.exec ? MODE_EXEC : MODE_FILE });
      artifacts.push({ path: f.rel, size: buf.length, sha256, storage: 'inline' });
    } else {
      const { sha256, size } = await store.putFile(f.abs);
      artifacts.push({ path: f.rel, size, sha256, storage: 'store' });
    }
  }
  return { artifacts, tree: inline.length ? { mode: MODE_TREE, name: 'artifacts', oid: repo.buildTree(inline) } : undefined };
}
