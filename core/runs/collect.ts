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

/** Output bytes of metrics.tsv, grown as needed. */
class ByteWriter {
  buf: Buffer;
  len = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, size));
  }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  str(s: string): void {
    this.ensure(Buffer.byteLength(s) + 1);
    this.len += this.buf.write(s, this.len, 'utf8');
  }
  bytes(src: Buffer, a: number, b: number): void {
    this.ensure(b - a);
    // Tokens are a few bytes: a loop beats the native copy call.
    const out = this.buf;
    let l = this.len;
    for (let x = a; x < b; x++) out[l++] = src[x];
    this.len = l;
  }
  byte(c: number): void {
    this.ensure(1);
    this.buf[this.len++] = c;
  }
}

/** A metric seen by the byte-level fast path: its name, and where its last value is. */
interface FastName {
  name: string;
  src: Buffer;
  start: number;
  end: number;
  last: [number, number];
  seq: number;
}

class SeriesBuilder {
  private out = new ByteWriter(64 * 1024);
  private escaped = new Map<string, string>();
  private finalsSlow = new Map<string, { value: number; seq: number }>();
  private fastNames: FastName[] = [];
  private seq = 0;
  points = 0;
  private fallbackTime = Date.now();

  constructor() {
    this.out.str(METRICS_HEADER);
  }

  reserve(n: number): void {
    this.out.ensure(n);
  }

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
    this.out.str(`${esc}\t${step}\t${ts}\t${value}\n`);
    this.finalsSlow.set(p.name, { value, seq: this.seq++ });
    this.points++;
  }

  /** A point from the fast path: byte ranges of `src` (value null when the JSON said null). */
  addBytes(src: Buffer, name: [number, number], step: [number, number], ts: [number, number], value: [number, number] | null): void {
    const o = this.out;
    o.bytes(src, name[0], name[1]);
    o.byte(9);
    o.bytes(src, step[0], step[1]);
    o.byte(9);
    o.bytes(src, ts[0], ts[1]);
    o.byte(9);
    if (value) o.bytes(src, value[0], value[1]);
    else o.str('NaN');
    const nlen = name[1] - name[0];
    let known: FastName | undefined;
    for (const f of this.fastNames) {
      if (f.end - f.start !== nlen) continue;
      let same = true;
      for (let x = 0; x < nlen; x++) {
        if (f.src[f.start + x] !== src[name[0] + x]) {
          same = false;
          break;
        }
      }
      if (same) {
        known = f;
        break;
      }
    }
    if (!known) {
      known = { name: src.toString('utf8', name[0], name[1]), src, start: name[0], end: name[1], last: [0, 0], seq: 0 };
      this.fastNames.push(known);
    }
    known.last = value ? [value[0], value[1]] : [-1, -1];
    known.seq = this.seq++;
    o.byte(10);
    this.points++;
  }

  /** Too many distinct names for the linear lookup above: the fast path steps aside. */
  get fastFull(): boolean {
    return this.fastNames.length >= 256;
  }

  finals(): Record<string, number> {
    const all: Array<[string, number, number]> = [];
    for (const [name, v] of this.finalsSlow) all.push([name, v.value, v.seq]);
    for (const f of this.fastNames) all.push([f.name, f.last[0] < 0 ? NaN : Number(f.src.toString('latin1', f.last[0], f.last[1])), f.seq]);
    all.sort((a, b) => a[2] - b[2]);
    const out: Record<string, number> = {};
    for (const [name, value] of all) out[name] = value;
    return out;
  }

  write(repo: RunsRepo): SeriesResult {
    const finals = this.finals();
    if (this.points === 0) return { finals, points: 0 };
    const oid = repo.writeBlob(this.out.buf.subarray(0, this.out.len));
    return { entry: { mode: MODE_FILE, name: METRICS_FILE, oid }, finals, points: this.points };
  }
}

const Q = 0x22;
const BACKSLASH = 0x5c;

function isNumByte(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;
}

/** Which of the four keys the byte range [a, b) spells: 1 name, 2 value, 3 step, 4 timestamp, 0 other. */
function keyId(buf: Buffer, a: number, b: number): number {
  const n = b - a;
  const c = buf[a];
  if (n === 4 && c === 110 && buf[a + 1] === 97 && buf[a + 2] === 109 && buf[a + 3] === 101) return 1; // name
  if (n === 5 && c === 118 && buf[a + 1] === 97 && buf[a + 2] === 108 && buf[a + 3] === 117 && buf[a + 4] === 101) return 2; // value
  if (n === 4 && c === 115 && buf[a + 1] === 116 && buf[a + 2] === 101 && buf[a + 3] === 112) return 3; // step
  if (n === 9 && c === 116 && buf.toString('latin1', a, b) === 'timestamp') return 4;
  return 0;
}

/**
 * The common line shape `{"name": "loss", "value": 0.3, "step": 2, "timestamp": 1700000000000}`
 * (any key order, other flat keys ignored), lexed byte by byte and copied through without
 * building objects or strings or reformatting numbers: a million points must record in a few
 * seconds. Anything unusual (escapes, nesting, a torn line) returns false and goes through
 * JSON.parse.
 */
function fastLine(sb: SeriesBuilder, b: Buffer, s: number, e: number): boolean {
  let i = s;
  while (i < e && b[i] === 32) i++;
  if (b[i] !== 123 /* { */) return false;
  i++;
  let name: [number, number] | undefined;
  let value: [number, number] | null | undefined;
  let step: [number, number] | undefined;
  let ts: [number, number] | undefined;
  for (;;) {
    while (i < e && b[i] === 32) i++;
    if (b[i] === 125 /* } */) break;
    if (b[i] !== Q) return false;
    const ka = ++i;
    while (i < e && b[i] !== Q) {
      if (b[i] === BACKSLASH) return false;
      i++;
    }
    if (i >= e) return false;
    const key = keyId(b, ka, i);
    i++;
    while (i < e && b[i] === 32) i++;
    if (b[i] !== 58 /* : */) return false;
    i++;
    while (i < e && b[i] === 32) i++;
    const va = i;
    if (b[i] === Q) {
      i++;
      while (i < e && b[i] !== Q) {
        if (b[i] === BACKSLASH || b[i] < 32) return false;
        i++;
      }
      if (i >= e) return false;
      if (key === 1) {
        if (i === va + 1 || i - va > 201) return false;
        name = [va + 1, i];
      } else if (key !== 0) return false;
      i++;
    } else {
      while (i < e && b[i] !== 44 && b[i] !== 125 && b[i] !== 32) i++;
      const vb = i;
      if (vb === va) return false;
      const isNull = vb - va === 4 && b[va] === 110 && b[va + 1] === 117 && b[va + 2] === 108 && b[va + 3] === 108;
      if (!isNull) {
        const f = b[va];
        if (!(f === 45 || (f >= 48 && f <= 57)) || !(b[vb - 1] >= 48 && b[vb - 1] <= 57)) {
          if (key !== 0) return false;
          if (!(f === 116 || f === 102)) return false; // true/false in an ignored key; anything else: slow path
        }
        for (let x = va; x < vb && key !== 0; x++) if (!isNumByte(b[x])) return false;
      }
      if (key === 1) return false;
      if (key === 2) value = isNull ? null : [va, vb];
      else if (key === 3) {
        if (isNull) return false;
        step = [va, vb];
      } else if (key === 4) {
        if (isNull) return false;
        ts = [va, vb];
      }
    }
    while (i < e && b[i] === 32) i++;
    if (b[i] === 44 /* , */) {
      i++;
      continue;
    }
    if (b[i] === 125) break;
    return false;
  }
  // Only whitespace may follow the closing brace: a torn line never gets here.
  for (let x = i + 1; x < e; x++) if (b[x] !== 32 && b[x] !== 13) return false;
  if (!name || value === undefined || !step || !ts) return false;
  sb.addBytes(b, name, step, ts, value);
  return true;
}

/** Metric points from an iterable and/or a JSON-lines file, as git objects. */
export function buildSeries(repo: RunsRepo, metrics?: Iterable<MetricPoint>, metricsFile?: string): SeriesResult {
  const sb = new SeriesBuilder();
  let i = 0;
  if (metrics) for (const p of metrics) sb.add(p, i++);
  if (metricsFile) {
    let b: Buffer;
    try {
      b = readFileSync(metricsFile);
    } catch (e) {
      throw new GitmlError('IO', `cannot read metrics file ${metricsFile}: ${(e as Error).message}`, { file: metricsFile });
    }
    sb.reserve(b.length); // the TSV is never longer than the JSON it comes from
    let start = 0;
    while (start < b.length) {
      let end = b.indexOf(10, start);
      if (end < 0) end = b.length;
      if (end > start + 1 && (sb.fastFull || !fastLine(sb, b, start, end))) {
        try {
          sb.add(JSON.parse(b.toString('utf8', start, end)) as MetricPoint, i);
        } catch {
          /* a torn or foreign line: skip it, keep the rest */
        }
      }
      i++;
      start = end + 1;
    }
  }
  return sb.write(repo);
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
