/**
 * The refs watch: chokidar on the git common dir's `refs/` and `packed-refs`, so a local
 * commit (or a push updating a remote-tracking ref) wakes the daemon at once instead of at
 * the next interval. Only a hint: chokidar misses rapid ref updates and paths created later,
 * so a wake re-reads every ref and the timer re-checks anyway. Lock files and logs are
 * ignored; events within a few milliseconds are one wake.
 */
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { git } from '../git.js';

export interface RefsWatch {
  close(): Promise<void>;
  ready: Promise<void>;
}

export async function watchRefs(dir: string, onChange: (file: string) => void, o: { debounceMs?: number; onError?: (e: unknown) => void } = {}): Promise<RefsWatch> {
  const common = (await git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir'])).trim();
  const refs = path.join(common, 'refs');
  const packed = path.join(common, 'packed-refs');
  const { watch } = await import('chokidar');
  // Watching the common dir itself at depth 0 sees packed-refs appear; refs/ is watched in depth.
  const w: FSWatcher = watch([refs, common], {
    ignoreInitial: true,
    persistent: true,
    // git replaces a ref by renaming its lock file over it; chokidar's `atomic` would hold
    // that event back 100 ms to merge it with a re-add, which a hint does not need.
    atomic: false,
    ignored: (p: string) => {
      if (p === common || p === refs || p === packed) return false;
      if (p.endsWith('.lock')) return true;
      return !p.startsWith(refs + path.sep);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const fire = (file: string) => {
    last = file;
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      onChange(last);
    }, o.debounceMs ?? 5);
  };
  for (const ev of ['add', 'change', 'unlink'] as const) w.on(ev, fire);
  w.on('error', (e) => o.onError?.(e));
  const ready = new Promise<void>((resolve) => w.once('ready', () => resolve()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await w.close();
    },
  };
}
