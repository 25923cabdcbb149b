export { DEFAULT_DEBOUNCE_MS, DEFAULT_MAX_FILE_BYTES } from './defaults.js';
export { type Build, ManifestFiles } from './files.js';
export { listManifestFiles, ManifestFolder } from './folder.js';
export { loadManifests, ManifestSource, type ManifestSourceOptions } from './manifests.js';
export { loadMeshConfigFile } from './meshconfig.js';
