// The controller <-> agent protocol (DESIGN.md module map: xds/). Envoy's ADS stream carrying Istio's
// NameTable and our VipRoutes; the .proto files are in proto/ at the package root.
export { AgentNameTable } from './agent-table.js';
export { backoffDelay } from './backoff.js';
export {
  AdsClient,
  type AdsClientOptions,
  type AdsClientState,
  type AdsClientTls,
  type XdsHandler,
  type XdsNameTableDelta,
} from './client.js';
export {
  decodeWorkloadConfig,
  encodeWorkloadConfig,
  workloadConfigFromResources,
  workloadConfigResource,
} from './config-codec.js';
export { DigestSum, digestHex, partDigest, versionDigest } from './digest-sum.js';
export {
  decodeNameTable,
  encodeNameEntry,
  encodeNameTable,
  nameTableFromResources,
  nameTableOfEntries,
  nameTableResource,
} from './nametable-codec.js';
export { type AgentIdentity, agentNode, type NodeView, nodeView } from './node.js';
export type {
  PerNameService,
  XdsPerNameAsk,
  XdsPerNameOutcome,
  XdsPerNameReply,
  XdsPerNameTouch,
} from './per-name.js';
export { PerNameForwarder } from './per-name-client.js';
export { NAME_TABLE_TYPE_URL, protoDir, VIP_ROUTES_TYPE_URL, WORKLOAD_CONFIG_TYPE_URL } from './proto.js';
export {
  contentVersion,
  ResourcePublisher,
  type XdsDeltaSource,
  type XdsNamed,
  type XdsSnapshot,
  type XdsSubscription,
} from './publisher.js';
export { AdsServer, type AdsServerOptions, type XdsTls } from './server.js';
export type { AdsStreamInfo, AdsTypeState } from './server-stream.js';
export type {
  XdsNameInfo,
  XdsNameTable,
  XdsNode,
  XdsRegistry,
  XdsResolution,
  XdsResource,
  XdsSetting,
  XdsVipBackend,
  XdsVipRoute,
  XdsWorkloadConfig,
} from './types.js';
export { decodeVipRoutes, encodeVipRoutes, vipRoutesFromResources, vipRoutesResource } from './vip-codec.js';
