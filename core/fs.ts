/** File writes that never stop half way without saying so. */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';

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

/**
 * Create `file` holding `content`, only if it does not exist (a lock, a claim): true when
 * created, false when it was there already. A file created but not written whole (a full
 * disk) is removed before the error is thrown: an empty lock left behind would be taken for a
 * holder for ever.
 */
export function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeAllSync(fd, content);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(file);
    } catch {
      /* gone already */
    }
    throw e;
  }
  closeSync(fd);
  return true;
}
