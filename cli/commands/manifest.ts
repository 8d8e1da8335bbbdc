/**
 * `gitml manifest NAME@VERSION`: the deterministic recipe of a model version (thin over
 * core/package/manifest.ts).
 */
import type { Command } from 'commander';
import { c, printJson, writeErr } from '../output.js';
import { repoDir } from '../util.js';

export function register(program: Command): void {
  program
    .command('manifest')
    .description('Print (or write) the manifest of a model version: model digest, environment, scoring script, schema, sample data, server runtime')
    .argument('<model>', 'NAME@VERSION, NAME#STAGE or NAME (its latest version)')
    .option('-o, --output <file>', 'write the manifest to FILE instead of printing it')
    .option('--json', 'print {digest, manifest, warnings} as JSON')
    .addHelpText(
      'after',
      `
The manifest is canonical JSON (sorted keys, no timestamps): the same version gives the same
bytes everywhere, and its sha256 (printed on stderr) names the image built from it
(gitml-model/NAME:<first 12 hex>).`,
    )
    .action(async (ref: string, opts: { output?: string; json?: boolean }, cmd: Command) => {
      const { buildManifest } = await import('../../core/package/manifest.js');
      const r = await buildManifest({ dir: repoDir(cmd.optsWithGlobals()), ref });
      for (const w of r.warnings) writeErr(c.yellow(`warning: ${w}`, process.stderr) + '\n');
      if (opts.output) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(opts.output, r.json);
      }
      if (opts.json) return printJson({ digest: r.digest, manifest: r.manifest, warnings: r.warnings, ...(opts.output ? { file: opts.output } : {}) });
      if (opts.output) process.stdout.write(`${r.manifest.model.name} ${r.manifest.model.version}: manifest ${r.digest} written to ${opts.output}\n`);
      else {
        process.stdout.write(r.json);
        process.stderr.write(c.dim(`digest ${r.digest}`, process.stderr) + '\n');
      }
    });
}
