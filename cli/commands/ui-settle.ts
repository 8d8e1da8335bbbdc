/** Runs whose gitml process died unrecorded are settled (recorded failed) before the UI reads them, as `gitml runs` does. */
export async function settleLost(dir: string): Promise<void> {
  await (await import('../../core/run/reap.js')).reapLostRuns(dir);
}
