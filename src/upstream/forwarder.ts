// Forwarding to the upstream resolvers: rotation, failover, a total time budget, TCP on truncation.
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../defaults.js';
import { type Query, RCODE, readQuery } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import type { ExchangeHooks, Outcome, TrackedSocket } from './exchange.js';
import { buildQuery, isTruncated, rcodeOf, toClientReply, withId } from './message.js';
import { formatUpstream, type UpstreamServer } from './resolvconf.js';
import { tcpExchange } from './tcp.js';
import { udpExchange } from './udp.js';

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
  /** forward() calls in flight; past it forward() resolves null at once (SPEC §10). Default: DEFAULTS.upstreamMaxInFlight. */
  maxInFlight?: number;
  /** Called once per forward() with its duration and whether it got a usable answer (Istio's metrics). */
  observe?: (seconds: number, ok: boolean) => void;
}

export interface ServerStats {
  /** "1.2.3.4:53" or "[::1]:53". */
  server: string;
  /** Exchanges sent (a UDP try re-asked over TCP counts twice). */
  queries: number;
  /** Exchanges without a usable answer: timeout, error, SERVFAIL, REFUSED. */
  failures: number;
  /** Round trip of the last usable answer; null before the first. */
  lastLatencyMs: number | null;
}

export interface ForwarderStats {
  servers: ServerStats[];
  /** Replies dropped by the anti-spoofing checks (wrong ID, question, or not a response). */
  rejected: number;
  /** forward() calls refused at once because maxInFlight was reached. */
  overflows: number;
  inFlight: number;
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
}

interface Settings {
  timeoutMs: number;
  attempts: number;
  perTryTimeoutMs: number | undefined;
  rotate: boolean;
  maxInFlight: number;
}

export class Forwarder {
  /** Replaced whole by setServers(); a query in flight keeps the list it started with. */
  #upstreams: { server: UpstreamServer; stats: ServerStats }[] = [];
  readonly #settings: Settings;
  readonly #random: () => number;
  readonly #sockets = new Set<TrackedSocket>();
  readonly #hooks: ExchangeHooks;
  readonly #observe: ((seconds: number, ok: boolean) => void) | undefined;
  #next = 0;
  #inFlight = 0;
  #rejected = 0;
  #overflows = 0;
  #closed = false;

  constructor(opts: ForwarderOptions) {
    if (opts.servers.length === 0) {
      throw new MeshdnsError(
        'MESHDNS_UPSTREAM',
        'no upstream server: add a nameserver to resolv.conf or pass --upstream',
      );
    }
    this.#settings = settingsOf(opts);
    this.setServers(opts.servers);
    this.#random = opts.random ?? cryptoRandom();
    this.#observe = opts.observe;
    this.#hooks = {
      onRejected: () => {
        this.#rejected++;
      },
      track: (socket) => {
        this.#sockets.add(socket);
        void socket.closed.then(() => this.#sockets.delete(socket));
      },
    };
  }

  /**
   * Forwards a client's query and resolves with the upstream's answer carrying the client's ID and
   * question bytes, or null when every try failed, the budget ran out, or the forwarder is full or closed.
   * The answer is not truncated to the client's UDP limit: that is the server's job.
   */
  async forward(query: Buffer, q: Query, opts: ForwardOptions = {}): Promise<Buffer | null> {
    if (this.#closed) return null;
    const probe = opts.probe === true;
    if (this.#inFlight >= this.#settings.maxInFlight) {
      this.#overflows++;
      if (!probe) this.#observe?.(0, false);
      return null;
    }
    this.#inFlight++;
    const started = performance.now();
    let reply: Buffer | null = null;
    try {
      reply = await this.#tryAll(query, q.qEnd, opts.tcp === true, probe);
      return reply && toClientReply(reply, query, q.qEnd);
    } finally {
      this.#inFlight--;
      if (!probe) this.#observe?.((performance.now() - started) / 1000, reply !== null);
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
    const before = new Map(this.#upstreams.map((u) => [u.stats.server, u.stats]));
    this.#upstreams = servers.map((s) => {
      const name = formatUpstream(s);
      const stats = before.get(name) ?? { server: name, queries: 0, failures: 0, lastLatencyMs: null };
      return { server: { ...s }, stats };
    });
    this.#next = 0;
  }

  /** The servers in the order the next forward() tries them first (its first round). */
  plan(): string[] {
    const n = this.#upstreams.length;
    const start = this.#settings.rotate ? this.#next : 0;
    return this.#upstreams.map((_, i) => this.#upstreams[(start + i) % n]!.stats.server);
  }

  /** A fresh recursive query (RD, no EDNS) for `name` through the same machinery. */
  async query(name: string, qtype: number): Promise<Buffer | null> {
    const packet = buildQuery(name, qtype, this.#randomId());
    const q = readQuery(packet);
    if (typeof q === 'string') throw new RangeError(`cannot build a query for "${name}"`);
    return this.forward(packet, q);
  }

  stats(): ForwarderStats {
    return {
      servers: this.#upstreams.map((u) => ({ ...u.stats })),
      rejected: this.#rejected,
      overflows: this.#overflows,
      inFlight: this.#inFlight,
    };
  }

  /** Cancels the queries in flight (they resolve null) and resolves once their sockets are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    const open = [...this.#sockets];
    for (const socket of open) socket.cancel();
    await Promise.all(open.map((socket) => socket.closed));
  }

  /** Tries servers in rounds: each round visits every server once, from a start that rotates per call. */
  async #tryAll(query: Buffer, qEnd: number, tcp: boolean, probe: boolean): Promise<Buffer | null> {
    const { timeoutMs, attempts, rotate } = this.#settings;
    const upstreams = this.#upstreams;
    const n = upstreams.length;
    const start = rotate ? this.#next % n : 0;
    if (!probe) this.#next = (this.#next + 1) % n;
    const deadline = performance.now() + timeoutMs;
    const tries = n * attempts;
    for (let t = 0; t < tries && !this.#closed; t++) {
      const timeout = this.#tryTimeout(deadline, tries - t);
      if (timeout <= 0) return null;
      const upstream = upstreams[(start + t) % n]!;
      const reply = await this.#tryServer(upstream, query, qEnd, tcp, timeout, deadline, probe);
      if (reply) return reply;
    }
    return null;
  }

  #tryTimeout(deadline: number, triesLeft: number): number {
    const left = Math.floor(deadline - performance.now());
    const share = Math.min(Math.floor(left / triesLeft), this.#settings.perTryTimeoutMs ?? left);
    return Math.min(left, Math.max(MIN_PER_TRY_TIMEOUT_MS, share));
  }

  /** One try: UDP (re-asked over TCP when truncated, RFC 7766 §5) or TCP; null when it gave no usable answer. */
  async #tryServer(
    upstream: Upstream,
    query: Buffer,
    qEnd: number,
    tcp: boolean,
    timeoutMs: number,
    deadline: number,
    probe: boolean,
  ): Promise<Buffer | null> {
    let outcome = await this.#exchange(upstream, query, qEnd, tcp, timeoutMs, probe);
    if (!tcp && outcome.kind === 'reply' && isTruncated(outcome.msg)) {
      const left = Math.floor(deadline - performance.now());
      if (left <= 0) return null;
      outcome = await this.#exchange(upstream, query, qEnd, true, Math.min(left, timeoutMs), probe);
    }
    return outcome.kind === 'reply' ? outcome.msg : null;
  }

  async #exchange(
    { server, stats: counted }: Upstream,
    query: Buffer,
    qEnd: number,
    tcp: boolean,
    timeoutMs: number,
    probe: boolean,
  ): Promise<Outcome> {
    // A probe's exchanges are counted in a throwaway record.
    const stats = probe ? { ...counted } : counted;
    // A fresh random ID per exchange (RFC 5452 §9.2); everything after the ID goes out as the client sent it.
    const packet = withId(query, this.#randomId());
    const started = performance.now();
    stats.queries++;
    const exchange = tcp ? tcpExchange : udpExchange;
    const outcome = await exchange(server, packet, qEnd, timeoutMs, this.#hooks);
    if (outcome.kind === 'cancelled') return outcome;
    // SERVFAIL and REFUSED say "not from me": another server may answer (glibc res_send does the same).
    const usable =
      outcome.kind === 'reply' &&
      rcodeOf(outcome.msg) !== RCODE.SERVFAIL &&
      rcodeOf(outcome.msg) !== RCODE.REFUSED;
    if (!usable) {
      stats.failures++;
      return outcome.kind === 'reply' ? { kind: 'error', code: `rcode ${rcodeOf(outcome.msg)}` } : outcome;
    }
    stats.lastLatencyMs = performance.now() - started;
    return outcome;
  }

  #randomId(): number {
    return Math.floor(this.#random() * 0x10000) & 0xffff;
  }
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
  };
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
