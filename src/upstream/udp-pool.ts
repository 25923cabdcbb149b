// Upstream UDP without a socket per query (issue 12 item 4): a few connected sockets per server, each
// on a port the kernel picks at random, retired after a bounded number of queries or seconds so the
// source port keeps moving (RFC 5452 §9.2), and replies matched by (socket, ID, question). Creating,
// binding, connecting and closing a socket per query was 11% of a cache miss's CPU.
import { createSocket } from 'node:dgram';
import { isCheckedIPv6 } from '../dns/index.js';
import { type ExchangeHooks, errorOutcome, type Outcome } from './exchange.js';
import { type Mismatch, matchReply, replyId } from './message.js';
import type { UpstreamServer } from './resolvconf.js';

export interface UdpPoolSettings {
  /** Sockets per server, used in turn. */
  sockets: number;
  /** Queries a socket sends before it is retired (closed once its replies are in). */
  maxQueries: number;
  /** Milliseconds a socket is used for before it is retired. */
  maxAgeMs: number;
  /** The sockets' kind: node:dgram's (the default), or another (server/upstream-link.ts). */
  link?: DatagramLinkFactory;
}

/** IDs of queries that timed out, kept per socket so their late replies are not taken for forgeries. */
const EXPIRED_KEPT = 256;
/** Tries to draw an ID not in flight on the chosen socket before another socket is taken. */
const ID_DRAWS = 4;

interface Pending {
  packet: Buffer;
  qEnd: number;
  rejected: number;
  timer: NodeJS.Timeout;
  resolve(outcome: Outcome): void;
}

/** What a pooled socket's link reports. */
export interface LinkEvents {
  /** A datagram from the server; `msg` is the receiver's to keep. */
  message(msg: Buffer): void;
  /** A datagram from another address or port: a connected socket has none, so the rule holds on its own. */
  stray(): void;
  /** One query could not be sent. */
  sendFailed(packet: Buffer, err: Error): void;
  /** The socket failed (ICMP port unreachable: ECONNREFUSED); it is retired. */
  error(err: Error): void;
}

/**
 * One socket connected to the server, as the pool uses it: node:dgram's (here), or the native batch
 * socket's (server/upstream-link.ts), which sends a turn's queries in one sendmmsg and reads replies in
 * batches.
 */
export interface DatagramLink {
  /** Sends one query (queued until the socket is connected). */
  send(packet: Buffer): void;
  close(): void;
  readonly closed: Promise<void>;
}

export type DatagramLinkFactory = (server: UpstreamServer, events: LinkEvents) => DatagramLink;

/** The pool's link on node:dgram: a connected socket, bound implicitly to a random ephemeral port. */
export const dgramLink: DatagramLinkFactory = (server, events) => {
  const socket = createSocket(isCheckedIPv6(server.host) ? 'udp6' : 'udp4');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let remote: { address: string; port: number } | undefined;
  /** Sends waiting for connect(). */
  let queue: Buffer[] | undefined = [];
  let isClosed = false;
  const send = (packet: Buffer) => {
    if (queue !== undefined) {
      queue.push(packet);
      return;
    }
    socket.send(packet, (err) => {
      if (err) events.sendFailed(packet, err);
    });
  };
  socket.on('error', (err) => events.error(err));
  socket.on('message', (msg, rinfo) => {
    // The kernel filters a connected socket already; the check stays so the rule holds on its own.
    if (remote === undefined || rinfo.address !== remote.address || rinfo.port !== remote.port)
      events.stray();
    else events.message(msg);
  });
  // Connected, as unbound's udp-connect: the kernel delivers only the server's datagrams and reports
  // ICMP port unreachable as ECONNREFUSED.
  socket.connect(server.port, server.host, () => {
    if (isClosed) return;
    // remoteAddress() is the normalised form rinfo uses too ("::1", never "0::1").
    remote = socket.remoteAddress();
    const queued = queue ?? [];
    queue = undefined;
    for (const packet of queued) send(packet);
  });
  return {
    send,
    closed,
    close() {
      if (isClosed) return;
      isClosed = true;
      try {
        socket.close();
      } catch {
        // close() throws only if the socket is closed already: nothing left to release.
      }
    },
  };
};

class PooledSocket {
  readonly link: DatagramLink;
  readonly pending = new Map<number, Pending>();
  readonly expired = new Set<number>();
  readonly born: number;
  sent = 0;
  retired = false;

  constructor(
    server: UpstreamServer,
    now: number,
    makeLink: DatagramLinkFactory,
    events: (s: PooledSocket) => LinkEvents,
  ) {
    this.born = now;
    this.link = makeLink(server, events(this));
  }

  get closed(): Promise<void> {
    return this.link.closed;
  }

  send(packet: Buffer): void {
    this.link.send(packet);
  }

  fail(id: number, outcome: Outcome): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(outcome);
  }

  close(): void {
    this.link.close();
  }
}

/** The pooled sockets to one server. */
export class UdpSocketPool {
  private readonly server: UpstreamServer;
  private readonly settings: UdpPoolSettings;
  private readonly hooks: ExchangeHooks;
  private readonly slots: (PooledSocket | undefined)[];
  /** Retired sockets still waiting for replies, and every socket open (for close()). */
  private readonly open = new Set<PooledSocket>();
  private next = 0;
  private isClosed = false;
  private readonly now: () => number;

  constructor(server: UpstreamServer, settings: UdpPoolSettings, hooks: ExchangeHooks, now: () => number) {
    this.server = server;
    this.settings = settings;
    this.hooks = hooks;
    this.now = now;
    this.slots = new Array(Math.max(1, settings.sockets)).fill(undefined);
  }

  /**
   * Sends `packet` (our own copy, whose ID `newId` may redraw) and waits up to `timeoutMs` for a reply
   * that answers it; other replies are dropped (counted through `hooks.onRejected`) and the wait goes on.
   */
  exchange(packet: Buffer, qEnd: number, timeoutMs: number, newId: () => number): Promise<Outcome> {
    if (this.isClosed) return Promise.resolve({ kind: 'cancelled' });
    const s = this.pick(packet, newId);
    const id = packet.readUInt16BE(0);
    s.sent++;
    return new Promise<Outcome>((resolve) => {
      const p: Pending = {
        packet,
        qEnd,
        rejected: 0,
        resolve,
        timer: setTimeout(() => {
          s.pending.delete(id);
          s.expired.add(id);
          if (s.expired.size > EXPIRED_KEPT) s.expired.delete(s.expired.values().next().value as number);
          resolve({ kind: 'timeout', rejected: p.rejected });
          this.closeIfDone(s);
        }, timeoutMs),
      };
      s.pending.set(id, p);
      s.send(packet);
    });
  }

  /** Takes no more queries; each socket closes once its replies are in. Resolves when all are closed. */
  drain(): Promise<void> {
    this.isClosed = true;
    for (const s of [...this.open]) this.retire(s);
    return Promise.all([...this.open].map((s) => s.closed)).then(() => {});
  }

  /** Cancels what is in flight (it resolves `cancelled`) and resolves once every socket is closed. */
  async close(): Promise<void> {
    this.isClosed = true;
    const all = [...this.open];
    for (const s of all) {
      for (const id of [...s.pending.keys()]) s.fail(id, { kind: 'cancelled' });
      s.close();
    }
    this.slots.fill(undefined);
    await Promise.all(all.map((s) => s.closed));
  }

  /** The next socket in turn that may send one more query with this packet's ID (redrawn if taken). */
  private pick(packet: Buffer, newId: () => number): PooledSocket {
    const n = this.slots.length;
    let i = this.next;
    for (let turn = 0; turn < n; turn++) {
      i = (this.next + turn) % n;
      const s = this.usable(i);
      for (let d = 0; d < ID_DRAWS && s.pending.has(packet.readUInt16BE(0)); d++) {
        packet.writeUInt16BE(newId(), 0);
      }
      if (!s.pending.has(packet.readUInt16BE(0))) {
        this.next = (i + 1) % n;
        return s;
      }
    }
    // Every socket has this ID in flight (only under thousands of queries in flight): a fresh socket.
    this.retire(this.usable(i));
    this.next = (i + 1) % n;
    return this.usable(i);
  }

  /** The socket of slot i, replaced by a new one when it is past its queries or its age. */
  private usable(i: number): PooledSocket {
    let s = this.slots[i];
    const { maxQueries, maxAgeMs } = this.settings;
    if (s !== undefined && (s.sent >= maxQueries || this.now() - s.born >= maxAgeMs)) {
      this.retire(s);
      s = undefined;
    }
    if (s === undefined) {
      s = this.create();
      this.slots[i] = s;
    }
    return s;
  }

  private create(): PooledSocket {
    const s = new PooledSocket(this.server, this.now(), this.settings.link ?? dgramLink, (from) => ({
      message: (msg) => this.receive(from, msg),
      stray: () => this.rejectAll(from, 'source'),
      sendFailed: (packet, err) => from.fail(packet.readUInt16BE(0), errorOutcome(err)),
      error: (err) => this.failed(from, err),
    }));
    this.open.add(s);
    void s.closed.then(() => this.open.delete(s));
    return s;
  }

  private retire(s: PooledSocket): void {
    s.retired = true;
    const i = this.slots.indexOf(s);
    if (i >= 0) this.slots[i] = undefined;
    this.closeIfDone(s);
  }

  private closeIfDone(s: PooledSocket): void {
    if (s.retired && s.pending.size === 0) s.close();
  }

  private receive(s: PooledSocket, msg: Buffer): void {
    const id = replyId(msg);
    // A late reply to a query that timed out is no forgery: dropped, not counted.
    if (!s.pending.has(id) && s.expired.delete(id)) return;
    if (!matchReply(msg, s.pending, (why) => this.hooks.onRejected(why))) return;
    s.fail(id, { kind: 'reply', msg });
    this.closeIfDone(s);
  }

  /** A reply that answers none of this socket's queries: counted, and held against each of them. */
  private rejectAll(s: PooledSocket, why: Mismatch): void {
    this.hooks.onRejected(why);
    for (const p of s.pending.values()) p.rejected++;
  }

  /** A socket error (ICMP port unreachable: ECONNREFUSED) fails every query on it; the socket is retired. */
  private failed(s: PooledSocket, err: Error): void {
    const outcome = errorOutcome(err);
    for (const id of [...s.pending.keys()]) s.fail(id, outcome);
    this.retire(s);
  }
}
