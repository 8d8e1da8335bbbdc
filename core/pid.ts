/**
 * Whether a process of this host is alive: signal 0 checks existence and permission without
 * delivering anything. EPERM means it exists but belongs to someone else, so it is alive too.
 * Used to tell a stale lock or a dead run's status from one whose owner still works.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
