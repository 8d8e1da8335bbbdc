/** File writes that never stop half way without saying so. */
import { writeSync } from 'node:fs';

/**
 * Write all of `data` to `fd`. `fs.writeSync` may write only part of a buffer and return the
 * count (a disk filling up does exactly that before it fails with ENOSPC): this goes on until
 * every byte is written or the system refuses with an error, so a partial file is never taken
 * for a whole one (a git object or ref renamed into place must be complete).
 */
export function writeAllSync(fd: number, data: Buffer | string): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
