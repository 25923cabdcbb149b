// Every default in one place (STYLE.md §9).
export const DEFAULTS = {
  dnsListen: '127.0.0.1:15053',
  namespace: 'default',
  clusterDomain: 'cluster.local',
  resolvConf: '/etc/resolv.conf',
  /** SPEC §4: total time budget for one forwarded query before SERVFAIL. */
  upstreamTimeoutMs: 5000,
  upstreamMaxInFlight: 1024,
  /** RFC 7766 §6.2.3 leaves the idle timeout to the server; CoreDNS uses 10 s. */
  tcpIdleTimeoutMs: 10_000,
  tcpMaxConnections: 1000,
  tcpMaxInFlightPerConnection: 64,
  manifestsDebounceMs: 100,
  /** SPEC §8: metrics and debug views; Istio's agent serves its own on this port too. */
  adminListen: '127.0.0.1:15020',
  /** At most one log line per this long for a burst of upstream failures. */
  upstreamFailureLogIntervalMs: 10_000,
  /** `--log-queries` without a value logs this share of the queries. */
  logQueriesSample: 0.01,
} as const;
