import { GitmlError } from '../errors.js';

/** An experiment's `timeout` (`90s`, `30m`, `2h`, `1h30m`, or seconds as a number) in milliseconds. */
export function parseTimeout(t: number | string | undefined, file?: string): number | undefined {
  if (t === undefined) return undefined;
  if (typeof t === 'number') {
    if (!(t > 0)) throw new GitmlError('INVALID_ENTITIES', `${file ? `${file}: ` : ''}timeout must be positive, got ${t}`, { file });
    return t * 1000;
  }
  const s = t.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return parseTimeout(Number(s), file);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let consumed = '';
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0];
  }
  if (consumed !== s.replace(/\s+/g, '') || total <= 0) {
    throw new GitmlError('INVALID_ENTITIES', `${file ? `${file}: ` : ''}timeout ${JSON.stringify(t)} is not a duration like 90s, 30m, 2h or 1h30m`, { file, timeout: t });
  }
  return total;
}
