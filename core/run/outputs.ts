/**
 * Make a run's outputs folder safe to collect: a symlink that resolves outside the folder
 * (to /etc/passwd, to ~/.ssh, to the repository) is removed with a warning, so the runs
 * store never copies a file the run had no business publishing.
 */
import { lstat, readdir, readlink, realpath, rm } from 'node:fs/promises';
import path from 'node:path';

export async function sanitizeOutputs(opts: { dir: string }): Promise<{ warnings: string[]; files: number }> {
  const warnings: string[] = [];
  let files = 0;
  let root: string;
  try {
    root = await realpath(opts.dir);
  } catch {
    return { warnings, files };
  }
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const rel = path.relative(root, full).split(path.sep).join('/');
      if (e.isSymbolicLink()) {
        let real: string | undefined;
        try {
          real = await realpath(full);
        } catch {
          real = undefined;
        }
        if (real === undefined || (real !== root && !real.startsWith(root + path.sep))) {
          const target = await readlink(full).catch(() => '?');
          await rm(full, { force: true });
          warnings.push(`gitml: warning: output ${rel} is a symlink to ${target}, ${real === undefined ? 'which does not exist' : 'outside the outputs folder'}; not collected`);
          continue;
        }
        if ((await lstat(real)).isDirectory()) {
          // A link to a folder inside would collect the same files twice (or loop).
          await rm(full, { force: true });
          warnings.push(`gitml: warning: output ${rel} is a symlink to a folder; not collected`);
          continue;
        }
        files++;
      } else if (e.isDirectory()) await walk(full);
      else if (e.isFile()) files++;
    }
  };
  await walk(root);
  return { warnings, files };
}
