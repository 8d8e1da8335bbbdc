/**
 * `gitml env build NAME` and `gitml env dockerfile NAME`: environment images ahead of runs
 * (thin over core/environments/build.ts).
 */
import type { Command } from 'commander';
import { c, fmtDuration, printJson, progress } from '../output.js';
import { repoDir } from '../util.js';

export function register(program: Command): void {
  const env = program
    .command('env')
    .description('Environment images for container targets: build one ahead of runs, or show its Dockerfile');

  env
    .command('build')
    .description('Build the image of an environment as committed (tag gitml-env/NAME:<digest>); an unchanged environment is not rebuilt')
    .argument('<name>', 'environment name (a file gitml/environments/<name>.yaml)')
    .option('--compute <name>', "build on this docker compute target's engine (default: the workspace default when it is docker, else $DOCKER_HOST or the local socket)")
    .option('--rev <rev>', 'use the environment and files of this commit, branch or tag (default: HEAD)')
    .option('--json', 'print {environment, digest, tag, id, built, host, commit} as JSON (build output goes to stderr)')
    .addHelpText(
      'after',
      `
The image is what a run of that commit on a docker target uses: the same digest, so the run
finds it and starts at once. Build output streams to stderr.
Exit status: 0 built or up to date, 1 the build failed (its log is printed), 3 the Docker
engine does not answer.`,
    )
    .action(async (name: string, opts: { compute?: string; rev?: string; json?: boolean }, cmd: Command) => {
      const { buildEnvironment } = await import('../../core/environments/build.js');
      const { isGitmlError } = await import('../../core/errors.js');
      const started = Date.now();
      const p = progress(process.stderr);
      const verbose = !process.stderr.isTTY;
      try {
        const r = await buildEnvironment({
          dir: repoDir(cmd.optsWithGlobals()),
          name,
          rev: opts.rev,
          compute: opts.compute,
          onProgress: (line) => (verbose ? process.stderr.write(c.dim(line, process.stderr) + '\n') : p.update(line.slice(0, (process.stderr.columns ?? 100) - 1))),
        });
        p.done();
        if (opts.json) return printJson({ ...r, durationMs: Date.now() - started });
        const out = process.stdout;
        out.write(`${c.green(r.built ? 'built' : 'up to date', out)} ${c.bold(r.tag, out)}  ${r.id.slice(7, 19)}  ${fmtDuration(Date.now() - started)}  on ${r.host}\n`);
      } catch (e) {
        p.done();
        // The build log is the useful part of a failed build: show its tail before the error line.
        if (isGitmlError(e, 'IMAGE_BUILD') && typeof e.data.log === 'string' && e.data.log && !verbose) {
          process.stderr.write(e.data.log.split('\n').slice(-40).join('\n') + '\n');
        }
        throw e;
      }
    });

  env
    .command('dockerfile')
    .description('Print the Dockerfile gitml builds for an environment (generated, or yours plus the run-user layer)')
    .argument('<name>', 'environment name')
    .option('--rev <rev>', 'as of this commit, branch or tag (default: HEAD)')
    .option('--json', 'print {environment, digest, tag, dockerfile} as JSON')
    .action(async (name: string, opts: { rev?: string; json?: boolean }, cmd: Command) => {
      const { environmentDockerfile } = await import('../../core/environments/build.js');
      const r = await environmentDockerfile({ dir: repoDir(cmd.optsWithGlobals()), name, rev: opts.rev });
      if (opts.json) return printJson(r);
      process.stdout.write(`# gitml environment ${r.environment}, image ${r.tag}\n${r.dockerfile}`);
    });
}
