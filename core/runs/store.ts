/**
 * The runs store's public API (one file per operation; this module gathers them). See
 * layout.ts for the on-branch layout and catalog.ts for the derived index.
 */
export { newRunId, isRunId, runIdTime } from './id.js';
export { runStoreConfig, loadRunStoreConfig, DEFAULT_INLINE_MAX_BYTES, type RunStoreConfig } from './config.js';
export { recordRun, type RecordRunOptions } from './record.js';
export { getRun, type GetRunOptions } from './get.js';
export { listRuns, type ListRunsOptions, type ListRunsResult, type RunProblem } from './list.js';
export { readRunLogs, runLogs, readRunMetrics, readArtifact, artifactPath } from './read.js';
export { compareRuns, type RunComparison } from './compare.js';
export { pushRuns, pullRuns, type SyncResult } from './sync.js';
export { LocalArtifactStore, artifactStoreFor, type ArtifactStore } from './artifact-store.js';
export { runFolder } from './layout.js';
export { closeCatFiles as closeRunStore } from './git/catfile.js';
