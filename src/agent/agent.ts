// The data plane of one workload: DNS server, request pipeline (table → cache → upstream), upstream
// forwarder, metrics and the admin API. It answers from whatever table it was last given
// (`setTable`); in `serve` the controller runs in-process, later an xDS stream delivers tables the same way.
// SPEC §4: it forwards from the first moment, so only what answers is loaded before the DNS listeners
// are up; the metrics, the VIP proxy and the admin API (services.ts) are loaded and started after.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type AdminOptions, type AdminServer, checkAdminExposure } from '../admin/index.js';
import type { HostVips } from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import type { Registry } from '../metrics.js';
import type { NameTable } from '../nametable/index.js';
import {
  CacheStage,
  type ClientAllowList,
  DnsServer,
  FailureCounts,
  ForwardStage,
  Pipeline,
  QueryCounts,
  ServerLimits,
  type Stage,
  TableStage,
  type TcpLimits,
  type UdpPath,
  type UdpSettings,
  type UdpStats,
} from '../server/index.js';
import {
  type CacheSettings,
  cacheSettings,
  cryptoRandom,
  DnsCache,
  Forwarder,
  PendingUpstreamCounts,
  type UpstreamServer,
} from '../upstream/index.js';
import type { VipDataplane, VipDataplaneKind, VipRoute } from '../vip/index.js';
import { BurstLog } from './burst-log.js';
import { failureLog } from './failure-log.js';
import { limitLog } from './limit-log.js';
import type { ConfigCounters } from './metrics.js';

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
}

export class Agent {
  readonly forwarder: Forwarder;
  readonly tableStage: TableStage;
  readonly cache: DnsCache | undefined;
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
  /** The workload's VIP allocations, for /debug/vips. */
  vips: readonly Omit<HostVips, 'entry'>[] = [];
  /** The routes last given, for a proxy started after them. */
  routes: VipRoute[] = [];
  private v6Server: DnsServer | undefined;
  private listening = false;
  private closed = false;
  private countUpstream: ((seconds: number, ok: boolean) => void) | undefined;
  private readonly opts: AgentOptions;
  private readonly logger: Logger;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    // SPEC §10: refused before anything listens, as a bad flag is.
    if (opts.admin) checkAdminExposure(opts.admin);
    const now = opts.now ?? (() => performance.now());
    const counting = opts.registry !== undefined;
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
      maxInFlight: opts.upstreamMaxInFlight,
      maxFails: opts.upstreamMaxFails,
      healthCheckMs: opts.upstreamHealthCheckMs,
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
      const cache = new DnsCache(cacheSettings(opts.cache), now, () => evictions.hit());
      this.cache = cache;
      stages.push(new CacheStage({ cache, upstream: this.forwarder, isLocal: (k) => this.isLocal(k) }));
    }
    stages.push(new ForwardStage(this.forwarder));
    this.queryCounts = this.counts(counting, opts);
    this.pipeline = new Pipeline(stages, this.queryCounts, failed);
    this.limits = new ServerLimits(limitLog(opts.logger, now, interval));
    this.server = new DnsServer({ ...opts.listen, ...this.listenerOptions() });
  }

  get port(): number {
    return this.server.port;
  }

  /** The UDP path the DNS listeners answer on (/debug/config), and why when `auto` fell back to dgram. */
  get udpPath(): UdpPath {
    return this.server.udpPath;
  }

  /** UDP datagrams and batches over the agent's DNS listeners (IPv4 and, when on, [::1]). */
  udpStats(): UdpStats {
    const a = this.server.udpStats();
    const b = this.v6Server?.udpStats();
    if (b === undefined) return a;
    return {
      datagrams: a.datagrams + b.datagrams,
      batches: a.batches + b.batches,
      tooLong: a.tooLong + b.tooLong,
    };
  }

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  /** Swaps in a new table; cached answers for names it now answers are dropped (SPEC §4 "Cache"). */
  setTable(table: NameTable, configErrors = 0): void {
    this.tableStage.set(table);
    this.configCounters.reloads++;
    this.configCounters.errors = configErrors;
    this.cache?.purge((entry) => table.lookup(entry.qkey) !== undefined);
  }

  /** The workload's VIPs and, with the proxy on, the routes it listens on (SPEC §6). */
  async setVips(vips: readonly Omit<HostVips, 'entry'>[], routes: VipRoute[]): Promise<void> {
    this.vips = [...vips];
    this.routes = routes;
    await this.vipDataplane?.setRoutes(routes);
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
    await Promise.all([
      this.server.close(),
      this.v6Server?.close(),
      this.admin?.close(),
      this.vipDataplane?.close(),
    ]);
    await this.forwarder.close();
    this.logger.debug('agent closed');
  }

  private async listen(): Promise<void> {
    await this.server.start();
    const { io, reason } = this.server.udpPath;
    this.logger.info(
      { udpIo: io, ...(reason ? { reason } : {}) },
      io === 'native' ? 'UDP answered in batches (recvmmsg/sendmmsg)' : 'UDP answered on node:dgram',
    );
    if (this.opts.listenLoopbackV6 && this.opts.listen.host !== '::1') {
      const v6 = new DnsServer({ host: '::1', port: this.server.port, ...this.listenerOptions() });
      try {
        await v6.start();
        this.v6Server = v6;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'not answering on [::1]');
      }
    }
  }

  /** Loaded here, once the listeners answer: nothing of it is needed to forward (SPEC §4). */
  private async startServices(): Promise<void> {
    // Each import holds the event loop while its modules run; a turn between the two lets the queries
    // that came meanwhile be answered, so the longest hold is one of them, not both (DESIGN: never stall).
    const registry =
      typeof this.opts.registry === 'function' ? await this.opts.registry() : this.opts.registry;
    await nextTurn();
    const { startServices } = await import('./services.js');
    // A SIGTERM during start-up closed the agent while this loaded: start nothing more.
    if (this.closed) return;
    const started = startServices(this, this.opts, registry);
    this.countUpstream = started.countUpstream ?? this.countUpstream;
    this.vipDataplane = started.vipDataplane;
    this.admin = started.admin;
    await this.vipDataplane?.setRoutes(this.routes);
    await this.admin?.start();
  }

  private listenerOptions() {
    const { tcp, udp, allowFrom } = this.opts;
    return { pipeline: this.pipeline, tcp, udp, allowFrom, limits: this.limits };
  }

  private isLocal(qkey: string): boolean {
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
