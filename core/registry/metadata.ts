/**
 * The machine-readable part of a registry tag's message. GTO accepts any message and shows
 * it as is, so the message is a readable first line followed by one line of JSON that starts
 * with `{"gitml":` — easy to find, and plain text for `git show` and `gto history`.
 *
 *   Register model iris v1.2.0 from run 20261123-091500-ab12 (train)
 *
 *   {"gitml":1,"action":"register","model":"iris","version":"v1.2.0","run":"20261123-…",…}
 */
import { isRunId } from '../runs/id.js';

export interface TagMetadata {
  gitml: 1;
  action: 'register' | 'deregister' | 'assign' | 'unassign' | 'deprecate';
  model: string;
  version?: string;
  stage?: string;
  /** Run that produced the version (register). */
  run?: string;
  experiment?: string;
  /** The model file: path relative to the run's outputs, digest and size. */
  artifact?: { output: string; path: string; sha256: string; size: number };
  metrics?: Record<string, number>;
  /** Source commit the run trained from. */
  source?: string;
  /** Free text from --message. */
  note?: string;
}

const MARK = '{"gitml":';

export function formatMessage(subject: string, meta: TagMetadata): string {
  // Keys in a fixed order so the same promotion gives the same bytes.
  const ordered: Record<string, unknown> = {};
  for (const k of ['gitml', 'action', 'model', 'version', 'stage', 'run', 'experiment', 'artifact', 'metrics', 'source', 'note'] as const) {
    if (meta[k] !== undefined) ordered[k] = meta[k];
  }
  return `${subject.replace(/\s+/g, ' ').trim()}\n\n${JSON.stringify(ordered)}\n`;
}

/** The metadata of a message, or undefined for tags written by GTO or by hand. */
export function parseMessage(message: string): TagMetadata | undefined {
  const lines = message.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line.startsWith(MARK)) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v) && (v as { gitml?: unknown }).gitml === 1) return typedMetadata(v as Record<string, unknown>);
    } catch {
      /* not ours after all */
    }
  }
  return undefined;
}

const ACTIONS = new Set(['register', 'deregister', 'assign', 'unassign', 'deprecate']);
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Only the fields of the shape gitml writes: anyone with push access writes tag messages, and
 * their fields become run ids to look up, output names, digests to compare and text to print.
 * A field of another shape is dropped (as if the tag had been written by GTO without it).
 */
function typedMetadata(v: Record<string, unknown>): TagMetadata {
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
  const out: TagMetadata = { gitml: 1, action: (ACTIONS.has(v.action as string) ? v.action : 'register') as TagMetadata['action'], model: str(v.model) ?? '' };
  for (const k of ['version', 'stage', 'experiment', 'source', 'note'] as const) if (str(v[k]) !== undefined) out[k] = str(v[k]);
  if (typeof v.run === 'string' && isRunId(v.run)) out.run = v.run;
  const a = v.artifact as Record<string, unknown> | undefined;
  if (
    a && typeof a === 'object' && typeof a.output === 'string' && typeof a.path === 'string' && !a.path.split('/').includes('..') && !a.path.startsWith('/') &&
    typeof a.sha256 === 'string' && SHA256.test(a.sha256) && typeof a.size === 'number' && Number.isSafeInteger(a.size) && a.size >= 0
  ) {
    out.artifact = { output: a.output, path: a.path, sha256: a.sha256, size: a.size };
  }
  if (v.metrics && typeof v.metrics === 'object' && !Array.isArray(v.metrics)) {
    const m: Record<string, number> = {};
    for (const [k, x] of Object.entries(v.metrics as Record<string, unknown>)) if (typeof x === 'number') m[k] = x;
    out.metrics = m;
  }
  return out;
}

/** The human part of a message (without the JSON line). */
export function messageText(message: string): string {
  return message
    .split('\n')
    .filter((l) => !l.trim().startsWith(MARK))
    .join('\n')
    .trim();
}
