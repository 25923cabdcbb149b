// Every upstream default in one place (STYLE.md §9).

/** glibc resolv.conf defaults and caps (resolv/resolv.h: RES_TIMEOUT, RES_DFLRETRY, RES_MAXNDOTS…). */
export const RESOLV_DEFAULTS = {
  /** glibc falls back to the local host when resolv.conf names no server. */
  nameserver: '127.0.0.1',
  ndots: 1,
  maxNdots: 15,
  timeoutSeconds: 5,
  maxTimeoutSeconds: 30,
  attempts: 2,
  maxAttempts: 5,
} as const;

export const DNS_PORT = 53;

export const FORWARDER_DEFAULTS = {
  /** Total time budget of one forward(), all servers and attempts included (SPEC §4: 5 s). */
  timeoutMs: 5000,
  /** Tries per server. */
  attempts: 2,
  /** A per-try timeout is never shorter than this, so a loaded loopback still gets a chance. */
  minPerTryTimeoutMs: 100,
  /** Upstream queries in flight; past it forward() fails at once (SPEC §10). */
  maxInFlight: 1024,
  rotate: true,
} as const;

/** The cache of upstream answers (SPEC §4 "Cache", §10 bounds). Seconds unless named otherwise. */
export const CACHE_DEFAULTS = {
  maxEntries: 10_000,
  /** SPEC §10: cache bytes are bounded too (answers, keys and bookkeeping, estimated). */
  maxBytes: 32 * 1024 * 1024,
  /** Positive answers live their smallest TTL, at most this (CoreDNS's cache plugin: 1 h). */
  maxTtl: 3600,
  /** RFC 2308 §5 recommends 1-3 h as the cap for negative answers; meshdns is stricter: 5 min. */
  maxNegativeTtl: 300,
  serveStale: true,
  /** RFC 8767 §5 suggests 1-3 days for how long an expired answer may still be served. */
  staleMaxAge: 86_400,
  /** RFC 8767 §4: stale answers carry TTL 30. */
  staleTtl: 30,
  /** RFC 8767 §5's client response timer: a stale answer is sent if upstream has not answered by then. */
  staleAfterMs: 1800,
  prefetch: true,
  /** An entry hit this often since it was stored is popular enough to refresh in the background… */
  prefetchMinHits: 2,
  /** …once this share of its TTL is left (unbound's prefetch: 10%)… */
  prefetchThreshold: 0.1,
  /** …if its TTL is at least this long (short TTLs are meant to expire). */
  prefetchMinTtl: 10,
} as const;
