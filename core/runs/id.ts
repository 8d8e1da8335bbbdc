/**
 * Run ids: 26 characters of lowercase Crockford base32, ULID-shaped. The first 10 characters
 * are the 48-bit millisecond timestamp (so ids sort by start time as plain strings), the last
 * 16 are 80 random bits (so two machines never collide). Within one process ids are strictly
 * increasing even inside the same millisecond: the random part is incremented instead of redrawn.
 *
 * Example: `newRunId()` → `01jd3q6k2f7x9m1c4v8r2t5w0n`.
 */
import { crypto } from './git/builtins.js';
import { GitmlError } from '../errors.js';

export const RUN_ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const RUN_ID_LENGTH = 26;
export const RUN_ID_RE = /^[0-9a-hjkmnp-tv-z]{26}$/;
const TIME_LEN = 10;
const RAND_LEN = 16;
const MAX_TIME = 2 ** 48 - 1;

let lastTime = -1;
let lastRand: number[] = [];

function randomDigits(): number[] {
  const bytes = crypto().randomBytes(RAND_LEN);
  return Array.from(bytes, (b) => b & 31);
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < TIME_LEN; i++) {
    out = RUN_ID_ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** A new run id; `clock` returns milliseconds since the epoch (injected by tests). */
export function newRunId(clock: () => number = Date.now): string {
  let now = Math.floor(clock());
  if (!Number.isFinite(now) || now < 0 || now > MAX_TIME) throw new GitmlError('INTERNAL', `clock returned an invalid time: ${now}`);
  if (now <= lastTime) {
    // Same (or an earlier, the clock stepped back) millisecond: stay on the last time and count up.
    now = lastTime;
    const r = lastRand.slice();
    let i = RAND_LEN - 1;
    while (i >= 0 && r[i] === 31) r[i--] = 0;
    if (i < 0) throw new GitmlError('INTERNAL', 'run id space exhausted for this millisecond');
    r[i]++;
    lastRand = r;
  } else {
    lastTime = now;
    lastRand = randomDigits();
    // Keep headroom so the increments above cannot overflow in practice.
    lastRand[0] &= 15;
  }
  return encodeTime(now) + lastRand.map((d) => RUN_ID_ALPHABET[d]).join('');
}

export function isRunId(s: string): boolean {
  return RUN_ID_RE.test(s);
}

/** Milliseconds since the epoch encoded in a run id. */
export function runIdTime(id: string): number {
  if (!isRunId(id)) throw new GitmlError('PARAM', `${JSON.stringify(id)} is not a run id (26 characters of lowercase base32)`, { id });
  let t = 0;
  for (let i = 0; i < TIME_LEN; i++) t = t * 32 + RUN_ID_ALPHABET.indexOf(id[i]);
  return t;
}
