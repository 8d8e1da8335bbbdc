/**
 * Fixed paths and ids inside every gitml run container. Kept apart from the dockerode code so
 * a target's `layout()` needs no heavy import.
 */

/** The uid:gid every run container runs as by default (never root). */
export const RUN_UID = 1000;
export const RUN_GID = 1000;
/** The exported commit tree (the repository root as of the run's commit). */
export const CODE_DIR = '/gitml/code';
/** $GITML_OUTPUTS inside the container. */
export const OUTPUTS_DIR = '/gitml/outputs';
/** $GITML_METRICS inside the container. */
export const METRICS_FILE = '/gitml/metrics.jsonl';

/** Labels on environment images. */
export const LABEL_ENVIRONMENT = 'dev.gitml.environment';
export const LABEL_DIGEST = 'dev.gitml.digest';
/** Labels on run containers. */
export const LABEL_RUN_ID = 'dev.gitml.run-id';
export const LABEL_EXPERIMENT = 'dev.gitml.experiment';
export const LABEL_COMPUTE = 'dev.gitml.compute';
