// Metrics of the upstream side: Istio's four (same names, same buckets, pkg/dns/client/monitoring.go),
// then meshdns' own per-server and cache figures, read from stats() at scrape time.
import { Counter, counterFrom, gaugeFrom, Histogram, type Registry } from '../metrics.js';
import type { CacheStats } from './cache.js';
import type { ForwarderStats } from './forwarder.js';
import { MISMATCHES } from './message.js';
import { REPLY_CLASSES } from './outcome.js';
import { UPSTREAM_DURATION_BUCKETS } from './pending-counts.js';

export { UPSTREAM_DURATION_BUCKETS };

/** Counts forwarded queries as Istio does: once per query sent upstream, failed when no upstream answered. */
export function upstreamMetrics(
  registry: Registry,
  stats: () => ForwarderStats,
): (seconds: number, ok: boolean) => void {
  const requests = new Counter({
    name: 'dns_upstream_requests_total',
    help: 'Total number of DNS requests forwarded to upstream.',
    registers: [registry],
  });
  const failures = new Counter({
    name: 'dns_upstream_failures_total',
    help: 'Total number of DNS requests forwarded to upstream that got no answer.',
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'dns_upstream_request_duration_seconds',
    help: 'Total time in seconds to get a DNS response from upstream.',
    buckets: UPSTREAM_DURATION_BUCKETS,
    registers: [registry],
  });
  const perServer = (pick: (s: ForwarderStats['servers'][number]) => number) => () =>
    stats().servers.map((s): [Record<string, string>, number] => [{ server: s.server }, pick(s)]);
  counterFrom(
    registry,
    'meshdns_upstream_exchanges_total',
    'Exchanges with each upstream server (every try, UDP and TCP).',
    perServer((s) => s.queries),
    ['server'],
  );
  counterFrom(
    registry,
    'meshdns_upstream_exchange_failures_total',
    'Exchanges with each upstream server without a usable answer (timeout, error, SERVFAIL, REFUSED).',
    perServer((s) => s.failures),
    ['server'],
  );
  gaugeFrom(
    registry,
    'meshdns_upstream_healthy',
    'Whether each upstream server is up (1) or marked down after --upstream-max-fails failed tries (0).',
    perServer((s) => (s.down ? 0 : 1)),
    ['server'],
  );
  counterFrom(
    registry,
    'meshdns_upstream_rejected_replies_total',
    'Upstream replies dropped by the anti-spoofing checks (docs/behaviour.md §10), by the check they ' +
      'failed: source (another address or port), short, id, not-response, question.',
    () => {
      const { rejected } = stats();
      return MISMATCHES.map((reason): [Record<string, string>, number] => [{ reason }, rejected[reason]]);
    },
    ['reason'],
  );
  counterFrom(
    registry,
    'meshdns_upstream_dropped_total',
    'Forwarded queries never sent upstream, by reason: overflow (--upstream-max-in-flight queries were ' +
      'in flight; the client got SERVFAIL). Not in dns_upstream_requests_total.',
    () => [[{ reason: 'overflow' }, stats().overflows]],
    ['reason'],
  );
  counterFrom(
    registry,
    'meshdns_upstream_hedges_total',
    'Hedged tries (--upstream-hedge): a query also sent to the next upstream server because the one ' +
      'asked had not answered within its recent p95 round trip.',
    () => stats().hedges.sent,
  );
  counterFrom(
    registry,
    'meshdns_upstream_hedges_won_total',
    'Hedged tries whose reply was the one the client got (the slow server answered later or never).',
    () => stats().hedges.won,
  );
  counterFrom(
    registry,
    'meshdns_upstream_replies_total',
    'Forwarded queries answered, by kind of reply: success, nxdomain, nodata, referral, error.',
    () => {
      const { replies } = stats();
      return REPLY_CLASSES.map((c): [Record<string, string>, number] => [{ class: c }, replies[c]]);
    },
    ['class'],
  );
  return (seconds, ok) => {
    requests.inc();
    if (!ok) failures.inc();
    duration.observe(seconds);
  };
}

export function cacheMetrics(registry: Registry, stats: () => CacheStats): void {
  const read = (pick: (s: CacheStats) => number) => () => pick(stats());
  gaugeFrom(
    registry,
    'meshdns_cache_entries',
    'Answers in the cache.',
    read((s) => s.entries),
  );
  gaugeFrom(
    registry,
    'meshdns_cache_bytes',
    'Estimated bytes the cache holds.',
    read((s) => s.bytes),
  );
  const counters: [string, string, (s: CacheStats) => number][] = [
    ['hits', 'Queries answered from a fresh cache entry.', (s) => s.hits],
    ['misses', 'Cacheable queries with no fresh entry.', (s) => s.misses],
    ['evictions', 'Entries evicted to stay within the entry and byte bounds.', (s) => s.evictions],
    ['stale_answers', 'Expired answers served because upstream failed (RFC 8767).', (s) => s.stale],
    ['prefetches', 'Popular entries refreshed before they expired.', (s) => s.prefetches],
    ['coalesced', 'Misses that joined an identical upstream query in flight.', (s) => s.coalesced],
  ];
  for (const [name, help, pick] of counters) {
    counterFrom(registry, `meshdns_cache_${name}_total`, help, read(pick));
  }
}
