// The Kubernetes source's internal tuning: no flag or option sets these, and nothing outside
// sources/kube/ uses them. The defaults a user can see or change live in src/defaults.ts.
/** A failed Kubernetes list or watch is retried after this long at first, doubling per failure… */
export const KUBE_RETRY_MIN_MS = 500;
/** …up to this (client-go's reflector backs off to 30 s too); each delay is half fixed, half random. */
export const KUBE_RETRY_MAX_MS = 30_000;
/**
 * Watches ask the server to end them after a random 5 to 10 minutes (client-go's minWatchTimeout), so a
 * connection that died without a reset is replaced; the informer rewatches from its resourceVersion.
 */
export const KUBE_WATCH_TIMEOUT_MIN_S = 300;
/** How often discovery is asked again for a type it did not serve (a CRD installed after start). */
export const KUBE_DISCOVERY_RECHECK_MS = 60_000;
/** A list or discovery request that takes longer fails and is retried. */
export const KUBE_REQUEST_TIMEOUT_MS = 60_000;
/** Events that never stop (a cluster always rolling something) still give a snapshot this often, in debounce periods. */
export const KUBE_DEBOUNCE_MAX_PERIODS = 10;
