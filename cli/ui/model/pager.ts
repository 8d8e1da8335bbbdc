/**
 * The log pager's model: a log as one string with an index of line starts, so a page is a
 * slice of a few dozen lines and a search walks the text once, without splitting a large log
 * into millions of strings. Lines are made safe for the terminal only when shown.
 */
import { logLine } from './text.js';

export class LogPager {
  readonly text: string;
  private readonly starts: Uint32Array | number[];

  constructor(text: string) {
    this.text = text;
    const starts: number[] = [0];
    for (let i = text.indexOf('\n'); i >= 0 && i < text.length - 1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
    this.starts = starts.length > 1 << 16 ? Uint32Array.from(starts) : starts;
  }

  get lineCount(): number {
    return this.text === '' ? 0 : this.starts.length;
  }

  /** Raw text of line `i` (without its newline). */
  raw(i: number): string {
    const a = this.starts[i];
    const b = i + 1 < this.starts.length ? this.starts[i + 1] - 1 : this.text.endsWith('\n') ? this.text.length - 1 : this.text.length;
    return this.text.slice(a, this.text[b - 1] === '\r' ? b - 1 : b);
  }

  /** `count` lines from `from`, safe to draw, each cut to `width` characters. */
  page(from: number, count: number, width: number): string[] {
    const out: string[] = [];
    for (let i = Math.max(0, from); i < Math.min(this.lineCount, from + count); i++) {
      const s = logLine(this.raw(i));
      out.push(s.length > width ? s.slice(0, Math.max(0, width - 1)) + '…' : s);
    }
    return out;
  }

  /** The line of the next match of `term` after line `from` (wrapping around), or -1. */
  search(term: string, from: number, backwards = false): number {
    if (!term || this.lineCount === 0) return -1;
    if (!backwards) {
      const start = from + 1 < this.lineCount ? this.starts[from + 1] : 0;
      let at = this.text.indexOf(term, start);
      if (at < 0) at = this.text.indexOf(term);
      return at < 0 ? -1 : this.lineOf(at);
    }
    const end = from > 0 ? this.starts[from] - 1 : this.text.length;
    let at = end > 0 ? this.text.lastIndexOf(term, end - 1) : -1;
    if (at < 0) at = this.text.lastIndexOf(term);
    return at < 0 ? -1 : this.lineOf(at);
  }

  private lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/** The first line of the last page (where `G` and follow mode go). */
export function lastPageStart(lines: number, height: number): number {
  return Math.max(0, lines - height);
}
