// The data plane of one workload: DNS server, request pipeline (table → cache → upstream), upstream
// forwarder, metrics and the admin API. It answers from whatever table it was last given
// (`setTable`); in `serve` the controller runs in-process, later an xDS stream delivers tables the same way.
import type { Logger } from 'pino';
import { type AdminOptions, AdminServer } from '../admin/index.js';
import type { HostVips } from '../allocate/index.js';
import { DEFAULTS } from '../defaults.js';
import { Registry } from '../metrics.js';
import type { NameTable } from '../nametable/index.js';
import {
  CacheStage,
  type ClientAllowList,
  DnsServer,
  ForwardStage,
  limitMetrics,
  Pipeline,
  ServerLimits,
  ServerMetrics,
  type Stage,
  TableStage,
  type TcpLimits,
} from '../server/index.js';
import {
  type CacheSettings,
  cacheSettings,
  cryptoRandom,
  DnsCache,
  Forwarder,
  type UpstreamServer,
} from '../upstream/index.js';
import { cacheMetrics, upstreamMetrics } from '../upstream/metrics.js';
import { upstreamResolver, VipProxy, type VipRoute, vipMetrics } from '../vip/index.js';
import { agentAdminSource } from './admin-source.js';
import { BurstLog } from './burst-log.js';
import { limitLog } from './limit-log.js';
import { agentMetrics, type ConfigCounters } from './metrics.js';

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
  /** SPEC §10: the DNS clients answered (`--allow-from`); required for a non-loopback `listen`. */
  allowFrom?: ClientAllowList;
  /** Upstream queries in flight; past it SERVFAIL at once (`--upstream-max-in-flight`). */
  upstreamMaxInFlight?: number;
  logger: Logger;
  /** SPEC §4 "Cache": its settings, or false to switch it off. Default: on with CACHE_DEFAULTS. */
  cache?: Partial<CacheSettings> | false;
  /** Where metrics are registered; absent: none are counted (`--no-metrics`). */
  registry?: Registry;
  /** The admin HTTP API; absent: none. */
  admin?: AdminOptions;
  /** Share of queries logged (`--log-queries`); 0 or absent: none. */
  logQueries?: number;
  /** The effective configuration with where each value came from, for /debug/config. */
  config?: Record<string, unknown>;
  /** SPEC §6: proxy TCP connections to the VIPs (`--vip-proxy`); absent: no proxy. */
  vipProxy?: { connectTimeoutMs: number; idleTimeoutMs: number };
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
  private readonly server: DnsServer;
  private readonly admin: AdminServer | undefined;
  readonly vipProxy: VipProxy | undefined;
  /** The workload's VIP allocations, for /debug/vips. */
  vips: readonly Omit<HostVips, 'entry'>[] = [];
  private v6Server: DnsServer | undefined;
  private listening = false;
  private readonly opts: AgentOptions;
  private readonly logger: Logger;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    const now = opts.now ?? (() => performance.now());
    const registry = opts.registry;
    let countUpstream: ((seconds: number, ok: boolean) => void) | undefined;
    const interval = DEFAULTS.burstLogIntervalMs;
    const failures = new BurstLog(
      opts.logger,
      now,
      interval,
      'upstream failed: no server answered within the budget (SERVFAIL, or a stale answer if cached)',
      // overflows: queries refused at --upstream-max-in-flight (SPEC §10), counted among the failures.
      () => ({ upstreams: this.forwarder.plan(), overflows: this.forwarder.stats().overflows }),
    );
    this.forwarder = new Forwarder({
      servers: opts.upstreams,
      timeoutMs: opts.upstreamTimeoutMs,
      attempts: opts.upstreamAttempts,
      perTryTimeoutMs: opts.upstreamPerTryTimeoutMs,
      maxInFlight: opts.upstreamMaxInFlight,
      random: opts.random,
      observe: (seconds, ok) => {
        countUpstream?.(seconds, ok);
        if (!ok) failures.hit();
      },
    });
    if (registry) countUpstream = upstreamMetrics(registry, () => this.forwarder.stats());
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
      if (registry) cacheMetrics(registry, () => cache.stats());
    }
    stages.push(new ForwardStage(this.forwarder));
    this.pipeline = new Pipeline(stages, this.observer(registry, opts));
    if (registry) agentMetrics(registry, () => this.table()?.size ?? 0, this.configCounters);
    this.limits = new ServerLimits(limitLog(opts.logger, now, interval));
    if (registry) limitMetrics(registry, this.limits);
    this.server = new DnsServer({ ...opts.listen, ...this.listenerOptions() });
    if (opts.vipProxy) {
      // Backends are resolved through the upstreams, never our own table (which answers with VIPs).
      this.vipProxy = new VipProxy({
        ...opts.vipProxy,
        resolve: upstreamResolver(this.forwarder),
        logger: opts.logger,
      });
      if (registry) vipMetrics(registry, () => this.vipProxy?.stats() ?? []);
    }
    this.admin = opts.admin && new AdminServer(opts.admin, agentAdminSource(this, opts));
  }

  get port(): number {
    return this.server.port;
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
    await this.vipProxy?.setRoutes(routes);
  }

  table(): NameTable | undefined {
    return this.tableStage.current();
  }

  /** Ready (SPEC §8 /healthz/ready): listeners up and a first table loaded. */
  get ready(): boolean {
    return this.listening && this.table() !== undefined;
  }

  async start(): Promise<void> {
    await this.server.start();
    if (this.opts.listenLoopbackV6 && this.opts.listen.host !== '::1') {
      const v6 = new DnsServer({ host: '::1', port: this.server.port, ...this.listenerOptions() });
      try {
        await v6.start();
        this.v6Server = v6;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'not answering on [::1]');
      }
    }
    try {
      await this.admin?.start();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.listening = true;
  }

  async close(): Promise<void> {
    this.listening = false;
    await Promise.all([
      this.server.close(),
      this.v6Server?.close(),
      this.admin?.close(),
      this.vipProxy?.close(),
    ]);
    await this.forwarder.close();
    this.logger.debug('agent closed');
  }

  private listenerOptions() {
    const { tcp, allowFrom } = this.opts;
    return { pipeline: this.pipeline, tcp, allowFrom, limits: this.limits };
  }

  private isLocal(qkey: string): boolean {
    return this.table()?.lookup(qkey) !== undefined;
  }

  private observer(registry: Registry | undefined, opts: AgentOptions): ServerMetrics | undefined {
    const sample = opts.logQueries ?? 0;
    if (!registry && sample <= 0) return undefined;
    // Without a registry (--no-metrics) the counts go to a throwaway one; only the query log is wanted.
    return new ServerMetrics(registry ?? new Registry(), {
      logQueries: { sample, logger: this.logger, random: opts.random ?? cryptoRandom() },
    });
  }
}
