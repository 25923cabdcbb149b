export { CacheStage, type CacheStageOptions } from './cache-stage.js';
export { type QueryLogger, ServerMetrics, type ServerMetricsOptions } from './metrics.js';
export {
  type AnswerObserver,
  type AnswerSource,
  type Outcome,
  PASS,
  Pipeline,
  type PipelineObserver,
  type Request,
  type Stage,
  type Transport,
} from './pipeline.js';
export { DnsServer, type DnsServerOptions } from './server.js';
export { ForwardStage, TableStage, type UpstreamClient } from './stages.js';
export type { TcpLimits } from './tcp.js';
export { type Datagram, UdpListener } from './udp.js';
