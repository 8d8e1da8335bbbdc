/**
 * The machine-readable part of a registry tag's message. GTO accepts any message and shows
 * it as is, so the message is a readable first line followed by one line of JSON that starts
 * with `{"gitml":` — easy to find, and plain text for `git show` and `gto history`.
 *
 *   Register model iris v1.2.0 from run 20261123-091500-ab12 (train)
 *
 *   {"gitml":1,"action":"register","model":"iris","version":"v1.2.0","run":"20261123-…",…}
 */

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
      const v = JSON.parse(line) as TagMetadata;
      if (v && typeof v === 'object' && v.gitml === 1) return v;
    } catch {
      /* not ours after all */
    }
  }
  return undefined;
}

/** The human part of a message (without the JSON line). */
export function messageText(message: string): string {
  return message
    .split('\n')
    .filter((l) => !l.trim().startsWith(MARK))
    .join('\n')
    .trim();
}
