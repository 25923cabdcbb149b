export { type AutopathOptions, AutopathStage, type AutopathStats } from './autopath-stage.js';
export { CacheStage, type CacheStageOptions } from './cache-stage.js';
export { type Cidr, ClientAllowList, isLoopbackHost, parseCidr } from './client-access.js';
export {
  FAILURE_KINDS,
  FAILURES,
  FailureCounts,
  type FailureCountsSnapshot,
  type FailureKind,
  type FailureObserver,
  failureAnswer,
} from './failures.js';
export { LIMIT_NAMES, type LimitName, type LimitObserver, type LimitStats, ServerLimits } from './limits.js';
export {
  PerNameAnswers,
  type PerNameAnswersOptions,
  type PerNameClient,
  type PerNameReply,
} from './per-name.js';
export {
  type AnswerObserver,
  type AnswerSource,
  keepMessage,
  type Outcome,
  PASS,
  Pipeline,
  type PipelineObserver,
  type Request,
  type Stage,
  type Trace,
  type Transport,
} from './pipeline.js';
export {
  QueryCounts,
  type QueryCountsOptions,
  type QueryCountsSnapshot,
  type QueryLogger,
} from './query-counts.js';
export { DnsServer, type DnsServerOptions } from './server.js';
export { ForwardStage, TableStage, type UpstreamClient } from './stages.js';
export type { TcpLimits } from './tcp.js';
export {
  type Datagram,
  resolveUdpIo,
  type UdpIo,
  UdpListener,
  type UdpPath,
  type UdpSettings,
  type UdpStats,
  udpReusePort,
  udpSettings,
} from './udp.js';
export { nativeLink, upstreamLink } from './upstream-link.js';
