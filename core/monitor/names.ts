import { GitmlError } from '../errors.js';

/** Entity names become path segments on the status branch: the loader's name rule, checked again here. */
export function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) throw new GitmlError('USAGE', `not a valid service name: ${JSON.stringify(name)}`, { name });
}
