// Forwarding to the upstream resolvers: rotation, failover, a total time budget, TCP on truncation.
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../defaults.js';
import { QTYPE, type Query, RCODE, readQuery } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import type { ExchangeHooks, Outcome, TrackedSocket } from './exchange.js';
import { HealthTracker } from './health.js';
import { type HedgeMode, LatencyWindow, runHedged } from './hedge.js';
import { buildQuery, isTruncated, type Mismatch, rcodeOf, toClientReply, withId } from './message.js';
import {
  type Answered,
  type ForwardFailure,
  type ForwardResult,
  type NotAnswered,
  type ReplyClass,
  readReply,
} from './outcome.js';
import { formatUpstream, type UpstreamServer } from './resolvconf.js';
import { tcpExchange } from './tcp.js';
import { TcpConnectionPool, type TcpPoolSettings } from './tcp-pool.js';
import { udpExchange } from './udp.js';
import { type UdpPoolSettings, UdpSocketPool } from './udp-pool.js';

/**
 * Internal tuning, no user setting: a per-try timeout is never shorter than this, so a loaded
 * loopback still gets a chance.
 */
const MIN_PER_TRY_TIMEOUT_MS = 100;

export interface ForwarderOptions {
  servers: UpstreamServer[];
  /** Total budget of one forward(), every server and attempt included. Default: DEFAULTS.upstreamTimeoutMs. */
  timeoutMs?: number;
  /** Tries per server. Default: DEFAULTS.upstreamAttempts. */
  attempts?: number;
  /**
   * Upper bound of one try (resolv.conf `timeout:`). A try gets the budget left shared among the
   * tries left (so time a fast failure such as ECONNREFUSED saves goes to the next servers), at most
   * this, at least 100 ms, and never more than the budget left. Default: no bound but the share.
   */
  perTryTimeoutMs?: number;
  /** Start each forward at the next server (round-robin). Default: DEFAULTS.upstreamRotate (SPEC §4). */
  rotate?: boolean;
  /** Uniform in [0, 1); injectable so tests can choose IDs. Default: crypto-random. */
  random?: () => number;
  /** forward() calls in flight; past it forward() resolves `overflow` at once (SPEC §10). Default: DEFAULTS.upstreamMaxInFlight. */
  maxInFlight?: number;
  /** Called once per forward() (not for probes) with its duration and result: metrics, failure logs. */
  observe?: ForwardObserver;
  /** Failed tries in a row that mark a server down (health.ts); 0: never. Default: DEFAULTS.upstreamMaxFails. */
  maxFails?: number;
  /** How often a down server is probed. Default: DEFAULTS.upstreamHealthCheckMs. */
  healthCheckMs?: number;
  /** Told when a server is marked down or comes back (for the log). */
  onHealthChange?: (server: string, down: boolean, consecutiveFailures: number) => void;
  /** UDP sockets shared by queries (udp-pool.ts), or false for a socket per query. Default: DEFAULTS.upstreamUdpPool. */
  udpPool?: Partial<UdpPoolSettings> | false;
  /** TCP connections reused and pipelined (tcp-pool.ts), or false for a connection per query. Default: DEFAULTS.upstreamTcpPool. */
  tcpPool?: Partial<TcpPoolSettings> | false;
  /**
   * Hedged tries (hedge.ts, `--upstream-hedge`): `auto` asks the next server too once the one asked
   * has not answered within its recent p95 (at least DEFAULTS.upstreamHedge.minMs); a number is a
   * fixed delay (0: every server at once); `off` waits for a try to fail. Default: DEFAULTS.upstreamHedge.mode.
   */
  hedge?: HedgeMode;
}

export type ForwardObserver = (seconds: number, result: ForwardResult) => void;

export interface ServerStats {
  /** "1.2.3.4:53" or "[::1]:53". */
  server: string;
  /** Exchanges sent (a UDP try re-asked over TCP counts twice). */
  queries: number;
  /** Exchanges without a usable answer: timeout, error, SERVFAIL, REFUSED. */
  failures: number;
  /** Round trip of the last usable answer; null before the first. */
  lastLatencyMs: number | null;
  /** Tries in a row without a reply (timeouts, refused or failed connections) since the last reply. */
  consecutiveFailures: number;
  /** Marked down (health.ts): skipped while another server is up, probed until it answers. */
  down: boolean;
  /** 95th percentile of its recent round trips (hedge.ts); null before enough replies. */
  p95LatencyMs: number | null;
}

export interface ForwarderStats {
  servers: ServerStats[];
  /** Replies dropped by the anti-spoofing checks, by the check they failed. */
  rejected: Record<Mismatch, number>;
  /** forward() calls refused at once because maxInFlight was reached. */
  overflows: number;
  inFlight: number;
  /** Answered forward() calls by the kind of reply (outcome.ts). */
  replies: Record<ReplyClass, number>;
  /** Hedged tries sent (a server asked because the one before was slow), and those whose reply won. */
  hedges: { sent: number; won: number };
}

export interface ForwardOptions {
  /** The client came over TCP: ask upstream over TCP directly. */
  tcp?: boolean;
  /** For `explain`: ask without moving the rotation or counting in stats and metrics. */
  probe?: boolean;
}

interface Upstream {
  server: UpstreamServer;
  stats: ServerStats;
  latency: LatencyWindow;
}

interface Settings {
  timeoutMs: number;
  attempts: number;
  perTryTimeoutMs: number | undefined;
  rotate: boolean;
  maxInFlight: number;
  maxFails: number;
  healthCheckMs: number;
  hedge: HedgeMode;
}

export class Forwarder {
  /** Replaced whole by setServers(); a query in flight keeps the list it started with. */
  #upstreams: Upstream[] = [];
  readonly #health: HealthTracker;
  readonly #settings: Settings;
  readonly #random: () => number;
  readonly #sockets = new Set<TrackedSocket>();
  readonly #hooks: ExchangeHooks;
  readonly #observe: ForwardObserver | undefined;
  readonly #classes: Record<ReplyClass, number> = {
    success: 0,
    nxdomain: 0,
    nodata: 0,
    referral: 0,
    error: 0,
  };
  #next = 0;
  #inFlight = 0;
  readonly #rejected: Record<Mismatch, number> = {
    source: 0,
    short: 0,
    id: 0,
    'not-response': 0,
    question: 0,
  };
  #overflows = 0;
  readonly #hedges = { sent: 0, won: 0 };
  #closed = false;
  /** UDP socket pools by server ("host:port"); undefined: a socket per query. */
  readonly #poolSettings: UdpPoolSettings | undefined;
  readonly #pools = new Map<string, UdpSocketPool>();
  readonly #tcpPoolSettings: TcpPoolSettings | undefined;
  readonly #tcpPools = new Map<string, TcpConnectionPool>();

  constructor(opts: ForwarderOptions) {
    if (opts.servers.length === 0) {
      throw new MeshdnsError(
        'MESHDNS_UPSTREAM',
        'no upstream server: add a nameserver to resolv.conf or pass --upstream',
      );
    }
    this.#settings = settingsOf(opts);
    this.#poolSettings =
      opts.udpPool === false ? undefined : { ...DEFAULTS.upstreamUdpPool, ...opts.udpPool };
    this.#tcpPoolSettings =
      opts.tcpPool === false ? undefined : { ...DEFAULTS.upstreamTcpPool, ...opts.tcpPool };
    this.#random = opts.random ?? cryptoRandom();
    this.#observe = opts.observe;
    this.#hooks = {
      onRejected: (why) => {
        this.#rejected[why]++;
      },
      track: (socket) => {
        this.#sockets.add(socket);
        void socket.closed.then(() => this.#sockets.delete(socket));
      },
    };
    const onHealthChange = opts.onHealthChange;
    this.#health = new HealthTracker(
      { maxFails: this.#settings.maxFails, probeIntervalMs: this.#settings.healthCheckMs },
      this.#hooks,
      this.#random,
      onHealthChange &&
        ((server, down) => {
          const stats = this.#upstreams.find((u) => u.server === server)?.stats;
          if (stats) onHealthChange(stats.server, down, stats.consecutiveFailures);
        }),
    );
    this.setServers(opts.servers);
  }

  /**
   * Forwards a client's query: the upstream's answer, carrying the client's ID and question bytes, or
   * why there is none (outcome.ts). Never rejects. The answer is not truncated to the client's UDP
   * limit: that is the server's job.
   */
  async forward(query: Buffer, q: Query, opts: ForwardOptions = {}): Promise<ForwardResult> {
    if (this.#closed) return { kind: 'closed', detail: 'the forwarder is closed' };
    const probe = opts.probe === true;
    if (this.#inFlight >= this.#settings.maxInFlight) {
      this.#overflows++;
      const result: ForwardResult = {
        kind: 'overflow',
        detail: `${this.#settings.maxInFlight} queries in flight already`,
      };
      if (!probe) this.#observe?.(0, result);
      return result;
    }
    this.#inFlight++;
    const started = performance.now();
    let result: ForwardResult = { kind: 'closed', detail: 'the forwarder is closed' };
    try {
      result = await this.#tryAll(query, q.qEnd, opts.tcp === true, probe);
      if (result.kind === 'answered' && q.edns === null) result = withoutOpt(result);
      if (result.kind === 'answered') {
        toClientReply(result.reply, query, q.qEnd);
        if (!probe) this.#classes[result.replyClass]++;
      }
      return result;
    } finally {
      this.#inFlight--;
      if (!probe) this.#observe?.((performance.now() - started) / 1000, result);
    }
  }

  /** New upstream servers (SIGHUP re-reads resolv.conf); a server kept keeps its counts. */
  setServers(servers: readonly UpstreamServer[]): void {
    if (servers.length === 0) {
      throw new MeshdnsError(
        'MESHDNS_UPSTREAM',
        'no upstream server: add a nameserver to resolv.conf or pass --upstream',
      );
    }
    const before = new Map(this.#upstreams.map((u) => [u.stats.server, u]));
    this.#upstreams = servers.map((s) => {
      const name = formatUpstream(s);
      const kept = before.get(name);
      const stats = kept?.stats ?? {
        server: name,
        queries: 0,
        failures: 0,
        lastLatencyMs: null,
        consecutiveFailures: 0,
        down: false,
        p95LatencyMs: null,
      };
      return { server: { ...s }, stats, latency: kept?.latency ?? new LatencyWindow() };
    });
    this.#health.track(this.#upstreams.map((u) => ({ server: u.server, health: u.stats })));
    this.#next = 0;
    // A server dropped: its sockets close once the queries on them are answered (or close() cancels them).
    const kept = new Set(this.#upstreams.map((u) => u.stats.server));
    for (const [name, pool] of this.#pools) {
      if (kept.has(name)) continue;
      this.#pools.delete(name);
      this.#hooks.track({ cancel: () => void pool.close(), closed: pool.drain() });
    }
    for (const [name, pool] of this.#tcpPools) {
      if (kept.has(name)) continue;
      this.#tcpPools.delete(name);
      this.#hooks.track({ cancel: () => {}, closed: pool.close() });
    }
  }

  /** The servers in the order the next forward() tries them first (its first round); down ones are left out. */
  plan(): string[] {
    const pool = this.#pool();
    const n = pool.length;
    const start = this.#settings.rotate ? this.#next % n : 0;
    return pool.map((_, i) => pool[(start + i) % n]!.stats.server);
  }

  /** The servers a forward tries: those up, or every one when all are down (then a try is the only probe that counts). */
  #pool(): Upstream[] {
    // Every forward asks: with every server up (the usual case) no list is made.
    if (!this.#upstreams.some((u) => u.stats.down)) return this.#upstreams;
    const up = this.#upstreams.filter((u) => !u.stats.down);
    return up.length > 0 ? up : this.#upstreams;
  }

  /** A fresh recursive query (RD, no EDNS) for `name` through the same machinery. */
  async query(name: string, qtype: number): Promise<ForwardResult> {
    const packet = buildQuery(name, qtype, this.#randomId());
    const q = readQuery(packet);
    if (typeof q === 'string') throw new RangeError(`cannot build a query for "${name}"`);
    return this.forward(packet, q);
  }

  stats(): ForwarderStats {
    return {
      servers: this.#upstreams.map((u) => ({ ...u.stats, p95LatencyMs: u.latency.p95() ?? null })),
      rejected: { ...this.#rejected },
      overflows: this.#overflows,
      inFlight: this.#inFlight,
      replies: { ...this.#classes },
      hedges: { ...this.#hedges },
    };
  }

  /** Cancels the queries in flight (they resolve `closed`) and resolves once their sockets are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#health.close();
    const pools = [...this.#pools.values(), ...this.#tcpPools.values()].map((pool) => pool.close());
    this.#pools.clear();
    this.#tcpPools.clear();
    await Promise.all(pools);
    const open = [...this.#sockets];
    for (const socket of open) socket.cancel();
    await Promise.all(open.map((socket) => socket.closed));
  }

  /** Tries servers in rounds: each round visits every server once, from a start that rotates per call. */
  async #tryAll(query: Buffer, qEnd: number, tcp: boolean, probe: boolean): Promise<ForwardResult> {
    const { timeoutMs, attempts, rotate } = this.#settings;
    const upstreams = this.#pool();
    const n = upstreams.length;
    const start = rotate ? this.#next % n : 0;
    if (!probe) this.#next = (this.#next + 1) % n;
    const deadline = performance.now() + timeoutMs;
    const tries = n * attempts;
    // A probe (explain) shows the plain order; one server has no next to hedge to.
    if (this.#settings.hedge !== 'off' && n > 1 && !probe) {
      return this.#tryHedged(upstreams, start, tries, deadline, query, qEnd, tcp);
    }
    const failures: TryFailure[] = [];
    for (let t = 0; t < tries; t++) {
      if (this.#closed) return notAnswered('closed', failures);
      const timeout = this.#tryTimeout(deadline, tries - t);
      if (timeout <= 0) return notAnswered('timeout', failures);
      const upstream = upstreams[(start + t) % n]!;
      const result = await this.#tryServer(upstream, query, qEnd, tcp, timeout, deadline, probe);
      if (result.kind === 'answered') return result;
      failures.push(result);
    }
    return notAnswered(worstOf(failures), failures);
  }

  /** The same tries as #tryAll's loop, a try started beside a slow one (hedge.ts). */
  async #tryHedged(
    upstreams: Upstream[],
    start: number,
    tries: number,
    deadline: number,
    query: Buffer,
    qEnd: number,
    tcp: boolean,
  ): Promise<ForwardResult> {
    const n = upstreams.length;
    const end = await runHedged<Answered | TryFailure>({
      tries,
      servers: n,
      start: (t) => {
        if (this.#closed) return 'closed';
        const timeout = this.#tryTimeout(deadline, tries - t);
        if (timeout <= 0) return 'no-time';
        return this.#tryServer(upstreams[(start + t) % n]!, query, qEnd, tcp, timeout, deadline, false);
      },
      answered: (r) => r.kind === 'answered',
      delayMs: (t) => this.#hedgeDelay(upstreams[(start + t) % n]!),
    });
    this.#hedges.sent += end.hedges;
    if (end.wonByHedge) this.#hedges.won++;
    if (end.answer?.kind === 'answered') return end.answer;
    const failures = end.failures as TryFailure[];
    if (end.stopped === 'closed') return notAnswered('closed', failures);
    if (end.stopped === 'no-time' && failures.length === 0) return notAnswered('timeout', failures);
    return notAnswered(worstOf(failures), failures);
  }

  #hedgeDelay(upstream: Upstream): number {
    const { hedge } = this.#settings;
    if (typeof hedge === 'number') return hedge;
    const { minMs, unknownMs } = DEFAULTS.upstreamHedge;
    const p95 = upstream.latency.p95();
    return p95 === undefined ? unknownMs : Math.max(minMs, Math.ceil(p95));
  }

  #tryTimeout(deadline: number, triesLeft: number): number {
    const left = Math.floor(deadline - performance.now());
    const share = Math.min(Math.floor(left / triesLeft), this.#settings.perTryTimeoutMs ?? left);
    return Math.min(left, Math.max(MIN_PER_TRY_TIMEOUT_MS, share));
  }

  /** One try: UDP (re-asked over TCP when truncated, RFC 7766 §5) or TCP. */
  async #tryServer(
    upstream: Upstream,
    query: Buffer,
    qEnd: number,
    tcp: boolean,
    timeoutMs: number,
    deadline: number,
    probe: boolean,
  ): Promise<Answered | TryFailure> {
    let outcome = await this.#exchange(upstream, query, qEnd, tcp, timeoutMs, probe);
    if (!tcp && outcome.kind === 'answered' && isTruncated(outcome.reply)) {
      const left = Math.floor(deadline - performance.now());
      if (left <= 0) return { kind: 'timeout', server: upstream.stats.server, what: 'no time left for TCP' };
      outcome = await this.#exchange(upstream, query, qEnd, true, Math.min(left, timeoutMs), probe);
    }
    return outcome;
  }

  async #exchange(
    upstream: Upstream,
    query: Buffer,
    qEnd: number,
    tcp: boolean,
    timeoutMs: number,
    probe: boolean,
  ): Promise<Answered | TryFailure> {
    const { server, stats: counted } = upstream;
    // A probe's exchanges are counted in a throwaway record, and say nothing of health.
    const stats = probe ? { ...counted } : counted;
    // A fresh random ID per exchange (RFC 5452 §9.2); everything after the ID goes out as the client sent it.
    const packet = withId(query, this.#randomId());
    const started = performance.now();
    stats.queries++;
    const outcome = await this.#send(server, stats.server, packet, qEnd, tcp, timeoutMs);
    const failure = tryFailure(outcome, stats.server);
    if (failure !== undefined) {
      if (failure.kind !== 'closed') {
        stats.failures++;
        if (!probe) this.#health.failed({ server, health: stats });
      }
      return failure;
    }
    // A reply, whatever its rcode: the server is there.
    if (!probe) this.#health.succeeded({ server, health: stats });
    const msg = (outcome as { msg: Buffer }).msg;
    const { view, replyClass } = readReply(msg);
    // SERVFAIL and REFUSED say "not from me": another server may answer (glibc res_send does the same).
    const rcode = rcodeOf(msg);
    if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
      stats.failures++;
      const kind = rcode === RCODE.REFUSED ? 'refused' : 'failed';
      return {
        kind,
        server: stats.server,
        what: `rcode ${rcode === RCODE.REFUSED ? 'REFUSED' : 'SERVFAIL'}`,
      };
    }
    stats.lastLatencyMs = performance.now() - started;
    if (!probe) upstream.latency.add(stats.lastLatencyMs);
    return { kind: 'answered', reply: msg, view, replyClass, server: stats.server };
  }

  /** One exchange: UDP through the server's socket pool (or a socket of its own), TCP on a connection. */
  #send(
    server: UpstreamServer,
    name: string,
    packet: Buffer,
    qEnd: number,
    tcp: boolean,
    timeoutMs: number,
  ): Promise<Outcome> {
    if (this.#closed) return Promise.resolve({ kind: 'cancelled' });
    if (tcp) return this.#sendTcp(server, name, packet, qEnd, timeoutMs);
    const settings = this.#poolSettings;
    if (settings === undefined) return udpExchange(server, packet, qEnd, timeoutMs, this.#hooks);
    let pool = this.#pools.get(name);
    if (pool === undefined) {
      pool = new UdpSocketPool(server, settings, this.#hooks, () => performance.now());
      this.#pools.set(name, pool);
    }
    return pool.exchange(packet, qEnd, timeoutMs, () => this.#randomId());
  }

  #sendTcp(
    server: UpstreamServer,
    name: string,
    packet: Buffer,
    qEnd: number,
    timeoutMs: number,
  ): Promise<Outcome> {
    const settings = this.#tcpPoolSettings;
    if (settings === undefined) return tcpExchange(server, packet, qEnd, timeoutMs, this.#hooks);
    let pool = this.#tcpPools.get(name);
    if (pool === undefined) {
      pool = new TcpConnectionPool(server, settings, this.#hooks);
      this.#tcpPools.set(name, pool);
    }
    return pool.exchange(packet, qEnd, timeoutMs, () => this.#randomId());
  }

  #randomId(): number {
    return Math.floor(this.#random() * 0x10000) & 0xffff;
  }
}

/**
 * RFC 6891 §7: a client that sent no OPT gets none back. dnsmasq (2.90) keeps a TCP connection's EDNS
 * state across its queries, so on a reused connection a plain query can come back with an OPT.
 */
function withoutOpt(result: Answered): Answered {
  const last = result.view?.records.at(-1);
  if (last === undefined || last.type !== QTYPE.OPT || last.end !== result.reply.length) return result;
  const reply = Buffer.from(result.reply.subarray(0, last.start));
  reply.writeUInt16BE(reply.readUInt16BE(10) - 1, 10);
  return { ...result, reply, ...readReply(reply) };
}

/** One try that gave no usable answer: why, from which server. */
interface TryFailure {
  kind: ForwardFailure;
  server: string;
  what: string;
}

function tryFailure(outcome: Outcome, server: string): TryFailure | undefined {
  switch (outcome.kind) {
    case 'reply':
      return undefined;
    case 'cancelled':
      return { kind: 'closed', server, what: 'cancelled' };
    case 'timeout':
      return outcome.rejected > 0
        ? { kind: 'rejected', server, what: `timeout after ${outcome.rejected} mismatched replies` }
        : { kind: 'timeout', server, what: 'timeout' };
    case 'error':
      return { kind: outcome.code === 'ECONNREFUSED' ? 'refused' : 'failed', server, what: outcome.code };
  }
}

/** The failure kinds from the most to the least telling, when the tries of one forward differ. */
const TELLING: readonly ForwardFailure[] = ['closed', 'rejected', 'timeout', 'failed', 'refused', 'overflow'];

function worstOf(failures: readonly TryFailure[]): ForwardFailure {
  return TELLING.find((kind) => failures.some((f) => f.kind === kind)) ?? 'timeout';
}

function notAnswered(kind: ForwardFailure, failures: readonly TryFailure[]): NotAnswered {
  const detail = failures.map((f) => `${f.server} ${f.what}`).join('; ');
  return { kind, detail: detail || 'no try started' };
}

function settingsOf(opts: ForwarderOptions): Settings {
  const positive = (value: number | undefined, name: string): number | undefined => {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`Forwarder option ${name} must be a positive number, got ${value}`);
    }
    return value;
  };
  return {
    timeoutMs: positive(opts.timeoutMs, 'timeoutMs') ?? DEFAULTS.upstreamTimeoutMs,
    attempts: Math.floor(positive(opts.attempts, 'attempts') ?? DEFAULTS.upstreamAttempts) || 1,
    perTryTimeoutMs: positive(opts.perTryTimeoutMs, 'perTryTimeoutMs'),
    rotate: opts.rotate ?? DEFAULTS.upstreamRotate,
    maxInFlight: Math.floor(positive(opts.maxInFlight, 'maxInFlight') ?? DEFAULTS.upstreamMaxInFlight) || 1,
    maxFails: Math.max(0, Math.floor(opts.maxFails ?? DEFAULTS.upstreamMaxFails)),
    healthCheckMs: positive(opts.healthCheckMs, 'healthCheckMs') ?? DEFAULTS.upstreamHealthCheckMs,
    hedge: hedgeOf(opts.hedge),
  };
}

function hedgeOf(hedge: HedgeMode | undefined): HedgeMode {
  if (hedge === undefined) return DEFAULTS.upstreamHedge.mode;
  if (typeof hedge === 'number' && !(Number.isFinite(hedge) && hedge >= 0)) {
    throw new RangeError(`Forwarder option hedge must be 'auto', 'off' or milliseconds >= 0, got ${hedge}`);
  }
  return hedge;
}

/** Uniform numbers in [0, 1) from the system CSPRNG, drawn from a pooled buffer. */
export function cryptoRandom(): () => number {
  const pool = Buffer.alloc(4096);
  let offset = pool.length;
  return () => {
    if (offset + 4 > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const value = pool.readUInt32BE(offset);
    offset += 4;
    return value / 0x100000000;
  };
}
