/**
 * `gitml push` / `gitml pull`: exchange the runs branch, the model tags and the status branch with a remote.
 */
import type { Command } from 'commander';
import { c, printJson, progress, termSafe, writeErr } from '../output.js';
import { repoDir } from '../util.js';
import { redactUrls } from '../../core/redact.js';
import { GitmlError } from '../../core/errors.js';

interface SyncOpts {
  json?: boolean;
  tags?: boolean;
  artifacts?: string;
}

function summary(verb: string, r: import('../../core/runs/sync.js').SyncResult): string {
  const parts: string[] = [];
  if (verb === 'push') parts.push(r.pushed ? `pushed ${r.branch} (${r.after?.slice(0, 12)}) to ${r.remote}` : `nothing to push: no ${r.branch} branch yet`);
  if (r.action === 'merge') parts.push(`merged runs from ${r.remote}`);
  else if (r.action === 'fast-forward') parts.push(`fast-forwarded ${r.branch} to ${r.after?.slice(0, 12)}`);
  else if (verb === 'pull') parts.push(r.remoteTip ? `${r.branch} is up to date with ${r.remote}` : `${r.remote} has no ${r.branch} branch`);
  return parts.join('; ');
}

export function register(program: Command): void {
  for (const verb of ['push', 'pull'] as const) {
    const cmd = program
      .command(verb)
      .summary(verb === 'push' ? 'Push the runs branch and model tags to a remote (merging its new runs first)' : 'Fetch the runs branch and model tags from a remote and merge them in')
      .description(
        verb === 'push'
          ? 'Push the runs branch, then the model registry\'s tags (versions and stages; your other tags stay local), then the status branch (monitoring reports), to a remote; if the remote has new runs, merges them in and retries. With the git artifact store (the default), stored artifacts the remote lacks go first, under refs/gitml/artifacts/*'
          : 'Fetch the runs branch, the model registry\'s tags (versions and stages) and the status branch from a remote; fast-forward or merge the runs into the local runs branch (union of both sides). Tags that differ are reported, never overwritten. Stored artifacts come as --artifacts says (git store: from the remote; s3 store: into this clone\'s cache); any other is fetched when a command first needs it',
      )
      .argument('[remote]', 'remote name, path or URL', 'origin')
      .option('--no-tags', 'leave model tags alone; only the runs branch');
    if (verb === 'pull') cmd.option('--artifacts <which>', 'stored artifacts to fetch now: none, registered (those of registered model versions) or all', 'registered');
    cmd
      .option('--json', 'print {remote, branch, before, after, remoteTip, action, pushed, attempts, rejectedTags, status, artifacts} as JSON (status: the same for the status branch; artifacts: {store, moved, skipped, absent})')
      .action(async (remote: string, opts: SyncOpts, cmd: Command) => {
        const dir = repoDir(cmd.optsWithGlobals());
        const { pushRuns, pullRuns } = await import('../../core/runs/sync.js');
        // The progress line only on a terminal: in a script stderr holds just the outcome.
        const p = process.stderr.isTTY ? progress() : undefined;
        p?.update(`${verb === 'push' ? 'pushing to' : 'pulling from'} ${redactUrls(remote)}…`);
        let r;
        let status: import('../../core/status/sync.js').StatusSyncResult | undefined;
        let artifacts: import('../../core/artifacts/sync.js').ArtifactSyncResult | undefined;
        const arts = await import('../../core/artifacts/sync.js');
        const mode = (opts.artifacts ?? 'registered') as import('../../core/artifacts/sync.js').PullArtifacts;
        if (verb === 'pull' && !arts.PULL_ARTIFACTS.includes(mode)) throw new GitmlError('USAGE', `--artifacts must be one of ${arts.PULL_ARTIFACTS.join(', ')}, not ${JSON.stringify(opts.artifacts)}`, {});
        try {
          // Artifacts before the runs that name them: the remote never has a run without its bytes.
          if (verb === 'push') artifacts = await arts.pushArtifacts({ dir, remote });
          r = verb === 'push' ? await pushRuns({ dir, remote, tags: opts.tags }) : await pullRuns({ dir, remote, tags: opts.tags });
          if (verb === 'pull') {
            const { registeredArtifacts } = await import('../../core/registry/artifacts.js');
            artifacts = await arts.pullArtifacts({ dir, remote, mode, registered: async () => (await registeredArtifacts({ dir })).map((a) => a.sha256) });
          }
          // The status branch (service status, monitoring reports) travels with the runs.
          const { pushStatus, pullStatus } = await import('../../core/status/sync.js');
          status = verb === 'push' ? await pushStatus({ dir, remote }) : await pullStatus({ dir, remote });
        } finally {
          p?.done();
        }
        if (opts.json) printJson({ ...r, status, artifacts });
        else {
          process.stdout.write(summary(verb, r) + '\n');
          if (artifacts && artifacts.store !== 'local' && (artifacts.moved || artifacts.absent.length)) {
            process.stdout.write(`${verb === 'push' ? 'pushed' : 'fetched'} ${artifacts.moved} artifact${artifacts.moved === 1 ? '' : 's'} (${artifacts.skipped} already there)\n`);
          }
          if (artifacts?.absent.length) writeErr(`${c.yellow('warning', process.stderr)}: ${artifacts.absent.length} artifact(s) of registered versions are not on ${r.remote}; push them from the machine that recorded the run\n`);
          if (status) {
            const said = [status.pushed ? `pushed ${status.branch}` : '', status.action === 'merge' ? `merged ${status.branch}` : status.action === 'fast-forward' ? `fast-forwarded ${status.branch}` : ''].filter(Boolean);
            if (said.length) process.stdout.write(said.join('; ') + '\n');
          }
          for (const t of r.rejectedTags) writeErr(`${c.yellow('warning', process.stderr)}: tag ${termSafe(t, { line: true })} differs between here and ${r.remote}; left as is\n`);
        }
      });
  }
}
