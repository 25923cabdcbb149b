export { DEFAULT_DEBOUNCE_MS, DEFAULT_MAX_FILE_BYTES, DEFAULT_RESCAN_INTERVAL_MS } from './defaults.js';
export { type Build, type BuildDelta, ManifestFiles } from './files.js';
export { ManifestFolder } from './folder.js';
export { listManifestFiles } from './listing.js';
export {
  loadManifests,
  ManifestSource,
  type ManifestSourceOptions,
  type SnapshotChange,
} from './manifests.js';
export { loadMeshConfigFile } from './meshconfig.js';
