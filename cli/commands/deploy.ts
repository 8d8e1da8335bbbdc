/**
 * `gitml deploy`, `gitml services`, `gitml service status|logs|delete`, `gitml rollback`:
 * thin over core/services/ (desired state from git, pure plan, drivers, status branch).
 */
import type { Command } from 'commander';
import { EXIT, GitmlError, exitCodeFor } from '../../core/errors.js';
import type { DeployResult, ServiceResult } from '../../core/services/reconcile.js';
import { c, printJson, progress, table, termSafe } from '../output.js';
import { repoDir, usage } from '../util.js';

interface DeployOpts {
  dryRun?: boolean;
  render?: boolean;
  prune?: boolean;
  wait?: boolean;
  json?: boolean;
  rev?: string;
}

/** Exit status of a deploy: 3 when an engine was down or a lock held, 1 when a service failed. */
function deployExit(r: DeployResult): number {
  const errs = r.services.map((s) => s.error).filter((e): e is { code: string; message: string } => Boolean(e));
  if (errs.length === 0) return EXIT.OK;
  const codes = errs.map((e) => exitCodeFor(new GitmlError(e.code as never, e.message)));
  return codes.includes(EXIT.ENVIRONMENT) ? EXIT.ENVIRONMENT : codes.includes(EXIT.USAGE) ? EXIT.USAGE : EXIT.FAILURE;
}

function printResult(r: DeployResult): void {
  const out: string[] = [];
  const noop = r.services.every((s) => s.noop && !s.error);
  out.push(c.dim(`${r.dryRun ? 'plan for' : 'deployed'} gitml/services/ at ${r.ref} (${r.revision.slice(0, 12)})`));
  for (const s of r.services) {
    if (s.error) {
      out.push(`${c.red('✗')} ${s.name}: ${termSafe(s.error.message)}`);
      continue;
    }
    if (s.noop) {
      out.push(`${c.green('✓')} ${s.name}: ${s.orphan ? termSafe(s.plan[0] ?? 'not deployed') : `up to date${s.url ? ` at ${s.url}` : ''}`}`);
      continue;
    }
    if (r.dryRun) {
      out.push(`${c.bold(s.name)}: ${s.steps.length} step(s)`);
      for (const p of s.plan) out.push(`  - ${termSafe(p)}`);
      continue;
    }
    out.push(`${c.green('✓')} ${s.name}: ${s.steps.length} step(s) applied${s.url ? `, serving at ${s.url}` : ''}`);
  }
  if (noop && r.services.length > 0) out.push('nothing to change');
  if (r.services.length === 0) out.push('no services in gitml/services/');
  process.stdout.write(out.join('\n') + '\n');
}

export function register(program: Command): void {
  program
    .command('deploy')
    .description('Reconcile services with git: each Service YAML plus the stage tags decide which model versions run where')
    .argument('[service...]', 'services in gitml/services/ (default: all)')
    .option('--dry-run', 'print the plan (steps, and the objects for --render) and change nothing')
    .option('--render', 'print the objects each service would get (containers and proxy config, or Kubernetes YAML) without contacting any engine or cluster')
    .option('--prune', 'also remove what gitml deployed for services whose YAML is gone')
    .option('--wait', 'wait until the new replicas are ready and traffic has moved (the default)')
    .option('--no-wait', 'Kubernetes: return once the Deployments are applied; the cluster rolls out, and the next deploy (or the daemon) moves traffic and removes what is left (Docker always waits: its proxy moves traffic only to ready replicas)')
    .option('--rev <revision>', 'deploy the YAML of this commit or branch (default: the tip of the default branch)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Desired state is the Service YAML at the tip of the default branch (or --rev) and the
registry's tags: \`stage: production\` serves the version currently promoted to production.
Actual state is what the compute target runs, found by gitml's labels, so any later process
sees it. The plan is start-first: new replicas start and answer /v2/health/ready, the proxy
switches traffic, in-flight requests drain, then old replicas stop. A deploy with nothing to
change is a no-op and says so. Each reconcile is recorded on the status branch
(\`git show gitml-status:services/NAME/status.json\`).

Docker: one container per replica on a network of the service, and an HAProxy front
publishing \`port\` on 127.0.0.1 (0.0.0.0 for a remote engine); \`canary.weight\` percent of
requests go to the canary version. The proxy image is haproxy:2.8 unless GITML_PROXY_IMAGE
names another. Kubernetes: a Deployment and a Service (a canary Deployment splits traffic
by replica ratio; name a Gateway in the compute for an HTTPRoute with exact weights).
Exit status: 0 when every service is Ready, 1 when one failed (Stalled), 2 on bad usage,
3 when an engine is down or another deploy holds the lock too long.`,
    )
    .action(async (names: string[], opts: DeployOpts, cmd: Command) => {
      const dir = repoDir(cmd.optsWithGlobals());
      if (opts.render) {
        const { renderServices } = await import('../../core/services/render.js');
        const r = await renderServices({ dir, services: names, rev: opts.rev });
        if (opts.json) printJson(r);
        else process.stdout.write(r.map((x) => `# service ${x.name} (${x.compute})\n${x.text}`).join('---\n'));
        return;
      }
      const { deploy } = await import('../../core/services/reconcile.js');
      const p = progress(process.stderr);
      const r = await deploy({ dir, services: names, rev: opts.rev, dryRun: opts.dryRun, prune: opts.prune, wait: opts.wait !== false, onProgress: (l) => p.update(l) });
      p.done();
      if (opts.dryRun && !opts.json) {
        const { renderServices } = await import('../../core/services/render.js');
        const kube = r.services.filter((s) => s.desired?.compute.type === 'kubernetes' && !s.noop).map((s) => s.name);
        if (kube.length) {
          for (const x of await renderServices({ dir, services: kube, rev: opts.rev })) process.stdout.write(`# objects of ${x.name}\n${x.text}`);
        }
      }
      if (opts.json) printJson(r);
      else printResult(r);
      process.exitCode = deployExit(r);
    });

  program
    .command('services')
    .description('List services: desired and running versions, replicas ready/desired, URL, conditions, last deploy')
    .option('--json', 'print the list as JSON')
    .option('--rev <revision>', 'compare with the YAML of this revision (default: the default branch)')
    .action(async (opts: { json?: boolean; rev?: string }, cmd: Command) => {
      const { listServices } = await import('../../core/services/list.js');
      const list = await listServices({ dir: repoDir(cmd.optsWithGlobals()), rev: opts.rev });
      if (opts.json) return printJson(list);
      if (list.length === 0) {
        process.stdout.write('no services in gitml/services/ and none deployed\n');
        return;
      }
      const rows = list.map((s) => [
        s.name,
        s.desired.map((v) => `${v.version}${v.role === 'canary' ? ` (canary ${v.weight}%)` : ''}`).join(', ') || s.problem || '-',
        s.running.map((v) => `${v.version}${v.weight < 100 ? ` ${v.weight}%` : ''}`).join(', ') || '-',
        `${s.ready}/${s.replicas}`,
        s.url ?? '-',
        s.conditions.find((x) => x.status)?.type === 'Stalled' ? c.red(`Stalled: ${s.conditions.find((x) => x.type === 'Stalled')!.reason}`) : s.state,
        s.lastDeploy ? `${s.lastDeploy.at.slice(0, 16).replace('T', ' ')} ${s.lastDeploy.by} ${s.lastDeploy.revision.slice(0, 8)}${s.lastDeploy.tags.length ? ` ${s.lastDeploy.tags.join(' ')}` : ''}` : '-',
      ]);
      process.stdout.write(table(['SERVICE', 'DESIRED', 'RUNNING', 'READY', 'URL', 'STATE', 'LAST DEPLOY'], rows.map((r) => r.map((x) => termSafe(x)))) + '\n');
    });

  const service = program.command('service').description('One service: status, logs, delete');
  service
    .command('status')
    .description('Conditions, replicas with their health, the front, and the deploy history of a service')
    .argument('<name>', 'a service')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const { serviceDetail } = await import('../../core/services/list.js');
      const d = await serviceDetail({ dir: repoDir(cmd.optsWithGlobals()), service: name });
      if (opts.json) return printJson(d);
      const out: string[] = [`${c.bold(d.name)}  ${d.state}${d.url ? `  ${d.url}` : ''}`];
      for (const x of d.conditions) out.push(`  ${x.type.padEnd(12)} ${String(x.status).padEnd(6)} ${x.reason}${x.message ? `: ${termSafe(x.message)}` : ''}`);
      if (d.replicas.length) {
        out.push('', table(['REPLICA', 'VERSION', 'ROLE', 'STATE', 'IMAGE'], d.replicas.map((r) => [r.id.slice(0, 12), r.version, r.role, r.status, r.image])));
      }
      if (d.history.length) {
        out.push('', table(['WHEN', 'BY', 'TRIGGER', 'REVISION', 'VERSIONS', 'RESULT'], d.history.map((h) => [h.at.slice(0, 19).replace('T', ' '), h.by.name, h.trigger, h.revision.slice(0, 12), h.versions.map((v) => `${v.version}${v.role === 'canary' ? ` ${v.weight}%` : ''}`).join(', '), h.failed ? `Stalled: ${h.failed.code}` : 'Ready']).map((r) => r.map((x) => termSafe(x)))));
      }
      process.stdout.write(out.join('\n') + '\n');
    });
  service
    .command('logs')
    .description('Log lines of every replica (and the proxy), prefixed by version and replica')
    .argument('<name>', 'a service')
    .option('-f, --follow', 'keep following until Ctrl-C')
    .action(async (name: string, opts: { follow?: boolean }, cmd: Command) => {
      const { serviceDriver } = await import('../../core/services/list.js');
      const d = await serviceDriver({ dir: repoDir(cmd.optsWithGlobals()), service: name });
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await d.logs(name, { follow: Boolean(opts.follow), signal: ac.signal, write: (l) => process.stdout.write(termSafe(l, { line: true }) + '\n') });
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
  service
    .command('delete')
    .description('Stop and remove everything gitml deployed for a service (its YAML stays; the next deploy brings it back)')
    .argument('<name>', 'a service')
    .option('--json', 'print {deleted, compute} as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const { deleteService } = await import('../../core/services/reconcile.js');
      const r = await deleteService({ dir: repoDir(cmd.optsWithGlobals()), service: name });
      if (opts.json) printJson({ service: name, ...r });
      else process.stdout.write(r.deleted ? `deleted ${name} from ${r.compute}\n` : `${name} is not deployed anywhere\n`);
    });

  program
    .command('rollback')
    .description("Move a service's stage back to the previous (or given) version with a new stage tag, then deploy")
    .argument('<service>', 'a service that serves a stage')
    .option('--to <version>', 'the version to go back to (default: the one the stage had before)')
    .option('--no-deploy', 'only write the stage tag')
    .option('--json', 'print {tag, version, deploy} as JSON')
    .addHelpText('after', '\nRolling back is moving a tag: the tag history is the audit trail (`gitml model show NAME`).\nExit status as for deploy.')
    .action(async (name: string, opts: { to?: string; deploy: boolean; json?: boolean }, cmd: Command) => {
      if (opts.to !== undefined && !/^v\d+\.\d+\.\d+/.test(opts.to)) usage(`--to takes a version such as v1.2.0, not ${JSON.stringify(opts.to)}`);
      const { rollback } = await import('../../core/services/rollback.js');
      const p = progress(process.stderr);
      const r = await rollback({ dir: repoDir(cmd.optsWithGlobals()), service: name, to: opts.to, deploy: opts.deploy, onProgress: (l) => p.update(l) });
      p.done();
      if (opts.json) printJson(r);
      else {
        process.stdout.write(`${r.model}#${r.stage}: ${r.from} -> ${r.version}${r.tag ? ` (tag ${r.tag})` : ''}\n`);
        if (r.deploy) printResult(r.deploy);
      }
      if (r.deploy) process.exitCode = deployExit(r.deploy);
    });
}

export type { ServiceResult };
