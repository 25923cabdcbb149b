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
  /** SPEC §5: the VIP ranges (Istio's defaults), routed locally by `meshdns capture`. */
  vipRangeV4: '240.240.0.0/16',
  vipRangeV6: '2001:2::/48',
  /** Istio's agent port for DNS. */
  captureAgentPort: 15053,
} as const;
