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
  /** SPEC §5 (Istio's ranges): Class E space and the IPv6 benchmarking prefix, never routed on the internet. */
  vipRangeV4: '240.240.0.0/16',
  vipRangeV6: '2001:2::/48',
  /** The VIP state file, relative to the folder that holds the manifests folder (not inside it). */
  stateFile: '.meshdns/allocations.json',
  /** Istio's agent port for DNS, the redirect target of `meshdns capture`. */
  captureAgentPort: 15053,
} as const;
