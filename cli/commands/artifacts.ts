/**
 * `gitml artifacts ls|get|gc`: the stored artifacts of runs — what there is, where it lives,
 * one artifact's bytes, and removing what nothing references. Thin over core/artifacts.
 */
import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { copyFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fmtBytes as formatBytes, setTransferProgress } from '../../core/artifacts/progress.js';
import { c, printJson, progress, table, termSafe, writeOut } from '../output.js';
import { repoDir } from '../util.js';

function fmtBytes(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '?' : formatBytes(n);
}

async function registered(dir: string) {
  const { registeredArtifacts } = await import('../../core/registry/artifacts.js');
  return registeredArtifacts({ dir });
}

export function register(program: Command): void {
  // A store that fetches bytes on first use (serve, manifest, image build) reports on stderr.
  setTransferProgress(() => progress());

  const cmd = program
    .command('artifacts')
    .summary('List, fetch and clean up the stored artifacts of runs')
    .description(
      'Artifacts larger than artifacts.inlineMaxBytes live in the artifact store of gitml.yaml: git (default; refs/gitml/artifacts/*, carried by gitml push/pull), local (a folder) or s3 (a bucket). Every read is verified against the sha256 in the run record.',
    );

  cmd
    .command('ls')
    .description('List stored artifacts: digest, size, whether this clone has the bytes, which runs use them and which registered versions keep them')
    .option('--remote <remote>', 'git store: also say which ones the remote has')
    .option('--json', 'print {store, artifacts: [{sha256, size, stored, cached, remote, runs: [{run, experiment, path, size}], registered}], strayCache} as JSON')
    .action(async (opts: { json?: boolean; remote?: string }, c2: Command) => {
      const dir = repoDir(c2.optsWithGlobals());
      const { artifactInventory } = await import('../../core/artifacts/inventory.js');
      const inv = await artifactInventory({ dir, registered: await registered(dir), remote: opts.remote });
      if (opts.json) return printJson(inv);
      writeOut(`store: ${inv.store.type} (${termSafe(inv.store.where, { line: true })})\n`);
      if (inv.artifacts.length === 0) return writeOut('no stored artifacts\n');
      const rows = inv.artifacts.map((a) => [
        a.sha256.slice(0, 12),
        fmtBytes(a.size),
        a.stored ? 'yes' : c.yellow('no'),
        ...(opts.remote ? [a.remote ? 'yes' : 'no'] : []),
        a.runs.length ? termSafe(`${a.runs[0].experiment}/${a.runs[0].run.slice(0, 10)}:${a.runs[0].path}${a.runs.length > 1 ? ` +${a.runs.length - 1}` : ''}`, { line: true }) : c.dim('(no run)'),
        termSafe(a.registered.join(', '), { line: true }),
      ]);
      writeOut(table(['SHA256', 'SIZE', 'HERE', ...(opts.remote ? ['REMOTE'] : []), 'USED BY', 'REGISTERED'], rows) + '\n');
    });

  cmd
    .command('get')
    .description('Write one artifact of a run (fetched from the store when this clone lacks it, verified) to a file or stdout')
    .argument('<run>', 'run id or unique prefix')
    .argument('<path>', 'artifact path as the run lists it (relative to the outputs folder)')
    .option('-o, --output <file>', 'write here (atomically) instead of stdout')
    .action(async (run: string, rel: string, opts: { output?: string }, c2: Command) => {
      const dir = repoDir(c2.optsWithGlobals());
      const { artifactPath } = await import('../../core/runs/store.js');
      const file = await artifactPath({ dir, id: run, path: rel });
      if (!opts.output) {
        await pipeline(createReadStream(file), process.stdout);
        return;
      }
      const dest = path.resolve(opts.output);
      const tmp = `${dest}.${process.pid}.tmp`;
      await copyFile(file, tmp);
      await rename(tmp, dest);
      process.stderr.write(`wrote ${termSafe(dest, { line: true })}\n`);
    });

  cmd
    .command('gc')
    .description('Remove stored artifacts that no run on the runs branch references; every registered model version\'s artifacts are kept. With the git store, `git gc` then reclaims the space. With s3, only this repository\'s runs are consulted: do not share a prefix between repositories')
    .option('--dry-run', 'print what would be removed and remove nothing')
    .option('--json', 'print {remove: [{sha256, size}], dropCache, kept, bytes, applied} as JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }, c2: Command) => {
      const dir = repoDir(c2.optsWithGlobals());
      const { artifactInventory, planGc, applyGc } = await import('../../core/artifacts/inventory.js');
      const plan = planGc(await artifactInventory({ dir, registered: await registered(dir) }));
      if (!opts.dryRun) await applyGc({ dir, plan });
      if (opts.json) return printJson({ ...plan, applied: !opts.dryRun });
      const verb = opts.dryRun ? 'would remove' : 'removed';
      for (const a of plan.remove) writeOut(`${verb} ${a.sha256} (${fmtBytes(a.size)})\n`);
      writeOut(`${verb} ${plan.remove.length} artifact${plan.remove.length === 1 ? '' : 's'} (${fmtBytes(plan.bytes)}), kept ${plan.kept}${plan.dropCache.length ? `; ${opts.dryRun ? 'would drop' : 'dropped'} ${plan.dropCache.length} cached cop${plan.dropCache.length === 1 ? 'y' : 'ies'}` : ''}\n`);
    });
}
