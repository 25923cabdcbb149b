// The data plane of one workload: DNS server, request pipeline (table → cache → upstream), upstream
// forwarder, metrics and the admin API. It answers from whatever table it was last given
// (`setTable`); in `serve` the controller runs in-process, later an xDS stream delivers tables the same way.
// SPEC §4: it forwards from the first moment, so only what answers is loaded before the DNS listeners
// are up; the metrics, the VIP proxy and the admin API (services.ts) are loaded and started after.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type AdminOptions, type AdminServer, checkAdminExposure } from '../admin/index.js';
import { DEFAULTS } from '../defaults.js';
import type { Registry } from '../metrics.js';
import type { NameTable } from '../nametable/index.js';
import {
  AutopathStage,
  CacheStage,
  type ClientAllowList,
  DnsServer,
  FailureCounts,
  ForwardStage,
  type PerNameClient,
  Pipeline,
  QueryCounts,
  resolveUdpIo,
  ServerLimits,
  type Stage,
  TableStage,
  type TcpLimits,
  type UdpPath,
  type UdpSettings,
  type UdpStats,
  udpReusePort,
  udpSettings,
  upstreamLink,
} from '../server/index.js';
import {
  type CacheRestore,
  type CacheSettings,
  type CacheSnapshotEntry,
  type CacheStats,
  cacheSettings,
  cryptoRandom,
  DnsCache,
  dumpCache,
  Forwarder,
  type ForwarderStats,
  type HedgeMode,
  PendingUpstreamCounts,
  restoreCache,
  type UpstreamServer,
} from '../upstream/index.js';
import type { VipDataplane, VipDataplaneKind, VipRoute } from '../vip/index.js';
import { AgentVips, type Later, type WorkloadVips } from './agent-vips.js';
import { type TableChange, workerOptions } from './answering-messages.js';
import { type AnsweringStats, sumCache, sumForwarder, sumUdp } from './answering-stats.js';
import type { AnsweringWorkers } from './answering-workers.js';
import { BurstLog } from './burst-log.js';
import { failureLog } from './failure-log.js';
import { limitLog } from './limit-log.js';
import type { ConfigCounters } from './metrics.js';
import { perNameAnswers } from './per-name.js';

export interface AgentOptions {
  listen: { host: string; port: number };
  /** Also answer on [::1] at the same port (SPEC §4: when upstreams include IPv6); best effort. */
  listenLoopbackV6?: boolean;
  upstreams: UpstreamServer[];
  upstreamTimeoutMs: number;
  upstreamAttempts?: number;
  upstreamPerTryTimeoutMs?: number;
  /** SPEC §4.2: answer SERVFAIL instead of forwarding until the first table arrives. */
  servfailBeforeTable?: boolean;
  tcp?: Partial<TcpLimits>;
  /** The UDP I/O path (`--udp-io`) and socket buffers (issue 12). */
  udp?: Partial<UdpSettings>;
  /** SPEC §10: the DNS clients answered (`--allow-from`); required for a non-loopback `listen`. */
  allowFrom?: ClientAllowList;
  /** Upstream queries in flight; past it SERVFAIL at once (`--upstream-max-in-flight`). */
  upstreamMaxInFlight?: number;
  /** Failed tries in a row that mark an upstream down (`--upstream-max-fails`); 0: never. */
  upstreamMaxFails?: number;
  /** How often a down upstream is probed (`--upstream-health-check`). */
  upstreamHealthCheckMs?: number;
  /** The workload's search list (resolv.conf `search`, `--search`): its first domain is autopath's. */
  searchDomains?: readonly string[];
  /** Autopath for every name (`--no-autopath` turns it off); it acts only with a search list. Default: DEFAULTS.autopath. */
  autopath?: boolean;
  /** Hedged upstream tries (`--upstream-hedge`): auto, off, or a fixed delay in ms. */
  upstreamHedge?: HedgeMode;
  logger: Logger;
  /** SPEC §4 "Cache": its settings, or false to switch it off. Default: on with DEFAULTS.cache. */
  cache?: Partial<CacheSettings> | false;
  /**
   * Where metrics are registered; absent: none are counted (`--no-metrics`). A function is called
   * once the DNS listeners are up (serve: prom-client loads then); queries are counted from the first.
   */
  registry?: Registry | (() => Promise<Registry>);
  /** The admin HTTP API; absent: none. */
  admin?: AdminOptions;
  /** Share of queries logged (`--log-queries`); 0 or absent: none. */
  logQueries?: number;
  /** The effective configuration with where each value came from, for /debug/config. */
  config?: Record<string, unknown>;
  /**
   * SPEC §6: route TCP connections to the VIPs (`--vip-proxy`, `--vip-dataplane`); absent: none. `nat`:
   * kernel DNAT rules (needs NET_ADMIN); `proxy` (default): the user-space proxy.
   */
  vipProxy?: {
    connectTimeoutMs: number;
    idleTimeoutMs: number;
    dataplane?: VipDataplaneKind;
    /** `--vip-relay`: the proxy's relay (default: DEFAULTS.vipRelay). */
    relay?: 'auto' | 'native' | 'node';
  };
  /** Monotonic milliseconds (TTLs, log rate limits); injectable for tests. */
  now?: () => number;
  random?: () => number;
  /**
   * Threads answering UDP (`--workers`, issue 12 item 5): this one and N-1 worker threads, each with a
   * socket on the same port (SO_REUSEPORT), its own table copy, cache and upstream sockets. The cache
   * and upstream in-flight bounds are shared out among them. Default 1: this thread alone.
   */
  workers?: number;
  /** Delay before a dead answering worker is restarted (doubling while it keeps dying); tests lengthen it. */
  workerRestartDelayMs?: number;
  /**
   * Bind the DNS port with SO_REUSEPORT (issue 14 item 3): a new process binds it while this one
   * answers, and this one hands over (`handOver`) on SIGTERM. The key names what this process serves:
   * only a process of the same key shares the port (server/port-claim.ts).
   */
  sharePort?: string;
  /** Set inside an answering worker (answering-worker.ts): UDP only, counts kept for the main thread. */
  answeringWorker?: { counting: boolean };
}

/** The answering threads (`--workers`), for /debug/config and the metrics. */
export interface ThreadStatus {
  asked: number;
  /** Answering now, the main thread included. */
  running: number;
  /** Why fewer run than asked (node:dgram without SO_REUSEPORT). */
  reason?: string;
  restarts: number;
  /** UDP datagrams each thread received (the main thread first; null: a worker down), as last refreshed. */
  udpDatagrams?: (number | null)[];
}

export class Agent {
  readonly forwarder: Forwarder;
  readonly tableStage: TableStage;
  readonly cache: DnsCache | undefined;
  /** Autopath (server/autopath-stage.ts); undefined with `--no-autopath`. */
  readonly autopath: AutopathStage | undefined;
  readonly pipeline: Pipeline;
  /** The DNS listeners' bounds reached and TCP figures (SPEC §10). */
  readonly limits: ServerLimits;
  readonly configCounters: ConfigCounters = { reloads: 0, errors: 0 };
  /** Every failure of the failure table (server/failures.ts), counted for the metrics. */
  readonly failures = new FailureCounts();
  /** Request counts behind the metrics and the query log; absent with neither. */
  readonly queryCounts: QueryCounts | undefined;
  /** Forwarded queries counted until the upstream metrics are registered (services.ts). */
  readonly pendingUpstream: PendingUpstreamCounts | undefined;
  private readonly server: DnsServer;
  private admin: AdminServer | undefined;
  /** SPEC §6: set once started, with `--vip-proxy` (the proxy or the NAT rules). */
  vipDataplane: VipDataplane | undefined;
  /** The VIP lists last given (setVips), each made when first read. */
  readonly #vips = new AgentVips((routes) => this.vipDataplane?.setRoutes(routes()));
  private v6Server: DnsServer | undefined;
  /** The answering workers (`--workers` > 1), once listening. */
  workers: AnsweringWorkers | undefined;
  /** Answering threads, this one included, and why fewer than asked when so. */
  readonly threads: { asked: number; running: number; reason?: string };
  /** The upstream servers now (SIGHUP changes them): a restarted worker starts with these. */
  private upstreams: readonly UpstreamServer[];
  /** The UDP settings of every listener (SO_REUSEPORT with workers). */
  private readonly udp: UdpSettings;
  private listening = false;
  private closed = false;
  /** The table is a snapshot's (setSnapshotTable). */
  private provisional = false;
  private countUpstream: ((seconds: number, ok: boolean) => void) | undefined;
  private readonly opts: AgentOptions;
  private readonly logger: Logger;
  /** The answering workers' caches, sent as they handed over (handOver), for the snapshot. */
  private workerCaches: CacheSnapshotEntry[] = [];
  private perNameReports: NodeJS.Timeout | undefined;
  /** What the answering workers ask and report per-name VIPs through (the main thread's link). */
  private perNameLink:
    | { ask: PerNameClient['ask']; touched(names: string[]): void; reportEveryMs: number }
    | undefined;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    // SPEC §10: refused before anything listens, as a bad flag is.
    if (opts.admin) checkAdminExposure(opts.admin);
    const now = opts.now ?? (() => performance.now());
    const counting = opts.registry !== undefined || opts.answeringWorker?.counting === true;
    this.threads = answeringThreads(opts);
    this.upstreams = opts.upstreams;
    // An answering worker holds the share the main thread's `workers` gives each thread.
    const share = opts.answeringWorker !== undefined ? (opts.workers ?? 1) : this.threads.running;
    this.udp = { ...udpSettings(opts.udp), reusePort: share > 1 || opts.answeringWorker !== undefined };
    const interval = DEFAULTS.burstLogIntervalMs;
    const failed = failureLog(opts.logger, now, interval, this.failures, () => ({
      upstreams: this.forwarder.plan(),
    }));
    this.pendingUpstream = counting ? new PendingUpstreamCounts() : undefined;
    this.countUpstream = this.pendingUpstream?.observe;
    this.forwarder = new Forwarder({
      servers: opts.upstreams,
      timeoutMs: opts.upstreamTimeoutMs,
      attempts: opts.upstreamAttempts,
      perTryTimeoutMs: opts.upstreamPerTryTimeoutMs,
      maxInFlight: shareOf(opts.upstreamMaxInFlight ?? DEFAULTS.upstreamMaxInFlight, share),
      maxFails: opts.upstreamMaxFails,
      healthCheckMs: opts.upstreamHealthCheckMs,
      hedge: opts.upstreamHedge,
      onHealthChange: (server, down, consecutiveFailures) => {
        if (down) {
          this.logger.warn(
            { server, consecutiveFailures },
            'upstream server marked down: skipped while another answers, probed until it replies',
          );
        } else {
          this.logger.info({ server }, 'upstream server answers again');
        }
      },
      random: opts.random,
      // Upstream sockets on the listener's I/O path: batched (sendmmsg/recvmmsg) where it is native.
      udpPool: { link: upstreamLink(this.udp.io) },
      observe: (seconds, result) => {
        // An overflow never left the process: Istio's counters are of queries sent upstream, so it is
        // counted as dropped (meshdns_upstream_dropped_total) and in the failure table only.
        if (result.kind !== 'overflow') this.countUpstream?.(seconds, result.kind === 'answered');
        if (result.kind !== 'answered') failed(result.kind, { detail: result.detail });
      },
    });
    this.tableStage = new TableStage({
      upstream: this.forwarder,
      servfailBeforeTable: opts.servfailBeforeTable,
    });
    const stages: Stage[] = [this.tableStage];
    // After the table, before the cache: it resolves `<name>` through the stages after it.
    const resolving: Stage[] = [];
    this.autopath =
      (opts.autopath ?? DEFAULTS.autopath)
        ? new AutopathStage({
            searchDomain: opts.searchDomains?.[0],
            table: () => this.table(),
            next: resolving,
            random: opts.random,
          })
        : undefined;
    if (this.autopath) stages.push(this.autopath);
    if (opts.cache !== false) {
      const evictions = new BurstLog(
        opts.logger,
        now,
        interval,
        'cache full: least recently used answers evicted',
        () => ({
          entries: this.cache?.stats().entries,
        }),
      );
      const settings = cacheSettings(opts.cache);
      // Each thread's cache holds its share of the bounds: --cache-size and --cache-max-bytes stay the
      // process's (see README "Workers" for why per-thread caches, not one shared).
      settings.maxEntries = shareOf(settings.maxEntries, share);
      settings.maxBytes = shareOf(settings.maxBytes, share);
      const cache = new DnsCache(settings, now, () => evictions.hit());
      this.cache = cache;
      stages.push(new CacheStage({ cache, upstream: this.forwarder, isLocal: (k) => this.isLocal(k) }));
    }
    stages.push(new ForwardStage(this.forwarder));
    resolving.push(...stages.slice(this.autopath ? 2 : 1));
    this.queryCounts = this.counts(counting, opts);
    this.pipeline = new Pipeline(stages, this.queryCounts, failed);
    this.limits = new ServerLimits(limitLog(opts.logger, now, interval));
    this.server = new DnsServer({ ...opts.listen, ...this.listenerOptions(), sharePort: opts.sharePort });
    if (this.threads.running > 1) this.includeWorkers();
  }

  get port(): number {
    return this.server.port;
  }

  /** The UDP path the DNS listeners answer on (/debug/config), and why when `auto` fell back to dgram. */
  get udpPath(): UdpPath {
    return this.server.udpPath;
  }

  /** UDP datagrams and batches over the agent's DNS listeners (IPv4 and, when on, [::1]), every thread's. */
  udpStats(): UdpStats {
    let sum = this.ownUdpStats();
    for (const w of this.workers?.stats() ?? []) sum = sumUdp(sum, w.udp);
    return sum;
  }

  private ownUdpStats(): UdpStats {
    const a = this.server.udpStats();
    const b = this.v6Server?.udpStats();
    return b === undefined ? a : sumUdp(a, b);
  }

  /** The cache's figures summed over the answering threads; undefined with the cache off. */
  cacheStats(): CacheStats | undefined {
    if (this.cache === undefined) return undefined;
    let sum = this.cache.stats();
    for (const w of this.workers?.stats() ?? []) if (w.cache) sum = sumCache(sum, w.cache);
    return sum;
  }

  /** The forwarder's figures summed over the answering threads. */
  forwarderStats(): ForwarderStats {
    let sum = this.forwarder.stats();
    for (const w of this.workers?.stats() ?? []) sum = sumForwarder(sum, w.forwarder);
    return sum;
  }

  /** Answering threads asked for and running now (the main one included), restarts of dead workers. */
  threadStatus(): ThreadStatus {
    const w = this.workers?.status();
    const running = this.listening || this.workers ? 1 + (w?.running ?? 0) : 0;
    const out: ThreadStatus = { ...this.threads, running, restarts: w?.restarts ?? 0 };
    if (w) out.udpDatagrams = [this.ownUdpStats().datagrams, ...w.datagrams];
    return out;
  }

  /** Fetches the answering workers' latest figures (before a scrape or a /debug read). */
  async refreshWorkers(): Promise<void> {
    await this.workers?.refresh();
  }

  /** This thread's own figures, as an answering worker reports them to the main thread. */
  answeringStats(): AnsweringStats {
    return {
      udp: this.ownUdpStats(),
      queries: this.queryCounts?.snapshot(),
      failures: this.failures.snapshot(),
      reached: this.limits.stats().reached,
      cache: this.cache?.stats(),
      forwarder: this.forwarder.stats(),
      upstream: this.pendingUpstream?.take(),
    };
  }

  /** New upstream servers (SIGHUP), on every answering thread. */
  setUpstreams(servers: readonly UpstreamServer[]): void {
    this.forwarder.setServers(servers);
    this.upstreams = servers;
    this.workers?.setUpstreams(servers);
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  /**
   * Swaps in a new table; cached answers for names it now answers are dropped (SPEC §4 "Cache").
   * `change`: the diff that made it from the table before, which the answering workers apply to their
   * copies (without it they are sent the whole table).
   */
  setTable(table: NameTable, configErrors = 0, change?: TableChange): void {
    // The first fresh table after a snapshot's replaces it whole: its diff is from an empty table.
    const whole = this.provisional;
    this.provisional = false;
    this.workers?.setTable(table, configErrors, whole ? undefined : change);
    this.tableStage.set(table);
    this.configCounters.reloads++;
    this.configCounters.errors = configErrors;
    this.cache?.purge((entry) => table.lookup(entry.qkey) !== undefined);
  }

  /** The workload's VIP allocations, for /debug/vips (made on the first read: agent-vips.ts). */
  get vips(): WorkloadVips {
    return this.#vips.vips;
  }

  /** The routes last given, for a data plane started after them (made on the first read, as vips). */
  get routes(): VipRoute[] {
    return this.#vips.routes;
  }

  /**
   * A restart's snapshot table (issue 14 item 3), answered from until the first fresh table (setTable)
   * replaces it whole; refused (false) once a fresh one is in.
   */
  setSnapshotTable(table: NameTable): boolean {
    if (this.table() !== undefined && !this.provisional) return false;
    this.setTable(table);
    this.provisional = true;
    return true;
  }

  /** The table answered from came from a snapshot, and no fresh one has come since. */
  get tableFromSnapshot(): boolean {
    return this.provisional;
  }

  /**
   * The SIGTERM of a restart (issue 14 item 3): the DNS listeners stop taking queries — a process
   * sharing the port (SO_REUSEPORT) gets them all from then on — and those taken are answered; bounded
   * by the upstream budget, the longest any answer takes. Then the snapshot is written, and close().
   */
  async handOver(): Promise<void> {
    const deadline = Date.now() + this.opts.upstreamTimeoutMs + HANDOVER_MARGIN_MS;
    this.listening = false;
    // Each answering worker hands its socket over the same way, then sends its cache for the snapshot.
    const workers = this.workers?.handOver(deadline - Date.now() + HANDOVER_MARGIN_MS);
    await Promise.all([
      this.server.handOver(deadline),
      this.v6Server?.handOver(deadline),
      workers?.then((entries) => {
        this.workerCaches = entries;
      }),
    ]);
    await this.workers?.close();
  }

  /** Every answering thread's cache entries, for a snapshot (the workers' as they handed over). */
  cacheDump(): CacheSnapshotEntry[] {
    const own = this.cache ? dumpCache(this.cache) : [];
    return this.workerCaches.length > 0 ? [...this.workerCaches, ...own] : own;
  }

  /**
   * A predecessor's cache entries, aged by `elapsedMs`, into every answering thread's cache: the kernel
   * spreads the clients over this process's sockets as it likes, whichever thread had them before.
   */
  async restoreCache(
    entries: readonly CacheSnapshotEntry[],
    elapsedMs: number,
  ): Promise<CacheRestore | undefined> {
    if (this.cache === undefined) return undefined;
    this.workers?.restoreCache(entries, elapsedMs);
    return restoreCache(this.cache, entries, elapsedMs, (qkey) => this.isLocal(qkey));
  }

  /** Why the DNS port cannot be shared with a successor (node:dgram or node:net without reusePort). */
  get portNotShared(): string | undefined {
    return this.server.notShared;
  }

  /** The process of the same key that held the DNS port when this one bound it (it hands over). */
  get portPredecessor(): number | undefined {
    return this.server.predecessor;
  }

  /** The workload's VIPs and, with the proxy on, the routes it listens on (SPEC §6). */
  setVips(vips: Later<WorkloadVips>, routes: Later<VipRoute[]>): Promise<void> {
    return this.#vips.set(vips, routes);
  }

  /** The VIPs and routes are a snapshot's (setSnapshotVips), and no view has given any since. */
  get vipsFromSnapshot(): boolean {
    return this.#vips.fromSnapshot;
  }

  /**
   * A restart's snapshot VIPs and routes, with its table (setSnapshotTable): used until fresh ones come
   * (setVips); refused (false) once they have.
   */
  setSnapshotVips(vips: WorkloadVips, routes: VipRoute[]): boolean {
    return this.#vips.setFromSnapshot(vips, routes, (err) =>
      this.logger.error({ err: err.message }, "the snapshot's VIP routes"),
    );
  }

  /**
   * Per-name VIPs (issue 14 item 5): a name under a per-name wildcard is answered once `allocator` gave it
   * a VIP and its route is up, and the names answered are reported every `reportEveryMs` so they stay.
   */
  usePerName(allocator: PerNameClient, report: (names: string[]) => void, reportEveryMs: number): void {
    const ask: PerNameClient['ask'] = async (name, wildcard) => {
      const reply = await allocator.ask(name, wildcard);
      await this.#vips.routing;
      return reply;
    };
    this.perNameLink = { ask, touched: report, reportEveryMs };
    const { logger, limits, forwarder } = this;
    const now = this.opts.now ?? (() => performance.now());
    const answers = perNameAnswers({
      ask,
      upstream: forwarder,
      table: () => this.table(),
      limits,
      logger,
      now,
    });
    this.tableStage.perName = answers;
    clearInterval(this.perNameReports);
    this.perNameReports = setInterval(() => report(answers.takeTouched()), reportEveryMs);
    this.perNameReports.unref();
  }

  /** SIGHUP: resolv.conf's search list, re-read; autopath follows its first domain. */
  setSearchDomains(domains: readonly string[]): void {
    this.autopath?.setSearchDomain(domains[0]);
    this.workers?.setSearchDomains(domains);
  }

  table(): NameTable | undefined {
    return this.tableStage.current();
  }

  /** Ready (SPEC §8 /healthz/ready): listeners up and a first table loaded. */
  get ready(): boolean {
    return this.listening && this.table() !== undefined;
  }

  /** The DNS listeners, then the metrics, the VIP proxy and the admin API. */
  async start(): Promise<void> {
    await this.listen();
    try {
      await this.startServices();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.listening = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    clearInterval(this.perNameReports);
    await Promise.all([
      this.server.close(),
      this.v6Server?.close(),
      this.admin?.close(),
      this.vipDataplane?.close(),
      this.workers?.close(),
    ]);
    await this.forwarder.close();
    this.logger.debug('agent closed');
  }

  private async listen(): Promise<void> {
    await this.server.start();
    const { io, reason } = this.server.udpPath;
    if (this.opts.answeringWorker === undefined) {
      this.logger.info(
        { udpIo: io, ...(reason ? { reason } : {}), threads: this.threads },
        io === 'native' ? 'UDP answered in batches (recvmmsg/sendmmsg)' : 'UDP answered on node:dgram',
      );
    }
    if (this.opts.listenLoopbackV6 && this.opts.listen.host !== '::1') {
      const v6 = new DnsServer({
        host: '::1',
        port: this.server.port,
        ...this.listenerOptions(),
        sharePort: this.opts.sharePort,
      });
      try {
        await v6.start();
        this.v6Server = v6;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'not answering on [::1]');
      }
    }
    if (this.threads.running > 1) await this.startWorkers();
  }

  /** The other answering threads, on the port this one bound (`--workers`). */
  private async startWorkers(): Promise<void> {
    const { AnsweringWorkers } = await import('./answering-workers.js');
    const workers = new AnsweringWorkers({
      threads: this.threads.running - 1,
      data: {
        ...workerOptions(this.opts, this.server.port, this.queryCounts !== undefined),
        ...(this.perNameLink ? { perNameReportMs: this.perNameLink.reportEveryMs } : {}),
      },
      logger: this.logger,
      current: () => ({ table: this.table(), errors: this.configCounters.errors }),
      upstreams: () => this.upstreams,
      onUpstream: (s) => PendingUpstreamCounts.from(s).replay((sec, ok) => this.countUpstream?.(sec, ok)),
      restartDelayMs: this.opts.workerRestartDelayMs,
      ...(this.perNameLink ? { perName: this.perNameLink } : {}),
    });
    this.workers = workers;
    await workers.start();
  }

  /** The metrics read the answering workers' counts beside this thread's. */
  private includeWorkers(): void {
    const all = () => this.workers?.stats() ?? [];
    this.queryCounts?.include(() => all().flatMap((s) => s.queries ?? []));
    this.failures.include(() => all().map((s) => s.failures));
    this.limits.include(() => all().map((s) => s.reached));
  }

  /** Loaded here, once the listeners answer: nothing of it is needed to forward (SPEC §4). */
  private async startServices(): Promise<void> {
    // An answering worker has none: the main thread serves metrics, the admin API and the VIPs.
    if (this.opts.answeringWorker !== undefined) return;
    // Each step holds the event loop while it runs (an import runs its modules); a turn through the
    // loop's I/O between them lets the queries that came meanwhile be answered, so the longest hold is
    // one step, not all of them (DESIGN: never stall; a 1 ms probe saw 15-30 ms of silence here).
    await ioTurn();
    const registry =
      typeof this.opts.registry === 'function' ? await this.opts.registry() : this.opts.registry;
    await ioTurn();
    const { startServices } = await import('./services.js');
    // A SIGTERM during start-up closed the agent while this loaded: start nothing more.
    if (this.closed) return;
    const started = startServices(this, this.opts, registry);
    this.countUpstream = started.countUpstream ?? this.countUpstream;
    this.vipDataplane = started.vipDataplane;
    this.admin = started.admin;
    await ioTurn();
    await this.vipDataplane?.setRoutes(this.routes);
    await this.admin?.start();
  }

  private listenerOptions() {
    const { tcp, allowFrom } = this.opts;
    const udpOnly = this.opts.answeringWorker !== undefined;
    return { pipeline: this.pipeline, tcp, udp: this.udp, allowFrom, limits: this.limits, udpOnly };
  }

  isLocal(qkey: string): boolean {
    return this.table()?.lookup(qkey) !== undefined;
  }

  private counts(counting: boolean, opts: AgentOptions): QueryCounts | undefined {
    const sample = opts.logQueries ?? 0;
    if (!counting && sample <= 0) return undefined;
    // Without a registry (--no-metrics) the counts are kept for nobody; only the query log is wanted.
    return new QueryCounts({
      logQueries: { sample, logger: this.logger, random: opts.random ?? cryptoRandom() },
    });
  }
}

/**
 * Returns after the event loop has polled for I/O once: an immediate set from the poll phase runs in
 * the same loop iteration, before the next poll, so one alone may not let waiting queries in.
 */
async function ioTurn(): Promise<void> {
  await nextTurn();
  await nextTurn();
}

/** Beyond the upstream budget, time for the last answers to be written. */
const HANDOVER_MARGIN_MS = 250;

/** `--workers`, as this machine and UDP path can have it: one thread where the port cannot be shared. */
function answeringThreads(opts: AgentOptions): Agent['threads'] {
  const asked = opts.answeringWorker !== undefined ? 1 : (opts.workers ?? 1);
  if (asked <= 1) return { asked, running: 1 };
  const reason = udpReusePort(resolveUdpIo(udpSettings(opts.udp).io));
  return reason === undefined ? { asked, running: asked } : { asked, running: 1, reason };
}

/** One thread's share of a bound the process keeps, never below 1. */
function shareOf(total: number, threads: number): number {
  return Math.max(1, Math.ceil(total / threads));
}
