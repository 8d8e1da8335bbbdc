/**
 * `gitml image build`: the container image of a model version (thin over
 * core/package/image.ts).
 */
import type { Command } from 'commander';
import { c, fmtDuration, printJson, progress } from '../output.js';
import { repoDir } from '../util.js';

export function register(program: Command): void {
  const image = program.command('image').description('Build container images of model versions (scoring server + model, on the environment image)');

  image
    .command('build')
    .description('Build the image of a model version through the Docker engine; the same manifest gives the same image id')
    .argument('<model>', 'NAME@VERSION, NAME#STAGE or NAME (its latest version)')
    .option('--push <registry>', 'also tag REGISTRY/gitml-model/NAME:VERSION and push it (e.g. 127.0.0.1:5000)')
    .option('--force', 'build through the engine even when the image of this manifest exists (its layer cache still applies)')
    .option('--json', 'print the result as JSON (build output goes to stderr)')
    .addHelpText(
      'after',
      `
Tags: gitml-model/NAME:VERSION and gitml-model/NAME:<manifest digest 12>.
Layers: the environment image (built once per environment digest), the scoring server, then
the model bundle; a new version on the same environment adds only the bundle layer.
The engine is $DOCKER_HOST or the local socket. Exit status 3 when it does not answer.`,
    )
    .action(async (ref: string, opts: { push?: string; force?: boolean; json?: boolean }, cmd: Command) => {
      const { buildModelImage } = await import('../../core/package/image.js');
      const started = Date.now();
      const p = progress(process.stderr);
      const verbose = !process.stderr.isTTY;
      const r = await buildModelImage({
        dir: repoDir(cmd.optsWithGlobals()),
        ref,
        push: opts.push,
        force: opts.force,
        onProgress: (line) => (verbose ? process.stderr.write(c.dim(line, process.stderr) + '\n') : p.update(line.slice(0, (process.stderr.columns ?? 100) - 1))),
      }).catch((e: unknown) => {
        p.done();
        // On a terminal the progress line hid the build output: show its end with the error.
        const log = (e as { code?: string; data?: { log?: unknown } }).data?.log;
        if (!verbose && (e as { code?: string }).code === 'IMAGE_BUILD' && typeof log === 'string' && log.trim()) {
          process.stderr.write(c.dim(log.trimEnd().split('\n').slice(-20).join('\n'), process.stderr) + '\n');
        }
        throw e;
      });
      p.done();
      const ms = Date.now() - started;
      if (opts.json) return printJson({ ...r, manifest: undefined, log: undefined, model: r.manifest.model, durationMs: ms });
      const out = process.stdout;
      out.write(
        `${c.green(r.reused ? 'up to date' : 'built', out)} ${c.bold(r.image, out)}  ${r.id.slice(7, 19)}  ${fmtDuration(ms)}\n` +
          `  also tagged ${r.digestTag} (manifest ${r.manifestDigest.slice(0, 19)}…)\n` +
          `  on ${r.environmentImage.tag}${r.environmentImage.built ? ' (built now)' : ''}\n` +
          (r.pushed ? `  pushed ${r.pushed.image}${r.pushed.digest ? `@${r.pushed.digest}` : ''}\n` : '') +
          c.dim(`  run it: gitml serve ${ref} --docker`, out) +
          '\n' +
          (r.pushed ? c.dim(`  or on any Docker host: docker run --rm -p 8080:8080 ${r.pushed.image}`, out) + '\n' : ''),
      );
    });
}
