export { vipMetrics } from './metrics.js';
export { VipProxy, type VipProxyOptions, type VipStats } from './proxy.js';
export { type BackendResolver, type UpstreamQuerier, upstreamResolver } from './resolver.js';
export { routeKey, type VipBackend, type VipRoute } from './routes.js';
