// Every default a user can see or change, in one place (STYLE.md §9): flags, config objects and
// option fields take theirs from here. Module-internal tuning that no user sets stays beside its
// module (sources/tuning.ts, a few named constants); DNS protocol constants live in dns/constants.ts.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** `--workers` on a machine of `cores` cores (DEFAULTS.workers). */
export function defaultWorkers(cores: number): number {
  return cores <= 2 ? 1 : cores - 1;
}

/**
 * The cores this process may use: its CPU affinity (os.availableParallelism), capped by a cgroup CPU
 * quota where one is set (a pod's CPU limit: cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), rounded up.
 * Node 20 does not read the quota, and a sidecar limited to 1 CPU on a 32-core node must not start 31
 * answering threads.
 */
export function usableCores(
  cores = availableParallelism(),
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): number {
  const quota = (text: () => string): number | undefined => {
    try {
      const [q, p] = text().trim().split(/\s+/);
      const n = Number(q);
      const period = Number(p);
      return n > 0 && period > 0 ? Math.ceil(n / period) : undefined;
    } catch {
      return undefined;
    }
  };
  const limit =
    quota(() => read('/sys/fs/cgroup/cpu.max')) ??
    quota(
      () => `${read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')} ${read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')}`,
    );
  return Math.max(1, Math.min(cores, limit ?? cores));
}

export const DEFAULTS = {
  dnsListen: '127.0.0.1:15053',
  /**
   * UDP I/O (issue 12): `native` moves datagrams in batches (recvmmsg/sendmmsg) through the netio addon,
   * `dgram` is node:dgram; `auto` takes native where the addon was built and loads.
   */
  udpIo: 'auto' as 'auto' | 'native' | 'dgram',
  /** SO_RCVBUF asked for the DNS UDP socket: a burst of queries waits in the kernel, not dropped. */
  udpRecvBufferBytes: 4 << 20,
  /** SO_SNDBUF; 0 keeps the system's (net.core.wmem_default). */
  udpSendBufferBytes: 0,
  /**
   * Threads answering UDP (`--workers`, issue 12 item 5): 1 with 2 usable cores or fewer (the other
   * core is the load's and the table builder's), else one per core but one.
   */
  workers: defaultWorkers(usableCores()),
  namespace: 'default',
  clusterDomain: 'cluster.local',
  resolvConf: '/etc/resolv.conf',
  /** SPEC §4: total time budget for one forwarded query before SERVFAIL, all servers and tries included. */
  upstreamTimeoutMs: 5000,
  /** Tries per upstream server: glibc's RES_DFLRETRY, also what a resolv.conf without `attempts:` means. */
  upstreamAttempts: 2,
  /** Upstream queries in flight; past it a forward fails at once (SPEC §10). */
  upstreamMaxInFlight: 1024,
  /** Each forward starts at the next server, so the load spreads over all of them. */
  upstreamRotate: true,
  /**
   * Upstream UDP sockets (issue 12 item 4): this many per server, used in turn, each on a port the kernel
   * picks at random and retired after `maxQueries` queries or `maxAgeMs`, so the source port an off-path
   * forger must guess keeps moving (RFC 5452 §9.2) while a miss no longer opens and closes a socket.
   */
  upstreamUdpPool: { sockets: 8, maxQueries: 200, maxAgeMs: 10_000 },
  /**
   * Upstream TCP (RFC 7766 §6.2): up to `connections` per server kept open, each carrying up to
   * `maxPipelined` queries at once, closed after `idleMs` without one (CoreDNS forward's expire: 10 s).
   */
  upstreamTcpPool: { connections: 2, maxPipelined: 64, idleMs: 10_000 },
  /** Failed tries in a row that mark an upstream server down (CoreDNS forward's max_fails); 0: never. */
  upstreamMaxFails: 3,
  /**
   * Hedged upstream tries (issue 14 item 1, `--upstream-hedge`): `auto` asks the next server too when the
   * one asked has not answered within its own recent p95 round trip, never sooner than `minMs`, and after
   * `unknownMs` while it has answered fewer than 8 queries; `off` asks the next only after a failure.
   */
  upstreamHedge: { mode: 'auto' as 'auto' | 'off' | number, minMs: 5, unknownMs: 100 },
  /**
   * Autopath for every name (issue 14 item 2, `--no-autopath` turns it off): `<name>.<first search domain>`
   * is answered `CNAME <name>` plus `<name>`'s records when `<name>` exists. Acts only with a search list.
   */
  autopath: true,
  /** How often a down upstream server is probed to bring it back (CoreDNS forward's health_check). */
  upstreamHealthCheckMs: 500,
  /** glibc's resolv.conf defaults (resolv/resolv.h): RES_TIMEOUT per try, ndots, and the local host
   *  as the server when no `nameserver` line is given. */
  resolvTimeoutSeconds: 5,
  resolvNdots: 1,
  resolvNameserver: '127.0.0.1',
  /** The cache of upstream answers (SPEC §4 "Cache", §10 bounds). Seconds unless named otherwise. */
  cache: {
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
  },
  /** RFC 7766 §6.2.3 leaves the idle timeout to the server; CoreDNS uses 10 s. */
  tcpIdleTimeoutMs: 10_000,
  tcpMaxConnections: 1000,
  tcpMaxInFlightPerConnection: 64,
  /**
   * Unsent answer bytes per TCP connection before reading from it pauses: one largest message (64 KiB)
   * fits, and 1,000 connections that never read hold 64 MiB at most, beside the kernel's socket buffers.
   */
  tcpMaxQueuedBytes: 64 * 1024,
  /** Quiet time after the last file event before the changed files are read (editors write in bursts). */
  manifestsDebounceMs: 100,
  /**
   * File events are hints: the whole folder is re-stat'ed this often, so a change no event reported
   * (a write through a hard link, a missed inotify event, a network filesystem) is still seen.
   */
  manifestsRescanIntervalMs: 2000,
  /** Quiet time after the last Kubernetes watch event before a new snapshot is made (a rollout is a burst). */
  kubeDebounceMs: 100,
  /** SPEC §10: bound on one manifest file; a bigger one is reported and its last good objects kept. */
  maxManifestBytes: 4 * 1024 * 1024,
  /** SPEC §5 (Istio's ranges): Class E space and the IPv6 benchmarking prefix, never routed on the internet. */
  vipRangeV4: '240.240.0.0/16',
  vipRangeV6: '2001:2::/48',
  /**
   * An absent ServiceEntry (deleted, or its host removed, in a folder that loaded cleanly) keeps its VIPs
   * this long before another host may take them: an editor's delete-and-recreate never moves a VIP.
   */
  vipReleaseGraceMs: 600_000,
  /**
   * Issue 14 item 4: a VIP no host keeps any more (its entry deleted past the grace period, or ineligible)
   * goes to no other host for this long after it was last answered, while clients may still hold it.
   * Never less than twice the TTL VIPs are answered with (TABLE_TTL).
   */
  vipHoldbackMs: 3_600_000,
  /**
   * Issue 14 item 5, per-name VIPs under a wildcard: names per entry (`--wildcard-vip-cap`), new names per
   * entry per second (`--wildcard-vip-rate`: a client walking random names under the wildcard fills the
   * cap in under a minute, not at once), and how long a name unasked keeps its VIP (`--wildcard-vip-idle`).
   */
  wildcardVipCap: 1024,
  wildcardVipRate: 20,
  wildcardVipIdleMs: 86_400_000,
  /** A first query waits this long for its name's VIP, then is answered without one (glibc retries at 5 s). */
  wildcardVipAskTimeoutMs: 2000,
  /** New per-name VIPs are written to the state file together, at most this long after their answer. */
  wildcardVipSaveDelayMs: 250,
  /**
   * `meshdns agent`: how often the per-name names it answered are reported to the controller (kept another
   * `--wildcard-vip-idle` there). Well below any sensible idle time, and one small call when names were asked.
   */
  wildcardVipReportMs: 30_000,
  /**
   * The VIP state file: `<parent of the manifests folder>/.meshdns/<folder name>.allocations.json`,
   * never inside the folder (it is no manifest), and never shared by two folders of one parent.
   */
  stateDir: '.meshdns',
  stateFileSuffix: '.allocations.json',
  /**
   * A restart's snapshot (issue 14 item 3): serve's is the state file's name with this suffix instead of
   * `.allocations.json` (or `.json`); the agent, which has no state file, keeps its own per DNS port in a
   * folder of the user's under the temporary folder. How often the file is looked at for a newer one
   * (the old process writes it after the new one started), besides its folder's events.
   */
  snapshotFileSuffix: '.snapshot.json',
  snapshotPollMs: 500,
  /**
   * `serve --state-lock-wait`: a state file locked by a running process is waited for this long (the old
   * serve of a restart stops after the new one starts) before the new one gives up; Kubernetes' default
   * grace period for a stopping pod.
   */
  stateLockWaitMs: 30_000,
  /** What all folders of one parent shared before issue 8; it seeds a missing default state file. */
  legacyStateFile: '.meshdns/allocations.json',
  /** VIP proxy: Envoy's default connect timeout, and Istio's default TCP idle timeout (1 h). */
  vipConnectTimeoutMs: 10_000,
  vipIdleTimeoutMs: 3_600_000,
  /** A backend's resolved addresses are kept for their TTL, within these bounds (a TTL of 0 still
   *  spares the upstreams a query per connection; a long TTL still follows a moved backend). */
  vipBackendMinTtlMs: 1000,
  vipBackendMaxTtlMs: 30_000,
  /** VIP traffic: the user-space proxy (no capability needed) unless `--vip-dataplane nat` (SPEC §6). */
  vipDataplane: 'proxy',
  /**
   * The proxy's relay: `native` (splice(2) in C, netio/relay.c) where the addon was built, else `node`
   * (node:net), said once at start.
   */
  vipRelay: 'auto' as 'auto' | 'native' | 'node',
  /** nat: a backend name that resolved to nothing is asked again after this long. */
  vipNatRetryMs: 5000,
  /** nat: one iptables command may take this long (it waits for the xtables lock meanwhile). */
  vipNatCommandTimeoutMs: 30_000,
  /** nat: most bytes of /proc/net/nf_conntrack read per /debug/vips or scrape (a pod's own table is small). */
  vipConntrackMaxBytes: 1024 * 1024,
  /** Istio's agent port for DNS, the redirect target of `meshdns capture`. */
  captureAgentPort: 15053,
  /** SPEC §8: metrics and debug views; Istio's agent serves its own on this port too. */
  adminListen: '127.0.0.1:15020',
  /**
   * How often the event-loop monitor behind `nodejs_eventloop_lag_*` ticks (prom-client's default). Its
   * samples are the time between ticks, so a stall shows as this much more than it lasted; 1 ms measures
   * to the millisecond and costs about 2 % of a core on an idle agent.
   */
  metricsEventLoopResolutionMs: 10,
  /** `meshdns lookup --timeout`: how long it waits for the agent's answer. */
  lookupTimeoutMs: 3000,
  /** At most one log line per this long for a burst of upstream failures or cache evictions. */
  burstLogIntervalMs: 10_000,
  /** `--log-queries` without a value logs this share of the queries. */
  logQueriesSample: 0.01,
  /** Istio's plain-text xDS port on istiod; the deployment listens on 0.0.0.0 (issue 10). */
  xdsListen: '127.0.0.1:15010',
  /** `meshdns controller --admin-listen` (istiod's monitoring port). */
  controllerAdminListen: '127.0.0.1:15014',
  /** `meshdns controller --istio-namespace`: where the ConfigMap `istio` is. */
  istioNamespace: 'istio-system',
  /**
   * `meshdns controller --debounce`: a change after a quiet period is built at once; what follows within
   * this long waits for the period's end, so a burst of changes becomes one build per period.
   */
  controllerDebounceMs: 100,
  /**
   * After a change agents may see is built, the controller starts no status write for this long: the
   * pushes of 200 agents leave within it, and the writes (10,000 at start-up) then carry on between changes.
   */
  controllerStatusQuietMs: 200,
  /** An agent that lost its controller retries after this, doubling up to the cap, with jitter. */
  xdsBackoffInitialMs: 250,
  xdsBackoffMaxMs: 10_000,
  /** SPEC §10: the largest xDS message either side accepts; a name table of 20,000 hosts is ~2 MiB. */
  xdsMaxMessageBytes: 32 * 1024 * 1024,
  /** SPEC §10: xDS streams open at once from one client address; one per agent is normal. */
  xdsMaxStreamsPerClient: 16,
  /** HTTP/2 pings find a controller that vanished without closing the connection (a node lost). */
  xdsKeepaliveMs: 30_000,
  xdsKeepaliveTimeoutMs: 10_000,
  /** Agents speak incremental ADS (only changed names travel); false: state-of-the-world only. */
  xdsDelta: true,
  /** Commits a publisher remembers the changed names of: a delta stream that far behind compares whole. */
  xdsChangeLogCommits: 256,
  /** Delta responses a stream keeps awaiting their ACK; past it the oldest is forgotten (never NACKable). */
  xdsMaxPendingResponses: 64,
  /**
   * Large responses (first syncs, state-of-the-world tables) the controller holds in gRPC's frames at once:
   * about 20 whole tables of 10,000 ServiceEntries and 5,000 Services (3.4 MB each); more agents syncing at
   * once take turns. A send not flushed in `staleMs` (an agent that stopped reading) stops counting.
   */
  xdsSendBudget: { bytes: 64 * 1024 * 1024, largeBytes: 256 * 1024, staleMs: 10_000 },
  /** The controller on the Kubernetes API (issue 10 item 2): leader election, status writes, Events. */
  kube: {
    /** The Lease only the leader holds; its namespace is the controller's own (POD_NAMESPACE). */
    leaseName: 'meshdns-controller',
    /**
     * Issue 14 item 4: the ConfigMap, beside the Lease, where the leader keeps what status.addresses cannot
     * (a deleted entry has none): the VIPs of absent entries within their grace period and those held back.
     */
    holdbackConfigMap: 'meshdns-vip-holdback',
    leaseNamespace: 'istio-system',
    /**
     * client-go's leaderelection defaults (kube-controller-manager's too): a follower takes over a lease not
     * renewed for leaseDuration; a leader that could not renew for renewDeadline steps down first; both retry
     * every retryPeriod (the follower with client-go's jitter factor 1.2 on top).
     */
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    leaseJitter: 1.2,
    /** status.addresses patches in flight at once: a full resync of 10,000 entries must not flood the API. */
    statusWritesInFlight: 4,
    /** Tries per status write (a failed `test`, a conflict, a 5xx), with backoff between them. */
    statusWriteAttempts: 5,
    retryInitialMs: 200,
    retryMaxMs: 5_000,
    /** One API request (GET, PATCH, create) gives up after this. */
    requestTimeoutMs: 10_000,
    /** The same Event (object, reason, note) is sent once per window; repeats bump its series count after. */
    eventDedupWindowMs: 600_000,
    /** Distinct Events remembered for deduplication, and Events waiting to be sent; past it they are dropped. */
    eventCacheEntries: 4096,
    eventQueue: 256,
    /** events.k8s.io/v1 `reportingController`: who reports (a qualified name, as `kubernetes.io/...`). */
    reportingController: 'meshdns.io/controller',
  },
} as const;
