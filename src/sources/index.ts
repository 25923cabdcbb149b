export { type Build, type BuildDelta, ManifestFiles } from './files.js';
export { ManifestFolder } from './folder.js';
export {
  loadManifests,
  ManifestSource,
  type ManifestSourceOptions,
  type SnapshotChange,
  type SnapshotListener,
} from './manifests.js';
export { loadMeshConfigFile } from './meshconfig.js';
