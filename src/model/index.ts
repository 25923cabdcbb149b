export {
  DNS_AUTO_ALLOCATE,
  DNS_CAPTURE,
  type EffectiveConfig,
  type EffectiveInput,
  effectiveConfig,
  findWorkload,
  type Setting,
  type SettingOrigin,
  workloadLabel,
} from './effective.js';
export { fastYamlDocuments } from './fastyaml.js';
export { formatError, formatPath, formatSource, type ManifestIssue } from './issues.js';
export { checked, meshConfigFromText, readMeshConfig, readProxyConfig } from './lazy.js';
export { type ParsedManifest, parseManifest, parseManifestText, toManifestObject } from './manifest.js';
export {
  flatName,
  ipToBytes,
  isCidr,
  isDnsLabel,
  isHostname,
  isIPAddress,
  isWildcardHost,
  normalizeHost,
} from './names.js';
export { collectResources, type ManifestObject, toResources } from './resources.js';
export * from './types.js';
export { type Conversion, toResource } from './validate.js';
export {
  isMeshConfigFile,
  KYMA_ISTIO_NAME,
  MESH_CONFIGMAP,
  PROXY_CONFIG_ANNOTATION,
} from './wellknown.js';
