/**
 * The registry state is a pure replay of the registry tags in tagger-time order, with GTO's
 * rules (gto/base.py), so that gitml and `gto show` agree:
 * - a version is active while its latest register/deregister event is a registration;
 * - an assignment names the version registered at the tagged commit;
 * - a stage's current version is the active version whose still-active assignment to that
 *   stage is the most recent (so demoting the current version falls back to the previous
 *   one still assigned, and promoting an older version again rolls back to it);
 * - a model is deprecated while its latest event is a deprecation.
 * Ties within one second (git keeps whole seconds) are broken by the `#N` counter, which
 * gitml writes under a lock and so orders its own events exactly.
 */
import { compareVersions, isValidVersion, type TagAction } from './grammar.js';
import type { TagMetadata } from './metadata.js';
import type { RegistryTag } from './read.js';

export type EventKind = Exclude<TagAction, 'create'>;

export interface RegistryEvent {
  kind: EventKind;
  model: string;
  version?: string;
  stage?: string;
  commit: string;
  /** Committer time of the tagged commit. */
  commitTime: number;
  tag: string;
  counter?: number;
  /** Seconds since the epoch. */
  time: number;
  tz: string;
  by: { name: string; email: string };
  message: string;
  meta?: TagMetadata;
}

export interface StageAssignment {
  stage: string;
  version: string;
  commit: string;
  /** When and by whom the (still active) assignment was made. */
  since: number;
  by: { name: string; email: string };
  tag: string;
}

export interface VersionState {
  /** vX.Y.Z, or the commit id for a commit that was assigned a stage without a registration (GTO allows it). */
  version: string;
  commit: string;
  registered: boolean;
  /** Registered and not deregistered since. */
  active: boolean;
  registeredAt?: number;
  registeredBy?: { name: string; email: string };
  deregisteredAt?: number;
  /** The registration tag and its gitml metadata (run id, artifact digest, metrics). */
  tag?: string;
  meta?: TagMetadata;
  /** Stages of which this version is the current one. */
  stages: string[];
}

export interface ModelState {
  name: string;
  deprecated: boolean;
  deprecatedAt?: number;
  /** Newest first by semantic version; unregistered commit "versions" last. */
  versions: VersionState[];
  /** Highest active registered version. */
  latest?: string;
  /** Current version of each stage that has one. */
  stages: Record<string, StageAssignment>;
  /** Every event of this model, oldest first. */
  history: RegistryEvent[];
  /** Highest `#N` among this model's tags (the next assignment writes N+1). */
  maxCounter: number;
}

export interface RegistryState {
  models: Map<string, ModelState>;
}

const PRIORITY: Record<EventKind, number> = { deprecate: 2, register: 3, deregister: 4, assign: 5, unassign: 6 };

function compareEvents(a: RegistryEvent, b: RegistryEvent): number {
  if (a.time !== b.time) return a.time - b.time;
  if (a.counter !== undefined && b.counter !== undefined && a.counter !== b.counter) return a.counter - b.counter;
  return PRIORITY[a.kind] - PRIORITY[b.kind] || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
}

export function toEvents(tags: RegistryTag[]): RegistryEvent[] {
  const out: RegistryEvent[] = [];
  for (const t of tags) {
    if (t.action === 'create') continue;
    const e = {
      kind: t.action,
      model: t.name,
      version: t.version,
      stage: t.stage,
      commit: t.commit,
      commitTime: t.commitTime,
      tag: t.tag,
      counter: t.counter,
      time: t.time,
      tz: t.tz,
      by: t.tagger,
      message: t.message,
    } as RegistryEvent;
    // Parsed only when read (see read.ts).
    Object.defineProperty(e, 'meta', { enumerable: true, get: () => t.meta });
    out.push(e);
  }
  return out.sort(compareEvents);
}

interface VersionWork {
  state: VersionState;
  direct: RegistryEvent[];
  /** stage -> assignment/unassignment events, in order */
  stageEvents: Map<string, RegistryEvent[]>;
  order: number;
}

/** Replay registry tags into the state of every model. Pure: same tags, same state. */
export function replay(tags: RegistryTag[]): RegistryState {
  const events = toEvents(tags);
  const byModel = new Map<string, RegistryEvent[]>();
  for (const e of events) {
    let list = byModel.get(e.model);
    if (!list) byModel.set(e.model, (list = []));
    list.push(e);
  }
  const models = new Map<string, ModelState>();
  for (const [name, list] of byModel) models.set(name, replayModel(name, list));
  return { models };
}

function replayModel(name: string, history: RegistryEvent[]): ModelState {
  const versions = new Map<string, VersionWork>();
  const position = new Map<RegistryEvent, number>();
  history.forEach((e, i) => position.set(e, i));
  let maxCounter = 0;
  for (const e of history) if (e.counter !== undefined && e.counter > maxCounter) maxCounter = e.counter;

  const newVersion = (version: string, commit: string, registered: boolean): VersionWork => {
    const w: VersionWork = {
      state: { version, commit, registered, active: false, stages: [] },
      direct: [],
      stageEvents: new Map(),
      order: versions.size,
    };
    versions.set(version, w);
    return w;
  };

  // Like GTO: registrations first (so an assignment finds the version at its commit whatever
  // the order of the tags), then assignments.
  for (const e of history) {
    if (e.kind !== 'register' && e.kind !== 'deregister') continue;
    const w = versions.get(e.version!) ?? newVersion(e.version!, e.commit, false);
    w.direct.push(e);
    if (e.kind === 'register') {
      w.state.registered = true;
      w.state.commit = e.commit;
      w.state.registeredAt ??= e.time;
      w.state.registeredBy ??= e.by;
      if (w.state.tag === undefined) {
        w.state.tag = e.tag;
        Object.defineProperty(w.state, 'meta', { enumerable: true, get: () => e.meta });
      }
    } else {
      w.state.deregisteredAt = e.time;
    }
  }
  for (const w of versions.values()) {
    const last = w.direct[w.direct.length - 1];
    w.state.active = last?.kind === 'register';
  }

  const byCommit = (commit: string): VersionWork => {
    const found = [...versions.values()].filter((w) => w.state.commit === commit && w.direct.length > 0);
    if (found.length > 0) {
      // Several versions at one commit cannot be written by gitml; prefer the active, newest.
      found.sort((a, b) => Number(b.state.active) - Number(a.state.active) || (position.get(b.direct.at(-1)!)! - position.get(a.direct.at(-1)!)!));
      return found[0];
    }
    return versions.get(commit) ?? newVersion(commit, commit, false);
  };
  for (const e of history) {
    if (e.kind !== 'assign' && e.kind !== 'unassign') continue;
    const w = byCommit(e.commit);
    // The tag names no version: like GTO, it is the version registered at the tagged commit.
    e.version = w.state.version;
    let list = w.stageEvents.get(e.stage!);
    if (!list) w.stageEvents.set(e.stage!, (list = []));
    list.push(e);
  }
  for (const w of versions.values()) {
    if (w.direct.length === 0) w.state.active = w.stageEvents.size > 0;
  }

  // Current version of each stage: the latest still-active assignment among active versions.
  const current = new Map<string, { w: VersionWork; e: RegistryEvent }>();
  for (const w of versions.values()) {
    if (!w.state.active) continue;
    for (const [stage, list] of w.stageEvents) {
      const last = list[list.length - 1];
      if (last.kind !== 'assign') continue;
      const prev = current.get(stage);
      if (!prev || position.get(last)! > position.get(prev.e)!) current.set(stage, { w, e: last });
    }
  }
  const stages: Record<string, StageAssignment> = {};
  for (const [stage, { w, e }] of [...current].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    stages[stage] = { stage, version: w.state.version, commit: w.state.commit, since: e.time, by: e.by, tag: e.tag };
    w.state.stages.push(stage);
  }

  const sorted = [...versions.values()].map((w) => w.state).sort(compareVersionStates);
  const latest = sorted.find((v) => v.registered && v.active && isValidVersion(v.version))?.version;
  const lastEvent = history[history.length - 1];
  const deprecations = history.filter((e) => e.kind === 'deprecate');
  // GTO also counts each version's commit (its time) as an event of the model: a deprecation
  // only holds if it is later than those too.
  const commitTimes = history.filter((e) => e.kind !== 'deprecate').map((e) => e.commitTime);
  const deprecated = lastEvent?.kind === 'deprecate' && commitTimes.every((t) => !(t >= lastEvent.time));
  return {
    name,
    deprecated,
    deprecatedAt: deprecations.at(-1)?.time,
    versions: sorted,
    latest,
    stages,
    history,
    maxCounter,
  };
}

function compareVersionStates(a: VersionState, b: VersionState): number {
  const av = isValidVersion(a.version);
  const bv = isValidVersion(b.version);
  if (av && bv) return compareVersions(b.version, a.version);
  if (av !== bv) return av ? -1 : 1;
  return a.version < b.version ? 1 : -1;
}

/** The state of one model, or undefined when no tag names it. */
export function modelState(state: RegistryState, name: string): ModelState | undefined {
  return state.models.get(name);
}

export function findVersion(m: ModelState | undefined, version: string): VersionState | undefined {
  return m?.versions.find((v) => v.version === version);
}
