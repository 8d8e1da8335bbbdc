// A queue worker in its own process, for the concurrency and SIGKILL tests. Runs the compiled
// dist/ (built by the test run) so it is the code the CLI ships.
// argv: DIR MODE; MODE 'drain' claims and finishes until nothing is left, printing each id;
// 'hold' claims one entry, prints its id and waits to be killed.
import { claimNext } from '../../dist/core/queue/claim.js';

const [dir, mode] = process.argv.slice(2);
if (mode === 'drain') {
  for (;;) {
    const c = await claimNext({ dir });
    if (!c) break;
    process.stdout.write(c.entry.id + '\n');
    await c.finish({ state: 'completed' });
  }
} else {
  const c = await claimNext({ dir });
  process.stdout.write((c ? c.entry.id : 'none') + '\n');
  setInterval(() => {}, 1000);
}
