/**
 * The runs store's view of the artifact store: which store a run's large files go to, from
 * the runs store's config. The stores themselves live in core/artifacts/.
 */
import { artifactStoreFor as forConfig, type ArtifactStore } from '../artifacts/index.js';
import type { RunStoreConfig } from './config.js';

export { LocalArtifactStore, type ArtifactStore } from '../artifacts/index.js';

export function artifactStoreFor(config: RunStoreConfig): ArtifactStore {
  return forConfig(config.artifactStore);
}
