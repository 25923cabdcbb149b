// Request metrics: Istio's dns_requests_total and meshdns' requests by protocol and qtype and
// responses by source and rcode, read from the pipeline's counts (query-counts.ts) at scrape time.
// server/'s metrics entry, beside index.ts: importing it loads prom-client, which the agent does only
// once its DNS listeners answer (test/unit/module-boundaries.test.ts names the light entries).
import { counterFrom, type Registry } from '../metrics.js';
import { QueryCounts, type QueryCountsOptions } from './query-counts.js';

export { failureMetrics } from './failure-metrics.js';
export { limitMetrics } from './limit-metrics.js';
export { udpMetrics } from './udp-metrics.js';

/** Registers the request metrics of `counts` (counted since the pipeline started). */
export function queryMetrics(registry: Registry, counts: QueryCounts): void {
  counterFrom(registry, 'dns_requests_total', 'Total number of DNS requests.', () => counts.total());
  counterFrom(
    registry,
    'meshdns_requests_total',
    'DNS requests by protocol and query type (malformed ones as qtype "invalid").',
    () => counts.requestSamples(),
    ['protocol', 'qtype'],
  );
  counterFrom(
    registry,
    'meshdns_responses_total',
    'DNS responses by where the answer came from (table, cache, stale, upstream, refused, autopath) and rcode.',
    () => counts.responseSamples(),
    ['source', 'rcode'],
  );
}

/** The pipeline's observer with its metrics registered at once (tests, the pipeline benchmark). */
export class ServerMetrics extends QueryCounts {
  constructor(registry: Registry, opts: QueryCountsOptions = {}) {
    super(opts);
    queryMetrics(registry, this);
  }
}
