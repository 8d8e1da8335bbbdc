/** "Did you mean" suggestions for names a user typed: entity fields, references, run fields. */

/** Levenshtein edit distance. */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/**
 * The candidate closest to `word` (ignoring case) when it is a plausible typo of it: at most a
 * third of its length away, and never less lenient than `minSlack` edits.
 *
 * Example: `closest('goall', ['goal', 'metric'])` → `'goal'`.
 */
export function closest(word: string, candidates: Iterable<string>, minSlack = 2): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(minSlack, Math.floor(word.length / 3)) ? best : undefined;
}
