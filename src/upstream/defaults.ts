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
