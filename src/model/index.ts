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
export { check } from './fields.js';
export { formatError, formatPath, formatSource, type ManifestIssue } from './issues.js';
export { type ParsedManifest, parseManifest, parseManifestText, toManifestObject } from './manifest.js';
export { isMeshConfigFile, KYMA_ISTIO_NAME, MESH_CONFIGMAP, meshConfigFromText } from './mesh.js';
export {
  ipToBytes,
  isCidr,
  isDnsLabel,
  isHostname,
  isIPAddress,
  isWildcardHost,
  normalizeHost,
} from './names.js';
export { readMeshConfig, readProxyConfig } from './proxyconfig.js';
export { collectResources, type ManifestObject, toResources } from './resources.js';
export * from './types.js';
export { type Conversion, toResource } from './validate.js';
export { PROXY_CONFIG_ANNOTATION } from './workloads.js';
