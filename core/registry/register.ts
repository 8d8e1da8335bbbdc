/**
 * `gitml model register NAME --run ID`: registers a completed run's model output as a new
 * version, an annotated tag `NAME@vX.Y.Z` on the runs commit that recorded the run (so the
 * tag reaches the artifact, its metrics and its lineage), with machine-readable metadata in
 * the message.
 *
 * @example
 *   const r = await registerModel({ dir: '/repo', name: 'iris', runId: '01jd…', bump: 'minor' });
 *   r.tag // 'iris@v0.1.0'
 */
import { GitmlError } from '../errors.js';
import { requireEntities } from '../entities/load.js';
import type { Entities, Experiment } from '../entities/types.js';
import type { ArtifactRef, RunRecord } from '../runs/types.js';
import { safeRelPosix } from '../paths.js';
import { lastSecond, snapshot, freeTagName } from './context.js';
import { bumpVersion, compareVersions, formatTag, invalidVersion, isValidName, isValidVersion, type Bump } from './grammar.js';
import { withRegistryLock } from './lock.js';
import { formatMessage, type TagMetadata } from './metadata.js';
import { defaultGetRun } from './run-source.js';
import type { GetRun } from './runs.js';
import { writeTag } from './write.js';

export interface RegisterOptions {
  dir: string;
  name: string;
  runId: string;
  /** Explicit version (vX.Y.Z); default: a bump of the highest version registered so far. */
  version?: string;
  bump?: Bump;
  /** Free text added to the tag message. */
  message?: string;
  /** Tagger time (tests). */
  now?: Date;
  getRun?: GetRun;
  env?: NodeJS.ProcessEnv;
}

export interface RegisterResult {
  name: string;
  version: string;
  tag: string;
  runId: string;
  /** The runs commit the tag points at. */
  commit: string;
  artifact: ArtifactRef;
  meta: TagMetadata;
  /** Registered, but something later steps will refuse (no sample data for the manifest). */
  warnings: string[];
}

/** The path of an experiment output (relative to the outputs folder), or undefined when not declared. */
export function outputPath(spec: Experiment | undefined, output: string): string | undefined {
  // An own key only: the name can come from a tag message (`__proto__`, `constructor`).
  if (!spec?.outputs || !Object.prototype.hasOwnProperty.call(spec.outputs, output)) return undefined;
  const o = spec.outputs[output];
  if (o === undefined || o === null) return undefined;
  return safeRelPosix(typeof o === 'string' ? o : o.path);
}

/** The artifact of `record` that is output `output` of its experiment. */
export function findOutput(record: RunRecord, ents: Entities | undefined, output: string): ArtifactRef | undefined {
  const path = outputPath(record.spec, output) ?? outputPath(ents?.experiments.get(record.experiment)?.spec, output);
  if (path === undefined) return undefined;
  return record.artifacts.find((a) => safeRelPosix(a.path) === path);
}

export async function registerModel(o: RegisterOptions): Promise<RegisterResult> {
  if (o.version !== undefined && o.bump !== undefined) throw new GitmlError('USAGE', 'give either --version or --bump, not both');
  if (o.version !== undefined && !isValidVersion(o.version)) throw invalidVersion(o.version);
  if (o.bump !== undefined && !['major', 'minor', 'patch'].includes(o.bump)) throw new GitmlError('USAGE', `--bump takes major, minor or patch, not ${JSON.stringify(o.bump)}`);
  const ents = await requireEntities({ dir: o.dir });
  const root = ents.dir;
  const model = ents.models.get(o.name);
  if (!model) {
    const known = [...ents.models.keys()].sort();
    throw new GitmlError('UNKNOWN_ENTITY', `there is no model ${JSON.stringify(o.name)} in gitml/models/ (known: ${known.join(', ') || 'none'})`, { kind: 'Model', name: o.name, known });
  }
  if (!isValidName(o.name)) {
    throw new GitmlError('MODEL', `model name ${JSON.stringify(o.name)} cannot be a git tag in GTO's format: use letters, digits, '-', '_', starting and ending with a letter or digit (rename gitml/models/${o.name}.yaml)`, { name: o.name });
  }
  const getRun = o.getRun ?? (await defaultGetRun(ents));
  const { record, commit } = await getRun({ dir: root, id: o.runId });
  if (record.experiment !== model.spec.experiment) {
    throw new GitmlError('MODEL', `run ${o.runId} is a run of experiment ${JSON.stringify(record.experiment)}, but model ${o.name} comes from experiment ${JSON.stringify(model.spec.experiment)}`, {
      run: o.runId,
      experiment: record.experiment,
      expected: model.spec.experiment,
    });
  }
  if (record.status !== 'completed') {
    throw new GitmlError('RUN_NOT_COMPLETED', `run ${o.runId} ${record.status === 'running' || record.status === 'queued' ? 'has not finished' : `did not complete (status ${record.status}${record.error ? `: ${record.error}` : ''})`}; only a completed run can be registered`, {
      run: o.runId,
      status: record.status,
    });
  }
  const artifact = findOutput(record, ents, model.spec.artifact);
  if (!artifact) {
    throw new GitmlError('MODEL_OUTPUT_MISSING', `run ${o.runId} has no output ${JSON.stringify(model.spec.artifact)} (the model file of ${o.name}); its artifacts: ${record.artifacts.map((a) => a.path).join(', ') || 'none'}`, {
      run: o.runId,
      output: model.spec.artifact,
      artifacts: record.artifacts.map((a) => a.path),
    });
  }
  if (artifact.size === 0) {
    throw new GitmlError('MODEL_OUTPUT_MISSING', `run ${o.runId} wrote its output ${JSON.stringify(model.spec.artifact)} (${artifact.path}) empty (0 bytes): that is not a model; fix the training code and register a new run`, {
      run: o.runId,
      output: model.spec.artifact,
      artifacts: record.artifacts.map((a) => a.path),
    });
  }
  // The manifest (image, serve) needs the sample output: say so now, not at the image build.
  const warnings: string[] = [];
  if (model.spec.sample && !findOutput(record, ents, model.spec.sample)) {
    warnings.push(`run ${record.id} has no sample data (output ${JSON.stringify(model.spec.sample)}): \`gitml manifest\`, \`gitml image build\` and \`gitml serve\` will refuse this version`);
  }

  return withRegistryLock(root, async () => {
    const snap = await snapshot(root);
    const m = snap.state.models.get(o.name);
    const atCommit = m?.versions.find((v) => v.registered && v.commit === commit);
    if (atCommit?.active) {
      throw new GitmlError('VERSION_EXISTS', `run ${o.runId} is registered already as ${o.name}@${atCommit.version}`, { name: o.name, version: atCommit.version, run: o.runId, reason: 'run' });
    }
    let version = o.version;
    if (version !== undefined) {
      const taken = m?.versions.find((v) => v.version === version && v.registered);
      // A deregistered version may come back only for the same run (undoing the deregistration).
      if (taken && (taken.active || taken.commit !== commit)) {
        throw new GitmlError('VERSION_EXISTS', `${o.name}@${version} exists already${taken.active ? '' : ' (deregistered)'}; choose another version or use --bump`, { name: o.name, version, reason: 'version' });
      }
    } else if (atCommit) {
      version = atCommit.version;
    } else {
      // Bump from the highest version ever registered, so a deregistered one is never reused.
      const highest = m?.versions.filter((v) => v.registered && isValidVersion(v.version)).map((v) => v.version).sort(compareVersions).at(-1);
      version = bumpVersion(highest, o.bump ?? 'patch');
    }
    const meta: TagMetadata = {
      gitml: 1,
      action: 'register',
      model: o.name,
      version,
      run: record.id,
      experiment: record.experiment,
      artifact: { output: model.spec.artifact, path: artifact.path, sha256: artifact.sha256, size: artifact.size },
      metrics: record.metrics,
      source: record.source?.commit,
      ...(o.message ? { note: o.message } : {}),
    };
    const plain = formatTag({ action: 'register', name: o.name, version });
    const tag = freeTagName(snap, plain, o.name, (counter) => formatTag({ action: 'register', name: o.name, version: version!, counter }));
    // Stamped after the model's last event (a deprecation or a stage tag stamped ahead of the
    // clock): GTO orders by time, so a revival stamped earlier would stay deprecated.
    await writeTag({ dir: root, tag, commit, now: o.now, after: lastSecond(snap, o.name), env: o.env, message: formatMessage(`Register model ${o.name} ${version} from run ${record.id} (${record.experiment})${o.message ? `: ${o.message}` : ''}`, meta) });
    return { name: o.name, version, tag, runId: record.id, commit, artifact, meta, warnings };
  });
}
