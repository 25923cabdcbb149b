// Public surface of upstream/: resolv.conf, upstream addresses, the forwarder and the answer cache.

export { askServer } from './ask.js';
export {
  type CacheEntry,
  type CacheHit,
  type CacheQuestion,
  type CacheSettings,
  type CacheStats,
  cacheKey,
  cacheKeyOf,
  cacheSettings,
  DnsCache,
} from './cache.js';
export {
  type CachedAnswer,
  type Prepared,
  prepareAnswer,
  renderAnswer,
  type Uncacheable,
} from './cache-answer.js';
export { type CacheRestore, type CacheSnapshotEntry, dumpCache, restoreCache } from './cache-snapshot.js';
export {
  cryptoRandom,
  Forwarder,
  type ForwarderOptions,
  type ForwarderStats,
  type ForwardObserver,
  type ForwardOptions,
  type ServerStats,
} from './forwarder.js';
export { type HedgeMode, LatencyWindow } from './hedge.js';
export { buildQuery } from './message.js';
export {
  type Answered,
  classifyReply,
  FORWARD_FAILURES,
  type ForwardFailure,
  type ForwardResult,
  type NotAnswered,
  REPLY_CLASSES,
  type ReplyClass,
  replyOf,
} from './outcome.js';
export {
  PendingUpstreamCounts,
  type PendingUpstreamSnapshot,
  UPSTREAM_DURATION_BUCKETS,
} from './pending-counts.js';
export {
  formatUpstream,
  parseResolvConf,
  parseUpstreamAddress,
  type ResolvConf,
  readResolvConf,
  type UpstreamServer,
} from './resolvconf.js';
export {
  type DatagramLink,
  type DatagramLinkFactory,
  dgramLink,
  type LinkEvents,
  type UdpPoolSettings,
} from './udp-pool.js';
