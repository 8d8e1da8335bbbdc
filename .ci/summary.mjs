// Reads vitest's JSON report (argv[2]) and prints the closing line CI reads,
// "N passed, N failed", then exits 0 when nothing failed and 1 otherwise.
// A test file that fails to load counts as one failure: its tests never ran, and vitest's
// numFailedTests does not include it. A missing or unreadable report is a failure too.
import { readFileSync } from 'node:fs';

let report;
try {
  report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch {
  console.error(`[ci] no readable vitest JSON report at ${process.argv[2]}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
let failed = report.numFailedTests ?? 0;
for (const file of report.testResults ?? []) {
  const anyTestFailed = (file.assertionResults ?? []).some((a) => a.status === 'failed');
  if (file.status === 'failed' && !anyTestFailed) failed += 1;
}
// Errors outside any test (an unhandled rejection, a failing global setup) fail the run too.
if (report.success === false && failed === 0) {
  console.error('[ci] vitest reported errors outside the tests');
  failed = 1;
}
// The slowest test files, so a CI run that creeps towards its time limit shows where.
const slow = (report.testResults ?? [])
  .map((f) => ({ name: String(f.name ?? '').replace(process.cwd() + '/', ''), ms: (f.endTime ?? 0) - (f.startTime ?? 0) }))
  .filter((f) => f.ms > 0)
  .sort((a, b) => b.ms - a.ms)
  .slice(0, 12);
if (slow.length) {
  console.error('[ci] slowest test files:');
  for (const f of slow) console.error(`[ci]   ${(f.ms / 1000).toFixed(1).padStart(6)} s  ${f.name}`);
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
if (skipped > 0) console.error(`[ci] ${skipped} test(s) skipped`);
console.log(`${report.numPassedTests ?? 0} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
