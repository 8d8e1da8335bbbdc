import { expect, test } from 'vitest';
import { gitml } from '../support/repo.js';

/** Every command and subcommand answers --help with exit 0 and a usage line. */
test('--help on every command', () => {
  const root = gitml(process.cwd(), ['--help']);
  expect(root.code).toBe(0);
  const names = [...root.stdout.matchAll(/^  ([a-z][a-z-]*)\b/gm)].map((m) => m[1]).filter((n) => n !== 'help');
  expect(names).toEqual(expect.arrayContaining(['init', 'validate']));
  for (const name of names) {
    const r = gitml(process.cwd(), [name, '--help']);
    expect(r.code, name).toBe(0);
    expect(r.stdout, name).toMatch(new RegExp(`^Usage: gitml ${name}`));
    const subs = [...r.stdout.matchAll(/^Commands:\n((?:  .+\n)+)/gm)].flatMap((m) => [...m[1].matchAll(/^  ([a-z][a-z-]*)\b/gm)].map((x) => x[1]));
    for (const sub of subs.filter((s) => s !== 'help')) {
      const s = gitml(process.cwd(), [name, sub, '--help']);
      expect(s.code, `${name} ${sub}`).toBe(0);
      expect(s.stdout).toMatch(new RegExp(`^Usage: gitml ${name} ${sub}`));
    }
  }
  expect(gitml(process.cwd(), ['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
});
