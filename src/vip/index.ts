export { hasNetAdmin, requireNetAdmin } from './capability.js';
export { type ConntrackCounts, parseConntrack, readConntrack } from './conntrack.js';
export {
  VIP_DATAPLANES,
  type VipDataplane,
  type VipDataplaneKind,
  type VipServed,
} from './dataplane.js';
export { vipDataplaneMetrics, vipMetrics } from './metrics.js';
export { NatDataplane, type NatDataplaneOptions, removeNatRules } from './nat.js';
export { iptablesCommands, type NatCommands } from './nat-exec.js';
export { NAT_CHAINS, type NatEntry, natRemovalArgv, restoreInput } from './nat-rules.js';
export { nativeRelaySupport, VipProxy, type VipProxyOptions, type VipStats } from './proxy.js';
export { VIP_RELAYS, type VipRelayChoice, type VipRelayKind } from './relay.js';
export {
  type BackendAnswer,
  type BackendLookup,
  type BackendResolver,
  type UpstreamQuerier,
  upstreamLookup,
  upstreamResolver,
} from './resolver.js';
export { routeKey, targetsOf, type VipBackend, type VipRoute } from './routes.js';
