/** The README's walk-throughs, run word for word by the tests that follow them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './repo.js';

/** The first bash block after the heading. */
export function readmeBlock(heading: string): string {
  const md = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = md.indexOf(heading);
  if (at < 0) throw new Error(`README.md has no section ${heading}`);
  const m = /```bash\n([\s\S]*?)```/.exec(md.slice(at));
  if (!m) throw new Error(`no bash block under ${heading}`);
  return m[1];
}
