/**
 * Typed errors for gitml. Every error carries a stable `code` (tests assert on it, never on
 * message text), structured `data`, and whether retrying may help. Only the CLI entry point
 * turns these into exit codes and one-line messages.
 */
export type ErrorCode =
  | 'USAGE'
  | 'NOT_A_REPO'
  | 'NO_WORKSPACE'
  | 'INVALID_ENTITIES'
  | 'UNKNOWN_ENTITY'
  | 'UNKNOWN_REVISION'
  | 'RUN_NOT_FOUND'
  | 'RUNS_BRANCH_CORRUPT'
  | 'REF_CONFLICT'
  | 'LOCK_HELD'
  | 'PATH_ESCAPE'
  | 'REMOTE'
  | 'DIRTY_TREE'
  | 'PARAM'
  | 'TARGET'
  | 'DOCKER_UNAVAILABLE'
  | 'IMAGE_BUILD'
  | 'KUBERNETES'
  | 'KUBERNETES_UNAVAILABLE'
  | 'SPARK'
  | 'MODEL'
  | 'RUN_NOT_COMPLETED'
  | 'MODEL_OUTPUT_MISSING'
  | 'VERSION_EXISTS'
  | 'INVALID_VERSION'
  | 'UNKNOWN_VERSION'
  | 'STAGE_NOT_ALLOWED'
  | 'ACCESS_DENIED'
  | 'REGISTRY'
  | 'MANIFEST'
  | 'POLICY'
  | 'SERVE'
  | 'IO'
  | 'DISK_FULL'
  | 'CANCELED'
  | 'MONITOR'
  | 'DEPLOY'
  | 'ARTIFACT_MISSING'
  | 'ARTIFACT_CORRUPT'
  | 'ARTIFACT_STORE'
  | 'UNKNOWN_QUEUE_ENTRY'
  | 'INTERNAL';

export class GitmlError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  /** true when the same call may succeed later (a lock, a network blip, an engine restarting). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GitmlError';
    this.code = code;
    this.data = data;
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, data: this.data, retryable: this.retryable };
  }
}

export function isGitmlError(e: unknown, code?: ErrorCode): e is GitmlError {
  return e instanceof GitmlError && (code === undefined || e.code === code);
}

/** Exit codes scripts can rely on. */
export const EXIT = {
  OK: 0,
  /** the operation ran and found problems (invalid entities, a failed run, differences). */
  FAILURE: 1,
  /** the command line itself was wrong. */
  USAGE: 2,
  /** an environment problem: engine down, API server unreachable or refusing, no kubeconfig context, remote unreachable, lock held. */
  ENVIRONMENT: 3,
  /** interrupted by the user (SIGINT). */
  INTERRUPTED: 130,
} as const;

/**
 * The operating system's errors that are the machine's state, not a bug: a full disk, a
 * read-only or forbidden folder. They become GitmlErrors (exit 3) with a message saying what to
 * do; anything else is returned as it is. A failed git command reports the same in its stderr.
 */
export function fromSystemError(e: unknown): unknown {
  if (e instanceof GitmlError || !(e instanceof Error)) return e;
  const err = e as NodeJS.ErrnoException;
  const where = err.path ? ` (${err.path})` : '';
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || /No space left on device|Disk quota exceeded/i.test(err.message)) {
    return new GitmlError('DISK_FULL', `no space left on the device${where}: free some space and run again; what was already recorded is intact`, { path: err.path }, { cause: e, retryable: true });
  }
  if (err.code === 'EROFS') return new GitmlError('IO', `the file system is read-only${where}`, { path: err.path }, { cause: e });
  if ((err.code === 'EACCES' || err.code === 'EPERM') && err.path) {
    return new GitmlError('IO', `permission denied${where}: check the owner and mode of that path`, { path: err.path }, { cause: e });
  }
  return e;
}

export function exitCodeFor(e: unknown): number {
  e = fromSystemError(e);
  if (!(e instanceof GitmlError)) return EXIT.FAILURE;
  switch (e.code) {
    case 'USAGE':
    case 'PARAM':
    case 'INVALID_VERSION':
    case 'UNKNOWN_REVISION':
    case 'NOT_A_REPO':
    case 'UNKNOWN_QUEUE_ENTRY':
      return EXIT.USAGE;
    case 'DOCKER_UNAVAILABLE':
    case 'KUBERNETES_UNAVAILABLE':
    case 'REMOTE':
    case 'LOCK_HELD':
    case 'IO':
    case 'DISK_FULL':
    case 'ARTIFACT_MISSING':
    case 'ARTIFACT_CORRUPT':
    case 'ARTIFACT_STORE':
      return EXIT.ENVIRONMENT;
    case 'CANCELED':
      return EXIT.INTERRUPTED;
    default:
      return EXIT.FAILURE;
  }
}
