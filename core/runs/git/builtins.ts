/**
 * Node built-ins that only writing, hashing or spawning git needs, loaded on first use. A listing
 * in a new process (`gitml runs --where ... --limit 10`, answered from the index files alone)
 * then never loads crypto, child_process or os: on this project's machines those three cost
 * about a quarter of a bare `node` start, which is most of what a listing may add to it.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);
let cp: typeof import('node:child_process') | undefined;
let cr: typeof import('node:crypto') | undefined;
let os: typeof import('node:os') | undefined;

export const childProcess = (): typeof import('node:child_process') => (cp ??= load('node:child_process') as typeof import('node:child_process'));
export const crypto = (): typeof import('node:crypto') => (cr ??= load('node:crypto') as typeof import('node:crypto'));
export const nodeOs = (): typeof import('node:os') => (os ??= load('node:os') as typeof import('node:os'));

/** Random hex for temporary file names (uniqueness, not secrecy). */
export const randomHex = (bytes: number): string => crypto().randomBytes(bytes).toString('hex');
