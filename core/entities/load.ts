/**
 * Loads a repository's gitml entities from the working tree or from any commit, validates
 * each file against its JSON Schema, and checks the references between them. Returns
 * `{ value, errors, warnings }`; `requireEntities` throws when there are errors.
 *
 * @example
 *   const { value, errors } = await loadEntities({ dir: '/repo', rev: 'HEAD~1' });
 *   for (const p of errors) console.log(formatProblem(p));
 */
import { kubernetesProblems } from './kube-checks.js';
import path from 'node:path';
import { GitmlError } from '../errors.js';
import { findRepoRoot, resolveCommit } from '../git.js';
import { closest } from '../suggest.js';
import { locate, schemaProblems, type SourceDoc } from './diagnostics.js';
import { parseEntity } from './parse.js';
import { validate } from './schemas.js';
import { commitFiles, workingTreeFiles, type EntityFile } from './sources.js';
import {
  KIND_DIRS,
  WORKSPACE_FILE,
  type Entities,
  type EntityKind,
  type Experiment,
  type LoadResult,
  type Loaded,
  type Problem,
  type Workspace,
} from './types.js';

export { findRepoRoot };

export interface LoadOptions {
  /** Any folder inside the repository. */
  dir: string;
  /** Read from this commit (anything git rev-parse understands) instead of the working tree. */
  rev?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const KIND_OF_DIR = new Map(Object.entries(KIND_DIRS).map(([k, d]) => [d, k as Exclude<EntityKind, 'Workspace'>]));

interface Parsed {
  kind: EntityKind;
  name: string;
  file: string;
  src: () => SourceDoc;
  data: Record<string, unknown>;
}

export async function loadEntities(opts: LoadOptions): Promise<LoadResult> {
  const dir = await findRepoRoot(opts.dir);
  const commit = opts.rev === undefined ? undefined : await resolveCommit(dir, opts.rev);
  const files = commit ? await commitFiles(dir, commit) : await workingTreeFiles(dir);
  return loadFromFiles(dir, files, commit);
}

export async function loadFromFiles(dir: string, files: EntityFile[], commit?: string): Promise<LoadResult> {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const where = commit ? ` in commit ${commit.slice(0, 12)}` : '';

  if (!files.some((f) => f.path === WORKSPACE_FILE)) {
    errors.push({
      file: WORKSPACE_FILE,
      line: 0,
      col: 0,
      code: 'missing',
      severity: 'error',
      message: `no gitml.yaml at the repository root${where} (${dir}); run \`gitml init\` to create one`,
    });
  }

  const parsed: Parsed[] = [];
  const invalid = new Set<string>();
  const byKindName = new Map<string, Parsed>();
  for (const f of files) {
    const kind: EntityKind = f.path === WORKSPACE_FILE ? 'Workspace' : KIND_OF_DIR.get(path.posix.dirname(f.path))!;
    const stem = path.posix.basename(f.path).replace(/\.ya?ml$/i, '');
    const bytes = await f.read();
    const p = parseEntity(f.path, bytes);
    errors.push(...p.problems);
    if (!p.src || p.data === undefined) continue;
    const data = p.data as Record<string, unknown>;

    // A kind that does not match the folder is the most useful thing to say first.
    if (typeof data.kind === 'string' && data.kind !== kind) {
      const at = locate(p.src(), ['kind']);
      errors.push({
        file: f.path,
        ...at,
        code: 'schema',
        severity: 'error',
        message: `\`kind\` is ${JSON.stringify(data.kind)}, but files in ${kind === 'Workspace' ? 'gitml.yaml' : KIND_DIRS[kind as Exclude<EntityKind, 'Workspace'>] + '/'} must be \`kind: ${kind}\``,
      });
      if (kind !== 'Workspace') invalid.add(`${kind}/${stem}`);
      continue;
    }
    const schemaErrors = validate(kind, data);
    if (schemaErrors.length > 0) {
      errors.push(...schemaProblems(p.src(), data, schemaErrors, kind));
      // Still known by name, so references to it do not add a second, misleading error.
      if (kind !== 'Workspace') invalid.add(`${kind}/${stem}`);
      continue;
    }
    if (kind !== 'Workspace') {
      if (!NAME_RE.test(stem)) {
        errors.push({ file: f.path, line: 0, col: 0, code: 'name', severity: 'error', message: `file name ${JSON.stringify(stem)} is not a valid entity name (letters, digits, '.', '_', '-'; starting with a letter or digit)` });
        continue;
      }
      if (typeof data.name === 'string' && data.name !== stem) {
        errors.push({ file: f.path, ...locate(p.src(), ['name']), code: 'name', severity: 'error', message: `\`name\` is ${JSON.stringify(data.name)} but the file is ${path.posix.basename(f.path)}; an entity's name is its file stem (rename the file or remove \`name\`)` });
        continue;
      }
      const key = `${kind}/${stem}`;
      const prev = byKindName.get(key);
      if (prev) {
        errors.push({ file: f.path, line: 1, col: 1, code: 'duplicate', severity: 'error', message: `a ${kind} named ${JSON.stringify(stem)} is already defined in ${prev.file}` });
        continue;
      }
      const entry: Parsed = { kind, name: stem, file: f.path, src: p.src, data };
      byKindName.set(key, entry);
      parsed.push(entry);
    } else {
      parsed.push({ kind, name: String(data.name), file: f.path, src: p.src, data });
    }
  }

  const ws = parsed.find((p) => p.kind === 'Workspace');
  const maps = {
    experiments: new Map<string, Loaded<never>>(),
    compute: new Map<string, Loaded<never>>(),
    environments: new Map<string, Loaded<never>>(),
    models: new Map<string, Loaded<never>>(),
    services: new Map<string, Loaded<never>>(),
  };
  const mapOf: Record<Exclude<EntityKind, 'Workspace'>, Map<string, Loaded<never>>> = {
    Experiment: maps.experiments,
    ComputeTarget: maps.compute,
    Environment: maps.environments,
    Model: maps.models,
    Service: maps.services,
  };
  for (const p of parsed) if (p.kind !== 'Workspace') mapOf[p.kind].set(p.name, { name: p.name, file: p.file, spec: p.data as never });

  for (const key of invalid) {
    const [kind, name] = key.split('/') as [Exclude<EntityKind, 'Workspace'>, string];
    if (!mapOf[kind].has(name)) mapOf[kind].set(name, { name, file: '', spec: { invalid: true } as never });
  }
  errors.push(...checkReferences(parsed, maps, ws, invalid));
  // What a Kubernetes API server would refuse (422), at its line and column, before any deploy or run.
  const wsDefaults = ((ws?.data ?? {}) as { defaults?: { compute?: string; environment?: string } }).defaults ?? {};
  errors.push(...kubernetesProblems(parsed, wsDefaults));

  if (errors.length > 0) return { errors: sortProblems(errors), warnings };
  return {
    value: {
      dir,
      commit,
      workspace: { name: String(ws!.data.name), file: ws!.file, spec: ws!.data as unknown as Workspace },
      ...(maps as unknown as Omit<Entities, 'dir' | 'commit' | 'workspace'>),
    },
    errors: [],
    warnings,
  };
}

function checkReferences(
  parsed: Parsed[],
  maps: Record<string, Map<string, Loaded<never>>>,
  ws: Parsed | undefined,
  invalid: Set<string>,
): Problem[] {
  const out: Problem[] = [];
  const ref = (p: Parsed, fieldPath: (string | number)[], value: unknown, target: Map<string, unknown>, what: string, extra?: (name: string) => string | undefined) => {
    if (typeof value !== 'string') return;
    const at = () => locate(p.src(), fieldPath); // parsing positions only when there is a problem
    const label = '`' + fieldPath.join('.') + '`';
    if (!target.has(value)) {
      const known = [...target.keys()].sort();
      const guess = closest(value, known);
      out.push({
        file: p.file,
        ...at(),
        code: 'reference',
        severity: 'error',
        message: `${label} refers to ${JSON.stringify(value)}, but there is no ${what} of that name ${known.length ? `(known: ${known.join(', ')})` : `(none defined yet)`}${guess ? `; did you mean "${guess}"?` : ''}`,
      });
      return;
    }
    const more = extra?.(value);
    if (more) out.push({ file: p.file, ...at(), code: 'reference', severity: 'error', message: `${label}: ${more}` });
  };
  const wsData = (ws?.data ?? {}) as unknown as Workspace;
  const stages = wsData.stages ?? ['dev', 'staging', 'production'];
  if (ws) {
    ref(ws, ['defaults', 'compute'], wsData.defaults?.compute, maps.compute, 'compute target');
    ref(ws, ['defaults', 'environment'], wsData.defaults?.environment, maps.environments, 'environment');
    for (const stage of Object.keys(wsData.access ?? {})) {
      if (!stages.includes(stage)) {
        out.push({ file: ws.file, ...locate(ws.src(), ['access', stage], true), code: 'reference', severity: 'error', message: `\`access\` names stage ${JSON.stringify(stage)}, which is not in \`stages\` (${stages.join(', ')})` });
      }
    }
  }
  const outputsOf = (exp: string): string[] => Object.keys(((maps.experiments.get(exp)?.spec as Experiment | undefined)?.outputs ?? {}) as object);
  for (const p of parsed) {
    const d = p.data as Record<string, any>;
    switch (p.kind) {
      case 'Experiment':
        if (d.compute !== undefined) ref(p, ['compute'], d.compute, maps.compute, 'compute target');
        else if (!wsData.defaults?.compute) out.push(missingDefault(p, 'compute', 'compute target'));
        if (d.environment !== undefined) ref(p, ['environment'], d.environment, maps.environments, 'environment');
        break;
      case 'Model': {
        ref(p, ['experiment'], d.experiment, maps.experiments, 'experiment');
        const outs = outputsOf(d.experiment);
        const isOutput = (o: string) => (outs.includes(o) ? undefined : `${JSON.stringify(o)} is not an output of experiment ${JSON.stringify(d.experiment)} (its outputs: ${outs.join(', ') || 'none'})`);
        if (maps.experiments.has(d.experiment) && !invalid.has(`Experiment/${d.experiment}`)) {
          ref(p, ['artifact'], d.artifact, new Map(outs.map((o) => [o, o])), `output of experiment ${JSON.stringify(d.experiment)}`, isOutput);
          if (d.sample !== undefined) ref(p, ['sample'], d.sample, new Map(outs.map((o) => [o, o])), `output of experiment ${JSON.stringify(d.experiment)}`, isOutput);
        }
        if (d.environment !== undefined) ref(p, ['environment'], d.environment, maps.environments, 'environment');
        break;
      }
      case 'Service': {
        ref(p, ['model'], d.model, maps.models, 'model');
        ref(p, ['compute'], d.compute, maps.compute, 'compute target', (name) => {
          if (invalid.has(`ComputeTarget/${name}`)) return undefined;
          const type = (maps.compute.get(name)?.spec as { type?: string } | undefined)?.type;
          return type === 'docker' || type === 'kubernetes' ? undefined : `services deploy to a docker or kubernetes compute target; ${JSON.stringify(name)} is ${type}`;
        });
        const stageRef = (fieldPath: string[], v: unknown) => {
          if (typeof v === 'string' && !stages.includes(v)) {
            out.push({ file: p.file, ...locate(p.src(), fieldPath), code: 'reference', severity: 'error', message: `\`${fieldPath.join('.')}\` is ${JSON.stringify(v)}, which is not a stage of this workspace (${stages.join(', ')})` });
          }
        };
        stageRef(['stage'], d.stage);
        stageRef(['canary', 'stage'], d.canary?.stage);
        if (d.monitoring?.retrain?.experiment !== undefined) ref(p, ['monitoring', 'retrain', 'experiment'], d.monitoring.retrain.experiment, maps.experiments, 'experiment');
        break;
      }
      default:
        break;
    }
  }
  return out;
}

function missingDefault(p: Parsed, field: string, what: string): Problem {
  return {
    file: p.file,
    line: 1,
    col: 1,
    code: 'reference',
    severity: 'error',
    message: `no \`${field}\` given and gitml.yaml sets no \`defaults.${field}\`; name a ${what}`,
  };
}

function sortProblems(ps: Problem[]): Problem[] {
  return ps.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

export function formatProblem(p: Problem): string {
  const loc = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  return `${loc}: ${p.message}`;
}

/** Load and throw a GitmlError listing the problems when the entities are not valid. */
export async function requireEntities(opts: LoadOptions): Promise<Entities> {
  const r = await loadEntities(opts);
  if (r.value) return r.value;
  const missing = r.errors.find((e) => e.code === 'missing');
  if (missing && r.errors.length === 1) throw new GitmlError('NO_WORKSPACE', missing.message, { problems: r.errors });
  const head = r.errors.slice(0, 10).map(formatProblem).join('\n  ');
  const more = r.errors.length > 10 ? `\n  … and ${r.errors.length - 10} more (run \`gitml validate\`)` : '';
  throw new GitmlError('INVALID_ENTITIES', `the gitml entities are not valid:\n  ${head}${more}`, { problems: r.errors });
}

/** The workspace defaults applied to an experiment: which compute and environment it uses. */
export function resolveExperiment(ents: Entities, name: string): { experiment: Loaded<Experiment>; compute: string; environment?: string } {
  const experiment = ents.experiments.get(name);
  if (!experiment) {
    const known = [...ents.experiments.keys()].sort();
    const guess = closest(name, known);
    throw new GitmlError('UNKNOWN_ENTITY', `there is no experiment ${JSON.stringify(name)} (known: ${known.join(', ') || 'none'})${guess ? `; did you mean "${guess}"?` : ''}`, { kind: 'Experiment', name, known });
  }
  const compute = experiment.spec.compute ?? ents.workspace.spec.defaults?.compute;
  const environment = experiment.spec.environment ?? ents.workspace.spec.defaults?.environment;
  return { experiment, compute: compute!, environment };
}
