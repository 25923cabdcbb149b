// What one answering thread counted (issue 12 item 5, `--workers`), as plain data that crosses threads,
// and how the main thread adds them up: the metrics and /debug/* show the sum over every thread.
import type { FailureCountsSnapshot, LimitName, QueryCountsSnapshot, UdpStats } from '../server/index.js';
import type { CacheStats, ForwarderStats, PendingUpstreamSnapshot } from '../upstream/index.js';

export interface AnsweringStats {
  udp: UdpStats;
  /** Absent when nothing is counted (`--no-metrics` without a query log). */
  queries: QueryCountsSnapshot | undefined;
  failures: FailureCountsSnapshot;
  reached: Record<LimitName, number>;
  /** Absent with the cache off. */
  cache: CacheStats | undefined;
  forwarder: ForwarderStats;
  /**
   * Istio's upstream counters: the forwards observed since the last report (a delta, replayed into the
   * main thread's counters once, see PendingUpstreamCounts); absent when nothing is counted.
   */
  upstream: PendingUpstreamSnapshot | undefined;
}

export function sumUdp(a: UdpStats, b: UdpStats): UdpStats {
  return {
    datagrams: a.datagrams + b.datagrams,
    batches: a.batches + b.batches,
    tooLong: a.tooLong + b.tooLong,
    inPlace: a.inPlace + b.inPlace,
    batchesInC: a.batchesInC + b.batchesInC,
    sendBlocked: a.sendBlocked + b.sendBlocked,
  };
}

/** Counts and sizes add up; the bounds are each thread's (the same on every thread). */
export function sumCache(a: CacheStats, b: CacheStats): CacheStats {
  return {
    hits: a.hits + b.hits,
    misses: a.misses + b.misses,
    inserts: a.inserts + b.inserts,
    evictions: a.evictions + b.evictions,
    stale: a.stale + b.stale,
    prefetches: a.prefetches + b.prefetches,
    coalesced: a.coalesced + b.coalesced,
    entries: a.entries + b.entries,
    bytes: a.bytes + b.bytes,
    maxEntries: a.maxEntries + b.maxEntries,
    maxBytes: a.maxBytes + b.maxBytes,
  };
}

/**
 * Per server: exchanges and failures add up; a server is down when any thread has it down (each thread
 * keeps its own health state: it is one of them that skips it); the latencies are the latest thread's;
 * hedges add up.
 */
export function sumForwarder(a: ForwarderStats, b: ForwarderStats): ForwarderStats {
  const servers = a.servers.map((s) => {
    const o = b.servers.find((x) => x.server === s.server);
    if (o === undefined) return s;
    return {
      ...s,
      queries: s.queries + o.queries,
      failures: s.failures + o.failures,
      lastLatencyMs: o.lastLatencyMs ?? s.lastLatencyMs,
      p95LatencyMs: o.p95LatencyMs ?? s.p95LatencyMs,
      consecutiveFailures: Math.max(s.consecutiveFailures, o.consecutiveFailures),
      down: s.down || o.down,
    };
  });
  const rejected = { ...a.rejected };
  for (const k of Object.keys(rejected) as (keyof typeof rejected)[]) rejected[k] += b.rejected[k] ?? 0;
  const replies = { ...a.replies };
  for (const k of Object.keys(replies) as (keyof typeof replies)[]) replies[k] += b.replies[k] ?? 0;
  return {
    servers,
    rejected,
    overflows: a.overflows + b.overflows,
    inFlight: a.inFlight + b.inFlight,
    replies,
    hedges: { sent: a.hedges.sent + b.hedges.sent, won: a.hedges.won + b.hedges.won },
  };
}

/**
 * `retired` plus the counters of a worker gone (`stats`, its last report): its gauges (cache size, in
 * flight, servers down) go with it, and what it forwarded was replayed already.
 */
export function retire(retired: AnsweringStats | undefined, stats: AnsweringStats): AnsweringStats {
  const counters: AnsweringStats = {
    ...stats,
    upstream: undefined,
    cache: stats.cache && { ...stats.cache, entries: 0, bytes: 0, maxEntries: 0, maxBytes: 0 },
    forwarder: {
      ...stats.forwarder,
      inFlight: 0,
      servers: stats.forwarder.servers.map((s) => ({ ...s, down: false })),
    },
  };
  const r = retired;
  if (r === undefined) return counters;
  return {
    udp: sumUdp(r.udp, counters.udp),
    queries: sumArrays(r.queries, counters.queries),
    failures: {
      byKind: Object.fromEntries(
        Object.entries(r.failures.byKind).map(([k, n]) => [
          k,
          n + (counters.failures.byKind[k as never] ?? 0),
        ]),
      ) as AnsweringStats['failures']['byKind'],
      byStage: [...r.failures.byStage, ...counters.failures.byStage],
    },
    reached: Object.fromEntries(
      Object.entries(r.reached).map(([k, n]) => [k, n + (counters.reached[k as never] ?? 0)]),
    ) as AnsweringStats['reached'],
    cache: r.cache && counters.cache ? sumCache(r.cache, counters.cache) : (r.cache ?? counters.cache),
    forwarder: sumForwarder(r.forwarder, counters.forwarder),
    upstream: undefined,
  };
}

function sumArrays(a: AnsweringStats['queries'], b: AnsweringStats['queries']): AnsweringStats['queries'] {
  if (a === undefined || b === undefined) return a ?? b;
  const add = (x: number[], y: number[]) => x.map((v, i) => v + (y[i] ?? 0));
  return {
    requests: add(a.requests, b.requests),
    responses: add(a.responses, b.responses),
    malformed: add(a.malformed, b.malformed),
  };
}
