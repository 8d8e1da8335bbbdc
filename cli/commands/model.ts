/**
 * `gitml model ...`: the model registry on git tags (GTO's grammar). Thin over core/registry.
 */
import type { Command } from 'commander';
import { c, fmtNum, printJson, table, termSafe, writeErr, writeOut } from '../output.js';
import { repoDir, usage } from '../util.js';

const when = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const who = (p: { name: string; email: string } | undefined) => (p ? p.email || p.name : '');

/** The line after a new tag: where it was pushed, how to push it, or nothing without a remote. */
async function pushHint(dir: string, tag: string, pushed?: string): Promise<string> {
  if (pushed) return `  ${c.dim(`pushed to ${pushed}`)}\n`;
  const { runGit } = await import('../../core/git.js');
  const remotes = (await runGit(dir, ['remote'])).stdout.split('\n').filter(Boolean);
  if (remotes.length === 0) return ''; // a local repository: nothing to push to
  const remote = remotes.includes('origin') ? 'origin' : remotes[0];
  return `  ${c.dim(`push it with: git push ${remote} ${JSON.stringify(tag).slice(1, -1)} (or use --push)`)}\n`;
}

const PUSH_HELP = 'push the new tag to REMOTE (default origin) so the Action and the daemon see it';

/** Push `tag` when --push was given; returns the remote pushed to. */
async function maybePush(dir: string, tag: string | undefined, push: string | boolean | undefined): Promise<string | undefined> {
  if (!push || !tag) return undefined;
  const { pushTags } = await import('../../core/registry/push.js');
  const remote = typeof push === 'string' ? push : 'origin';
  await pushTags({ dir, tags: [tag], remote });
  return remote;
}

export function register(program: Command): void {
  const model = program
    .command('model')
    .description('Register model versions and assign stages (annotated git tags in GTO format)')
    .addHelpText(
      'after',
      `
Tags (readable by GTO):
  NAME@vX.Y.Z        a registered version      NAME@vX.Y.Z!     deregistered
  NAME#STAGE#N       a stage assignment        NAME#STAGE!#N    unassignment
  NAME@deprecated    the model is deprecated
Tags are local until pushed: add --push, or git push origin --tags`,
    );

  model
    .command('register')
    .description("Register a completed run's model output as a new version (tags the runs commit that recorded the run)")
    .argument('<name>', 'model name (a file gitml/models/NAME.yaml)')
    .requiredOption('--run <id>', 'id of the completed run whose output is the model')
    .option('--version <version>', 'version to register, like v1.2.0 (default: the next patch version)')
    .option('--bump <part>', 'derive the version from the highest one: major, minor or patch')
    .option('-m, --message <text>', 'a note to add to the tag message')
    .option('--push [remote]', PUSH_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { run: string; version?: string; bump?: string; message?: string; push?: string | boolean; json?: boolean }, cmd: Command) => {
      if (opts.bump !== undefined && !['major', 'minor', 'patch'].includes(opts.bump)) usage(`--bump takes major, minor or patch, not ${JSON.stringify(opts.bump)}`);
      const { registerModel } = await import('../../core/registry/register.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const r = await registerModel({
        dir,
        name,
        runId: opts.run,
        version: opts.version,
        bump: opts.bump as 'major' | 'minor' | 'patch' | undefined,
        message: opts.message,
      });
      const pushed = await maybePush(dir, r.tag, opts.push);
      for (const w of r.warnings) writeErr(c.yellow(`warning: ${w}`, process.stderr) + '\n');
      if (opts.json) return printJson({ ...r, pushed });
      writeOut(
        `${c.green('registered')} ${c.bold(`${r.name}@${r.version}`)} from run ${r.runId} (tag ${r.tag} on ${r.commit.slice(0, 12)})\n` +
          `  model file ${r.artifact.path}  sha256:${r.artifact.sha256.slice(0, 16)}  ${r.artifact.size} bytes\n` +
          (r.meta.metrics && Object.keys(r.meta.metrics).length ? `  metrics ${Object.entries(r.meta.metrics).map(([k, v]) => `${k}=${fmtNum(v)}`).join(' ')}\n` : '') +
          (await pushHint(dir, r.tag, pushed)),
      );
    });

  model
    .command('promote')
    .description('Assign a stage to a version (NAME#STAGE#N); the stage must be in gitml.yaml `stages` and you must be allowed by `access`')
    .argument('<name>', 'model name')
    .argument('<version>', 'registered version, like v1.2.0')
    .argument('<stage>', 'stage from gitml.yaml `stages`, like production')
    .option('-m, --message <text>', 'a note to add to the tag message')
    .option('--push [remote]', PUSH_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, version: string, stage: string, opts: { message?: string; push?: string | boolean; json?: boolean }, cmd: Command) => {
      const { promoteModel } = await import('../../core/registry/promote.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const r = await promoteModel({ dir, name, version, stage, message: opts.message });
      const pushed = await maybePush(dir, r.tag, opts.push);
      if (opts.json) return printJson({ ...r, pushed });
      if (!r.created) {
        process.stdout.write(`${r.name} ${r.version} is already the ${r.stage} version; nothing to do\n`);
        return;
      }
      process.stdout.write(`${c.green('promoted')} ${c.bold(`${r.name} ${r.version}`)} to ${c.bold(r.stage)} by ${r.by.name} <${r.by.email}> (tag ${r.tag})\n${await pushHint(dir, r.tag!, pushed)}`);
    });

  model
    .command('demote')
    .description("Unassign a stage from its current version (NAME#STAGE!#N); the stage falls back to the previous version still assigned, if any")
    .argument('<name>', 'model name')
    .argument('<stage>', 'stage to clear, like production')
    .option('-m, --message <text>', 'a note to add to the tag message')
    .option('--push [remote]', PUSH_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, stage: string, opts: { message?: string; push?: string | boolean; json?: boolean }, cmd: Command) => {
      const { demoteModel } = await import('../../core/registry/demote.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const r = await demoteModel({ dir, name, stage, message: opts.message });
      const pushed = await maybePush(dir, r.tag, opts.push);
      if (opts.json) return printJson({ ...r, pushed });
      process.stdout.write(
        `${c.yellow('demoted')} ${c.bold(`${r.name} ${r.version}`)} from ${c.bold(r.stage)} (tag ${r.tag}); ${r.stage} is now ${r.current ?? 'empty'}\n${await pushHint(dir, r.tag!, pushed)}`,
      );
    });

  model
    .command('deregister')
    .description('Withdraw a version (NAME@vX.Y.Z!); it leaves every stage and its number is not reused')
    .argument('<name>', 'model name')
    .argument('<version>', 'registered version, like v1.2.0')
    .option('-m, --message <text>', 'a note to add to the tag message')
    .option('--push [remote]', PUSH_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, version: string, opts: { message?: string; push?: string | boolean; json?: boolean }, cmd: Command) => {
      const { deregisterModel } = await import('../../core/registry/deregister.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const r = await deregisterModel({ dir, name, version, message: opts.message });
      const pushed = await maybePush(dir, r.tag, opts.push);
      if (opts.json) return printJson({ ...r, pushed });
      process.stdout.write(`${c.yellow('deregistered')} ${c.bold(`${r.name}@${r.version}`)} (tag ${r.tag})${r.stages.length ? `; it was the ${r.stages.join(', ')} version` : ''}\n${await pushHint(dir, r.tag, pushed)}`);
    });

  model
    .command('deprecate')
    .description('Deprecate a whole model (NAME@deprecated); `gitml models` hides it unless --all; registering a new version revives it')
    .argument('<name>', 'model name')
    .option('-m, --message <text>', 'a note to add to the tag message')
    .option('--push [remote]', PUSH_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { message?: string; push?: string | boolean; json?: boolean }, cmd: Command) => {
      const { deprecateModel } = await import('../../core/registry/deprecate.js');
      const dir = repoDir(cmd.optsWithGlobals());
      const r = await deprecateModel({ dir, name, message: opts.message });
      const pushed = await maybePush(dir, r.tag, opts.push);
      if (opts.json) return printJson({ ...r, pushed });
      process.stdout.write(`${c.yellow('deprecated')} ${c.bold(r.name)} (tag ${r.tag})\n${await pushHint(dir, r.tag, pushed)}`);
    });

  model
    .command('show')
    .description("Show a model's versions, stages, stage history and the lineage of one version")
    .argument('<ref>', 'NAME (latest version), NAME@vX.Y.Z, NAME@latest or NAME#STAGE')
    .option('--json', 'print everything as JSON')
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const { showModel } = await import('../../core/registry/show.js');
      const d = await showModel({ dir: repoDir(cmd.optsWithGlobals()), ref });
      if (opts.json) return printJson(d);
      const out: string[] = [];
      out.push(`${c.bold(d.name)}${d.deprecated ? c.yellow(' (deprecated)') : ''}  latest ${d.latest ?? '-'}`);
      out.push('');
      out.push(c.bold('Stages'));
      out.push(d.stages.length ? table(['STAGE', 'VERSION', 'SINCE', 'BY', 'TAG'], d.stages.map((s) => [s.stage, s.version, when(s.since), who(s.by), s.tag])) : c.dim('  no stage assigned'));
      out.push('');
      out.push(c.bold('Versions'));
      out.push(
        table(
          ['VERSION', 'STATUS', 'STAGES', 'RUN', 'METRICS', 'REGISTERED', 'BY'],
          d.versions.map((v) => [
            v.version === d.selected?.version ? `${v.version} *` : v.version,
            !v.registered ? 'unregistered' : v.active ? 'active' : 'deregistered',
            v.stages.join(',') || '-',
            v.run ?? '',
            Object.entries(v.metrics ?? {})
              .slice(0, 3)
              .map(([k, x]) => `${k}=${fmtNum(x)}`)
              .join(' '),
            when(v.registeredAt),
            who(v.registeredBy),
          ]),
        ),
      );
      out.push('');
      out.push(c.bold('History'));
      out.push(
        table(
          ['TIME', 'EVENT', 'VERSION', 'STAGE', 'BY', 'TAG'],
          [...d.history].reverse().map((e) => [when(e.time), e.kind, e.version ?? '', e.stage ?? '', who(e.by), e.tag]),
        ),
      );
      const sel = d.selected;
      if (sel) {
        out.push('');
        out.push(c.bold(`Lineage of ${d.name}@${sel.version}`));
        const l = sel.lineage;
        if (!l) out.push(c.dim(`  ${termSafe(sel.lineageError ?? 'not available', { line: true })}`));
        else {
          const rows: string[][] = [
            ['run', `${l.run} (${l.experiment}, ${l.status})`],
            ['runs commit', l.commit],
            ['source', `${l.source.commit}${l.source.branch ? ` (${l.source.branch})` : ''}${l.source.dirty ? ' dirty' : ''}`],
            ['environment', l.environment ? `${l.environment.name} ${l.environment.digest.slice(0, 19)}${l.environment.image ? ` ${l.environment.image}` : ''}` : '-'],
            ['compute', l.compute ? `${l.compute.name} (${l.compute.type})` : '-'],
            ['model file', l.artifact ? `${l.artifact.path} sha256:${l.artifact.sha256.slice(0, 16)} ${l.artifact.size} bytes` : '-'],
            ['params', Object.entries(l.params ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '-'],
            ['metrics', Object.entries(l.metrics ?? {}).map(([k, v]) => `${k}=${fmtNum(v)}`).join(' ') || '-'],
            ...Object.entries(l.inputs ?? {}).map(([k, i]) => [`input ${k}`, `${i.path} sha256:${i.sha256.slice(0, 16)}`]),
          ];
          for (const [k, v] of rows) out.push(`  ${termSafe(k, { line: true }).padEnd(12)} ${termSafe(v, { line: true })}`);
        }
      }
      writeOut(out.join('\n') + '\n');
    });
}
