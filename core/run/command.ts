/**
 * Turn an experiment's `command` into an argument vector: a string is split into words the
 * way a shell would (quotes, escapes) but nothing is expanded and shell operators (`;`, `|`,
 * `&&`, `>`...) are refused, because no shell ever runs. `${{params.x}}`, `${{inputs.x}}`
 * and `${{outputs.x}}` are replaced inside each argument, so a value with spaces or `;`
 * stays one argument.
 */
import { parse } from 'shell-quote';
import { GitmlError } from '../errors.js';
import type { ParamValue } from '../runs/types.js';

const REF = /\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_.-]+)\s*\}\}/g;
const ANY_REF = /\$\{\{[^}]*\}\}/g;

/** Split a command string into words without expanding anything; `${{...}}` references survive intact. */
export function splitCommand(command: string, file?: string): string[] {
  const refs: string[] = [];
  // shell-quote would read `${` as a variable: stash references behind placeholders first.
  const stashed = command.replace(ANY_REF, (m) => `\u0001${refs.push(m) - 1}\u0001`);
  const words = parse(stashed, (key: string) => `$${key}`);
  const out: string[] = [];
  for (const w of words) {
    if (typeof w === 'string') out.push(w);
    else if ('op' in w && w.op === 'glob') out.push((w as { pattern: string }).pattern);
    else {
      const what = 'comment' in w ? `a comment (#${(w as { comment: string }).comment})` : `the shell operator ${JSON.stringify((w as { op: string }).op)}`;
      throw new GitmlError(
        'INVALID_ENTITIES',
        `${file ? `${file}: ` : ''}command contains ${what}; commands run without a shell: use a list of arguments, or put the pipeline in a script`,
        { file, command },
      );
    }
  }
  return out.map((w) => w.replace(/\u0001(\d+)\u0001/g, (_, i) => refs[Number(i)]));
}

export interface Substitutions {
  params: Record<string, ParamValue>;
  inputs: Record<string, string>;
  outputs: Record<string, string>;
}

/** Replace every `${{kind.name}}` inside `arg`; an unknown reference is an 'INVALID_ENTITIES' error naming what exists. */
export function substitute(arg: string, subs: Substitutions, file?: string): string {
  const out = arg.replace(REF, (m, kind: string, name: string) => {
    const table: Record<string, unknown> | undefined = kind === 'params' || kind === 'inputs' || kind === 'outputs' ? subs[kind] : undefined;
    if (!table) {
      throw new GitmlError('INVALID_ENTITIES', `${file ? `${file}: ` : ''}unknown reference ${m}: use params., inputs. or outputs.`, { file, reference: m });
    }
    if (!Object.prototype.hasOwnProperty.call(table, name)) {
      const known = Object.keys(table);
      throw new GitmlError(
        'INVALID_ENTITIES',
        `${file ? `${file}: ` : ''}command references ${m} but the experiment declares no ${kind.replace(/s$/, '')} ${JSON.stringify(name)} (declared: ${known.length ? known.join(', ') : 'none'})`,
        { file, reference: m },
      );
    }
    return String(table[name]);
  });
  const left = out.match(ANY_REF);
  if (left && arg.match(ANY_REF)?.length !== (arg.match(REF)?.length ?? 0)) {
    throw new GitmlError('INVALID_ENTITIES', `${file ? `${file}: ` : ''}malformed reference ${left[0]} in the command`, { file, reference: left[0] });
  }
  return out;
}

/** The argv of a run: split (when a string) then substitute each argument. */
export function buildArgv(opts: { command: string | string[]; subs: Substitutions; file?: string }): string[] {
  const words = typeof opts.command === 'string' ? splitCommand(opts.command, opts.file) : [...opts.command];
  if (words.length === 0 || words[0] === '') throw new GitmlError('INVALID_ENTITIES', `${opts.file ? `${opts.file}: ` : ''}the command is empty`, { file: opts.file });
  return words.map((w) => substitute(w, opts.subs, opts.file));
}
