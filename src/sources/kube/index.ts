// The Kubernetes API as a source of resources (issue 10 item 1).
export { type LoadKubeConfigOptions, loadKubeConfig } from './config.js';
export { KubeSource, type KubeSourceOptions } from './source.js';
