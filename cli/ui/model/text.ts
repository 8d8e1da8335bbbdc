/**
 * Recorded data (run records, logs, tag messages) is anyone's text once a branch is pulled: the
 * UI shows it as the CLI does (cli/output.ts termSafe), with every control character escaped,
 * and, for the UI, colour sequences too (ink measures and cuts the text; a stray escape would
 * break the layout).
 */
import { stripVTControlCharacters } from 'node:util';
import { termSafe } from '../../output.js';

/** One line of safe text: line breaks, tabs and escapes shown as `\n`, `\t`, `\x1b`. */
export function oneLine(s: string): string {
  return termSafe(s, { line: true }).replace(/\u001b/g, '\\x1b');
}

/** A log line for the pager: colour codes removed, other control characters escaped. */
export function logLine(s: string): string {
  return termSafe(stripVTControlCharacters(s).replace(/\t/g, '    '), { line: true });
}
