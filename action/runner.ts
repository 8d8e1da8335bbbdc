/**
 * The runner's side of an Action: inputs from `INPUT_*`, outputs to `$GITHUB_OUTPUT`, the job
 * summary in `$GITHUB_STEP_SUMMARY`, and workflow commands (annotations, groups, masks) on
 * stdout, in the formats GitHub's toolkit writes them. Everything goes through one `Runner`
 * made from an environment, so tests hand it their own.
 */
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

/** Data of a workflow command: %, CR and LF are escaped. */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
/** Property values also escape ':' and ','. */
const escapeProp = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

export interface Annotation {
  file?: string;
  line?: number;
  col?: number;
  title?: string;
}

export class Runner {
  constructor(
    readonly env: NodeJS.ProcessEnv,
    private readonly out: (s: string) => void = (s) => process.stdout.write(s),
  ) {}

  /** An input as the runner passes it (`INPUT_` + the name upper-cased, spaces as `_`), trimmed; '' when unset. */
  input(name: string): string {
    return (this.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
  }

  bool(name: string, fallback = false): boolean {
    const v = this.input(name).toLowerCase();
    if (v === '') return fallback;
    if (['true', 'yes', '1', 'on'].includes(v)) return true;
    if (['false', 'no', '0', 'off'].includes(v)) return false;
    throw new ActionInputError(`input ${name}: ${JSON.stringify(v)} is not true or false`);
  }

  /** One of `choices`; the first when unset. */
  choice<T extends string>(name: string, choices: readonly T[]): T {
    const v = this.input(name) || choices[0];
    if (!choices.includes(v as T)) throw new ActionInputError(`input ${name}: ${JSON.stringify(v)} is not one of ${choices.join(', ')}`);
    return v as T;
  }

  command(cmd: string, props: Record<string, string | number | undefined>, message: string): void {
    const p = Object.entries(props)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k}=${escapeProp(String(v))}`)
      .join(',');
    this.out(`::${cmd}${p ? ' ' + p : ''}::${escapeData(message)}\n`);
  }

  error(message: string, a: Annotation = {}): void {
    this.command('error', { file: a.file, line: a.line || undefined, col: a.col || undefined, title: a.title }, message);
  }
  warning(message: string, a: Annotation = {}): void {
    this.command('warning', { file: a.file, line: a.line || undefined, col: a.col || undefined, title: a.title }, message);
  }
  notice(message: string, a: Annotation = {}): void {
    this.command('notice', { file: a.file, line: a.line || undefined, col: a.col || undefined, title: a.title }, message);
  }
  /** Never show `secret` in the log. */
  mask(secret: string): void {
    if (secret) this.out(`::add-mask::${escapeData(secret)}\n`);
  }
  info(message: string): void {
    this.out(message.endsWith('\n') ? message : message + '\n');
  }
  group(name: string): void {
    this.out(`::group::${escapeData(name)}\n`);
  }
  endGroup(): void {
    this.out('::endgroup::\n');
  }

  /** `name=value` into $GITHUB_OUTPUT, with a random heredoc delimiter (values may hold newlines). */
  output(name: string, value: string): void {
    const file = this.env.GITHUB_OUTPUT;
    if (!file) {
      this.info(`output ${name}=${value}`);
      return;
    }
    const d = `ghadelimiter_${randomUUID()}`;
    appendFileSync(file, `${name}<<${d}\n${value}\n${d}\n`);
  }

  summary(markdown: string): void {
    const file = this.env.GITHUB_STEP_SUMMARY;
    if (file) appendFileSync(file, markdown.endsWith('\n') ? markdown : markdown + '\n');
  }
}

export class ActionInputError extends Error {}
