export { type Build, type BuildDelta, ManifestFiles } from './files.js';
export { ManifestFolder } from './folder.js';
export {
  KubeSource,
  type KubeSourceOptions,
  type LoadKubeConfigOptions,
  loadKubeConfig,
} from './kube/index.js';
export { listManifestFiles } from './listing.js';
export {
  loadManifests,
  ManifestSource,
  type ManifestSourceOptions,
  type SnapshotChange,
} from './manifests.js';
export { loadMeshConfigFile } from './meshconfig.js';
