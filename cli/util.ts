import { GitmlError } from '../core/errors.js';

/** Options every command accepts through the root program. */
export interface GlobalOpts {
  repo?: string;
}

/** The repository folder a command works on: --repo, else the current directory. */
export function repoDir(opts: { repo?: string }): string {
  return opts.repo ?? process.cwd();
}

export function usage(msg: string): never {
  throw new GitmlError('USAGE', msg);
}

/** Parse `k=v` pairs from repeated flags into an object (values stay strings). */
export function parseKeyValues(pairs: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf('=');
    if (i <= 0) usage(`${flag} expects KEY=VALUE, got ${JSON.stringify(p)}`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

export const collect = (v: string, prev: string[] = []) => [...prev, v];
