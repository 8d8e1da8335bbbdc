/**
 * GTO's tag grammar (iterative/gto, gto/constants.py and gto/tag.py), parsed and formatted
 * exactly as GTO does, so that tags written by gitml are read by `gto show` and tags written
 * by `gto register` / `gto assign` are read by gitml.
 *
 *   name@v1.2.0          register a version           name@v1.2.0!      deregister it
 *   name#prod#3          assign stage `prod` (3rd counted event of `name`)
 *   name#prod!#4         unassign it                  name@deprecated   deprecate `name`
 *
 * Every form may carry a `#N` counter (GTO writes it on assignments, and on the others when
 * the plain tag already exists). N counts over ALL tags of the artifact, not per stage.
 * Artifact names may have a folder prefix `dir:name`, written `dir=name` in tags since `:`
 * is not allowed in git ref names.
 *
 * @example
 *   parseTag('iris#production#3') // { action: 'assign', name: 'iris', stage: 'production', counter: 3, ... }
 *   formatTag({ action: 'register', name: 'iris', version: 'v1.0.0' }) // 'iris@v1.0.0'
 */
import { GitmlError } from '../errors.js';

export type TagAction = 'register' | 'deregister' | 'assign' | 'unassign' | 'deprecate' | 'create';

export interface ParsedTag {
  tag: string;
  action: TagAction;
  /** Artifact name, with `:` for a folder prefix (as GTO names it). */
  name: string;
  version?: string;
  stage?: string;
  counter?: number;
}

// Character classes copied from GTO; in Python's `[a-zA-Z0-9-/_]` the `-` after a range is a
// literal, so both mean "letters, digits, '-', '/', '_'" (and '.' for folder names).
const DIRNAME = String.raw`[a-zA-Z0-9\-_./]+`;
const NAME = String.raw`[a-zA-Z0-9](?:[a-zA-Z0-9\-/_]*[a-zA-Z0-9])?`;
/** semver.org's recommended regex, as GTO embeds it after a `v`. */
const SEMVER = String.raw`(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-(?:(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+(?:[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?`;
const FULLNAME_IN_TAG = `(?:${DIRNAME}=)?${NAME}`;

const NAME_RE = new RegExp(`^${NAME}$`);
const FULLNAME_RE = new RegExp(`^(?:${DIRNAME}:)?${NAME}$`);
const VERSION_RE = new RegExp(`^v${SEMVER}$`);
const TAG_RE = new RegExp(
  `^(?<artifact>${FULLNAME_IN_TAG})(?:(?:(?:#(?<stage>${NAME})|@(?<version>v${SEMVER}))(?<cancel>!?))|@(?:(?<deprecated>deprecated)|(?<created>created)))(?:#(?<counter>[0-9]+))?$`,
);
const SEMVER_PARTS_RE = /^v(\d+)\.(\d+)\.(\d+)(?:-([^+]+))?(?:\+(.+))?$/;

/** True when `s` is a valid GTO artifact name (`dir:name` allowed). */
export function isValidName(s: string): boolean {
  return FULLNAME_RE.test(s);
}

/** True when `s` is a valid GTO stage name: letters, digits, '-', '/', '_', starting and ending alphanumeric. */
export function isValidStage(s: string): boolean {
  return NAME_RE.test(s);
}

/** True when `s` is a version GTO accepts: `v` then a full semantic version (v1.2.0, v1.0.0-rc.1+build.5). */
export function isValidVersion(s: string): boolean {
  return VERSION_RE.test(s);
}

/** Parse a tag name; null when it is not in GTO's grammar (GTO ignores such tags too). */
export function parseTag(tag: string): ParsedTag | null {
  const m = TAG_RE.exec(tag);
  if (!m?.groups) return null;
  const g = m.groups;
  const name = g.artifact.replace(/=/g, ':');
  const counter = g.counter === undefined ? undefined : Number.parseInt(g.counter, 10);
  const base = { tag, name, ...(counter === undefined ? {} : { counter }) };
  if (g.deprecated) return { ...base, action: 'deprecate' };
  if (g.created) return { ...base, action: 'create' };
  if (g.version) return { ...base, action: g.cancel === '!' ? 'deregister' : 'register', version: g.version };
  return { ...base, action: g.cancel === '!' ? 'unassign' : 'assign', stage: g.stage };
}

export interface TagParts {
  action: Exclude<TagAction, 'create'>;
  name: string;
  version?: string;
  stage?: string;
  /** A bigint for a counter past Number.MAX_SAFE_INTEGER (see nextCounter). */
  counter?: number | bigint;
}

/** Format a tag name (GTO's TagTemplates plus the optional `#N`); throws on parts GTO would not parse back. */
export function formatTag(p: TagParts): string {
  if (!isValidName(p.name)) throw new GitmlError('MODEL', `${JSON.stringify(p.name)} is not a valid model name for git tags: use letters, digits, '-', '_' and '/', starting and ending with a letter or digit`, { name: p.name });
  const artifact = p.name.replace(/:/g, '=');
  let tag: string;
  switch (p.action) {
    case 'register':
    case 'deregister':
      if (!p.version || !isValidVersion(p.version)) throw invalidVersion(p.version ?? '');
      tag = `${artifact}@${p.version}${p.action === 'deregister' ? '!' : ''}`;
      break;
    case 'assign':
    case 'unassign':
      if (!p.stage || !isValidStage(p.stage)) {
        throw new GitmlError('STAGE_NOT_ALLOWED', `${JSON.stringify(p.stage ?? '')} is not a valid stage name: use letters, digits, '-', '_' and '/', starting and ending with a letter or digit`, { stage: p.stage });
      }
      tag = `${artifact}#${p.stage}${p.action === 'unassign' ? '!' : ''}`;
      break;
    case 'deprecate':
      tag = `${artifact}@deprecated`;
      break;
  }
  if (p.counter !== undefined) {
    // A number past 2^53 would print as 1e+23: only exact integers make a tag GTO reads back.
    const ok = typeof p.counter === 'bigint' ? p.counter >= 0n : Number.isSafeInteger(p.counter) && p.counter >= 0;
    if (!ok) throw new GitmlError('INTERNAL', `bad tag counter ${p.counter}`);
    tag += `#${p.counter}`;
  }
  return tag;
}

export function invalidVersion(v: string): GitmlError {
  return new GitmlError('INVALID_VERSION', `${JSON.stringify(v)} is not a valid version: use v followed by a semantic version, like v1.2.0 or v2.0.0-rc.1`, { version: v });
}

export interface SemverParts {
  major: number;
  minor: number;
  patch: number;
  prerelease: string[];
  build?: string;
}

export function semverParts(v: string): SemverParts {
  if (!isValidVersion(v)) throw invalidVersion(v);
  const m = SEMVER_PARTS_RE.exec(v)!;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4] ? m[4].split('.') : [], build: m[5] };
}

/** Semantic-version precedence (semver.org §11; build metadata ignored), as python-semver compares. */
export function compareVersions(a: string, b: string): number {
  const x = semverParts(a);
  const y = semverParts(b);
  const d = x.major - y.major || x.minor - y.minor || x.patch - y.patch;
  if (d !== 0) return Math.sign(d);
  if (x.prerelease.length === 0 || y.prerelease.length === 0) return Math.sign(y.prerelease.length - x.prerelease.length);
  for (let i = 0; i < Math.max(x.prerelease.length, y.prerelease.length); i++) {
    const p = x.prerelease[i];
    const q = y.prerelease[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Math.sign(Number(p) - Number(q));
    if (pn) return -1;
    if (qn) return 1;
    return p < q ? -1 : 1;
  }
  return 0;
}

export type Bump = 'major' | 'minor' | 'patch';

/** The next version after `v` (python-semver's bump: drops prerelease and build), or the first version. */
export function bumpVersion(v: string | undefined, bump: Bump = 'patch'): string {
  const p = v ? semverParts(v) : { major: 0, minor: 0, patch: 0 };
  if (bump === 'major') return `v${p.major + 1}.0.0`;
  if (bump === 'minor') return `v${p.major}.${p.minor + 1}.0`;
  return `v${p.major}.${p.minor}.${p.patch + 1}`;
}

export interface ModelRef {
  name: string;
  version?: string;
  stage?: string;
  latest?: boolean;
}

/**
 * Parse a model reference as GTO's shortcuts do: `name`, `name@v1.2.0`, `name@latest`,
 * `name#production`.
 */
export function parseModelRef(ref: string): ModelRef {
  const at = ref.lastIndexOf('@');
  const hash = ref.indexOf('#');
  if (hash > 0 && (at < 0 || at < hash)) {
    const name = ref.slice(0, hash);
    const stage = ref.slice(hash + 1);
    if (!isValidName(name)) throw badRef(ref);
    if (!isValidStage(stage)) throw badRef(ref);
    return { name, stage };
  }
  if (at > 0) {
    const name = ref.slice(0, at);
    const version = ref.slice(at + 1);
    if (!isValidName(name)) throw badRef(ref);
    if (version === 'latest' || version === 'greatest') return { name, latest: true };
    if (!isValidVersion(version)) throw invalidVersion(version);
    return { name, version };
  }
  if (!isValidName(ref)) throw badRef(ref);
  return { name: ref };
}

function badRef(ref: string): GitmlError {
  return new GitmlError('USAGE', `${JSON.stringify(ref)} is not a model reference: use NAME, NAME@vX.Y.Z, NAME@latest or NAME#STAGE`, { ref });
}
