/**
 * Desired state: the Service YAML at a commit (default: the tip of the default branch) plus
 * the registry (stage -> version, from the tags). Everything here reads git only; images are
 * named by their manifest digest (`gitml-model/<model>:<digest12>`), so the same model version
 * gives the same image name on every machine and a no-op deploy builds nothing.
 *
 * @example
 *   const d = await desiredState({ dir: '/repo' });
 *   d.services.get('iris'); // { versions: [{ version: 'v1.0.0', image: 'gitml-model/iris:3f…', … }], … }
 */
import { GitmlError, isGitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { loadEntities, formatProblem } from '../entities/load.js';
import type { ComputeTarget, Entities, Loaded, Service } from '../entities/types.js';
import { snapshot, type RegistrySnapshot } from '../registry/context.js';
import { buildManifest } from '../package/manifest.js';
import { resolveModelRef } from '../registry/resolve.js';
import { modelImageTags } from '../package/image.js';
import type { DesiredService, DesiredVersion } from './types.js';

export const DEFAULT_STAGE = 'production';

export interface DesiredOptions {
  dir: string;
  /** The commit whose gitml/services/ YAML is deployed; default: the default branch's tip. */
  rev?: string;
}

/** One service's desired state, or why it cannot have one (unknown stage, no version, ...). */
export type DesiredEntry = { ok: true; service: DesiredService; compute: Loaded<ComputeTarget>; spec: Service } | { ok: false; name: string; error: GitmlError };

export interface DesiredState {
  /** The commit read. */
  revision: string;
  /** What `rev` named (branch name, or the given revision). */
  ref: string;
  entities: Entities;
  services: Map<string, DesiredEntry>;
}

/**
 * The default branch: the remote's HEAD when a clone knows it, else `main`, else `master`,
 * else whatever HEAD is (a repository with one unusual branch).
 */
export async function defaultBranch(dir: string): Promise<string> {
  return (await defaultBranchTip(dir)).branch;
}

/** The default branch and the commit at its tip (undefined for a repository without commits). */
async function defaultBranchTip(dir: string): Promise<{ branch: string; commit?: string }> {
  const remoteHead = await runGit(dir, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']);
  const candidates = remoteHead.code === 0 ? [remoteHead.stdout.trim().replace(/^origin\//, '')] : [];
  candidates.push('main', 'master');
  for (const b of candidates) {
    const r = await runGit(dir, ['rev-parse', '--verify', '--quiet', `refs/heads/${b}^{commit}`]);
    if (r.code === 0) return { branch: b, commit: r.stdout.trim() };
  }
  return { branch: 'HEAD' };
}

/** Read what git says should run, for every Service YAML at the revision. */
export async function desiredState(o: DesiredOptions): Promise<DesiredState> {
  const tip = o.rev === undefined ? await defaultBranchTip(o.dir) : undefined;
  const ref = o.rev ?? tip!.branch;
  const loaded = await loadEntities({ dir: o.dir, rev: tip?.commit ?? ref });
  if (!loaded.value) {
    const problems = loaded.errors.map(formatProblem);
    throw new GitmlError('INVALID_ENTITIES', `the gitml/ YAML at ${ref} is not valid:\n${problems.join('\n')}`, { problems, ref });
  }
  const ents = loaded.value;
  const revision = ents.commit!;
  const snap = await snapshot(ents.dir);
  const services = new Map<string, DesiredEntry>();
  for (const [name, svc] of ents.services) {
    try {
      const compute = ents.compute.get(svc.spec.compute)!;
      services.set(name, { ok: true, service: await desiredService(ents, snap, svc, compute, revision), compute, spec: svc.spec });
    } catch (e) {
      if (!isGitmlError(e)) throw e;
      services.set(name, { ok: false, name, error: e });
    }
  }
  return { revision, ref, entities: ents, services };
}

/** Which version a stage or an exact version names, with the tag that chose it. */
function pick(snap: RegistrySnapshot, svc: Loaded<Service>, model: string, stage: string | undefined, version: string | undefined, what: string): { version: string; tag?: string } {
  const m = snap.state.models.get(model);
  if (!m) {
    throw new GitmlError('UNKNOWN_VERSION', `${svc.file}: ${what} model ${JSON.stringify(model)} has no registered version yet: register one with \`gitml model register ${model} --run RUN\``, { service: svc.name, model });
  }
  if (version) {
    const v = m.versions.find((x) => x.version === version && x.registered && x.active);
    if (!v) throw new GitmlError('UNKNOWN_VERSION', `${svc.file}: ${what} version ${model}@${version} is not registered (registered: ${m.versions.filter((x) => x.registered && x.active).map((x) => x.version).join(', ') || 'none'})`, { service: svc.name, model, version });
    return { version, tag: v.tag };
  }
  const st = stage ?? DEFAULT_STAGE;
  const a = m.stages[st];
  if (!a) {
    throw new GitmlError('UNKNOWN_VERSION', `${svc.file}: ${what} stage ${JSON.stringify(st)} of model ${model} has no version: promote one with \`gitml model promote ${model} VERSION ${st}\``, { service: svc.name, model, stage: st });
  }
  return { version: a.version, tag: a.tag };
}

const manifests = new WeakMap<RegistrySnapshot, Map<string, ReturnType<typeof buildManifest>>>();

/**
 * The image a version runs: on Docker the local tag by manifest digest (built on the engine
 * when missing); on Kubernetes the version's tag in the compute's registry (pushed when
 * missing; the pods then run it by the digest the push returns).
 */
async function versionImage(ents: Entities, snap: RegistrySnapshot, compute: Loaded<ComputeTarget>, model: string, version: string): Promise<{ image: string; manifestDigest: string }> {
  // One manifest per version and registry snapshot: ten services of one model read its run once.
  let byRef = manifests.get(snap);
  if (!byRef) manifests.set(snap, (byRef = new Map()));
  const ref = `${model}@${version}`;
  let pending = byRef.get(ref);
  if (!pending) byRef.set(ref, (pending = buildManifest({ dir: ents.dir, ref, resolve: (r) => resolveModelRef({ ...r, snapshot: snap }) })));
  const built = await pending;
  const tags = modelImageTags(model, version, built.digest);
  if (compute.spec.type === 'kubernetes' && compute.spec.registry) {
    return { image: `${compute.spec.registry.replace(/^https?:\/\//, '').replace(/\/+$/, '')}/${tags.version}`, manifestDigest: built.digest };
  }
  return { image: compute.spec.type === 'kubernetes' ? tags.version : tags.digest, manifestDigest: built.digest };
}

async function desiredService(ents: Entities, snap: RegistrySnapshot, svc: Loaded<Service>, compute: Loaded<ComputeTarget>, revision: string): Promise<DesiredService> {
  const s = svc.spec;
  if (compute.spec.type !== 'docker' && compute.spec.type !== 'kubernetes') {
    throw new GitmlError('TARGET', `${svc.file}: services deploy to a docker or kubernetes compute target; ${JSON.stringify(s.compute)} is ${compute.spec.type}`, { service: svc.name, compute: s.compute });
  }
  const replicas = s.replicas ?? 1;
  const primary = pick(snap, svc, s.model, s.stage, s.version, 'the');
  const versions: DesiredVersion[] = [];
  const canaryWeight = s.canary && (s.canary.stage || s.canary.version) ? s.canary.weight : 0;
  const canary = canaryWeight > 0 ? pick(snap, svc, s.model, s.canary!.stage, s.canary!.version, 'the canary') : undefined;
  const same = canary && canary.version === primary.version;
  const p = await versionImage(ents, snap, compute, s.model, primary.version);
  versions.push({ version: primary.version, tag: primary.tag, ...p, replicas, weight: same || !canary ? 100 : 100 - canaryWeight, role: 'primary' });
  if (canary && !same) {
    const c = await versionImage(ents, snap, compute, s.model, canary.version);
    // Kubernetes without a gateway splits by replica ratio: size the canary to its weight.
    const canaryReplicas = Math.max(1, Math.round((replicas * canaryWeight) / Math.max(1, 100 - canaryWeight)));
    versions.push({ version: canary.version, tag: canary.tag, ...c, replicas: canaryReplicas, weight: canaryWeight, role: 'canary' });
  }
  // Kubernetes without a Gateway splits by replica ratio: that is the split to expect.
  if (compute.spec.type === 'kubernetes' && !compute.spec.gateway && versions.length > 1) {
    const total = versions.reduce((n, v) => n + v.replicas, 0);
    for (const v of versions) v.weight = Math.round((100 * v.replicas) / total);
  }
  return {
    name: svc.name,
    model: s.model,
    compute: { name: compute.name, type: compute.spec.type },
    revision,
    port: s.port ?? 8080,
    resources: { cpu: s.resources?.cpu, memory: s.resources?.memory },
    file: svc.file,
    versions,
    ...(s.monitoring?.sampleRate ? { sampleRate: s.monitoring.sampleRate } : {}),
  };
}
