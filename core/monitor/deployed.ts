/**
 * The sampled requests of a deployed service: each replica's scoring server appends the
 * requests it samples (`monitoring.sampleRate`) to a file of its own on the service's
 * samples volume; they are copied to a temporary folder, read, and the folder removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import type { ServiceTarget } from './reference.js';

export async function withDeployedSampleLogs<T>(dir: string, target: ServiceTarget, fn: (logs: { files: string[]; label: string }) => Promise<T>): Promise<T> {
  const rate = Number(target.monitoring.sampleRate ?? 0);
  if (!(rate > 0)) {
    throw new GitmlError('USAGE', `service ${target.service} samples no requests: set \`monitoring.sampleRate\` (e.g. 0.1) in its YAML, commit and \`gitml deploy\`, or read a sample log with --requests FILE`, { service: target.service });
  }
  const { serviceDriver } = await import('../services/list.js');
  const driver = await serviceDriver({ dir, service: target.service });
  if (!driver.sampleLogs) {
    throw new GitmlError('USAGE', `reading the sampled requests of ${target.service} from its compute is not supported yet: copy a replica's sample log and pass it with --requests FILE`, { service: target.service });
  }
  const tmp = await mkdtemp(path.join(tmpdir(), 'gitml-samples-'));
  try {
    const files = await driver.sampleLogs(target.service, tmp);
    return await fn({ files, label: `the sample logs of ${target.service} (${files.length} replica${files.length === 1 ? '' : 's'})` });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
