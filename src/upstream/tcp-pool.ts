// Upstream TCP connections reused and pipelined (RFC 7766 §6.2): queries to one server share an open
// connection, each framed with its length, replies matched by ID and question in whatever order they
// come (§7: a server may answer out of order). A connection is closed when idle, and set aside when a
// query on it times out (the server may not read more than one query per connection).
import { connect, type Socket } from 'node:net';
import { type ExchangeHooks, errorOutcome, type Outcome } from './exchange.js';
import { matchReply, replyId } from './message.js';
import type { UpstreamServer } from './resolvconf.js';

export interface TcpPoolSettings {
  /** Connections per server; past them (each at `maxPipelined`) a query opens one of its own. */
  connections: number;
  /** Queries in flight on one connection. */
  maxPipelined: number;
  /** An idle connection is closed after this many milliseconds. */
  idleMs: number;
}

interface Pending {
  packet: Buffer;
  qEnd: number;
  rejected: number;
  timer: NodeJS.Timeout;
  /** Sent again once on a fresh connection when a reused one closed under it (RFC 7766 §6.2.1). */
  retried: boolean;
  resolve(outcome: Outcome): void;
}

class UpstreamConnection {
  readonly socket: Socket;
  readonly pending = new Map<number, Pending>();
  readonly closed: Promise<void>;
  /** Replies received: a connection that has answered before is a reused one. */
  answered = 0;
  usable = true;
  private buffered: Buffer = Buffer.alloc(0);
  private idle: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(
    server: UpstreamServer,
    idleMs: number,
    onFrame: (c: UpstreamConnection, msg: Buffer) => void,
    onClose: (c: UpstreamConnection, err: Error | undefined) => void,
  ) {
    this.idleMs = idleMs;
    this.socket = connect({ host: server.host, port: server.port, noDelay: true });
    this.closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    let failure: Error | undefined;
    this.socket.on('error', (err) => {
      failure = err;
    });
    this.socket.on('end', () => this.socket.destroy());
    this.socket.on('close', () => {
      this.usable = false;
      clearTimeout(this.idle);
      onClose(this, failure);
    });
    this.socket.on('data', (chunk: Buffer) => this.read(chunk, onFrame));
    this.armIdle();
  }

  send(packet: Buffer): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    const frame = Buffer.allocUnsafe(2 + packet.length);
    frame.writeUInt16BE(packet.length, 0);
    packet.copy(frame, 2);
    this.socket.write(frame);
  }

  settle(id: number, outcome: Outcome): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(outcome);
    this.armIdle();
    return p;
  }

  /** Closes once nothing is in flight; takes no more queries. */
  retire(): void {
    this.usable = false;
    if (this.pending.size === 0) this.socket.destroy();
  }

  armIdle(): void {
    if (this.pending.size > 0 || this.idle !== undefined) return;
    if (!this.usable) {
      this.socket.destroy();
      return;
    }
    this.idle = setTimeout(() => this.socket.destroy(), this.idleMs);
  }

  private read(chunk: Buffer, onFrame: (c: UpstreamConnection, msg: Buffer) => void): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 2) {
      const size = this.buffered.readUInt16BE(0);
      if (this.buffered.length < 2 + size) return;
      // A copy: the reply is rewritten in place later, and a chunk may share its memory.
      const msg = Buffer.from(this.buffered.subarray(2, 2 + size));
      this.buffered = this.buffered.subarray(2 + size);
      onFrame(this, msg);
    }
  }
}

/** The connections to one server. */
export class TcpConnectionPool {
  private readonly open = new Set<UpstreamConnection>();
  private isClosed = false;
  private readonly server: UpstreamServer;
  private readonly settings: TcpPoolSettings;
  private readonly hooks: ExchangeHooks;

  constructor(server: UpstreamServer, settings: TcpPoolSettings, hooks: ExchangeHooks) {
    this.server = server;
    this.settings = settings;
    this.hooks = hooks;
  }

  /**
   * Sends `packet` (our own copy, whose ID `newId` may redraw) on a shared connection and waits up to
   * `timeoutMs` for a framed reply that answers it; frames that do not are dropped and counted.
   */
  exchange(packet: Buffer, qEnd: number, timeoutMs: number, newId: () => number): Promise<Outcome> {
    if (this.isClosed) return Promise.resolve({ kind: 'cancelled' });
    return new Promise<Outcome>((resolve) => {
      const p: Pending = { packet, qEnd, rejected: 0, retried: false, resolve, timer: undefined as never };
      const c = this.place(p, newId);
      p.timer = setTimeout(() => this.timedOut(p), timeoutMs);
      c.send(packet);
    });
  }

  /** Cancels what is in flight (it resolves `cancelled`) and resolves once every connection is closed. */
  async close(): Promise<void> {
    this.isClosed = true;
    const all = [...this.open];
    for (const c of all) {
      for (const id of [...c.pending.keys()]) c.settle(id, { kind: 'cancelled' });
      c.socket.destroy();
    }
    await Promise.all(all.map((c) => c.closed));
  }

  /** The connection `p` goes on (with an ID free there), opened if none has room. */
  private place(p: Pending, newId: () => number): UpstreamConnection {
    let c: UpstreamConnection | undefined;
    for (const open of this.open) {
      if (open.usable && open.pending.size < this.settings.maxPipelined) {
        c = open;
        break;
      }
    }
    if (c === undefined) c = this.connect();
    while (c.pending.has(p.packet.readUInt16BE(0))) p.packet.writeUInt16BE(newId(), 0);
    c.pending.set(p.packet.readUInt16BE(0), p);
    return c;
  }

  private connect(): UpstreamConnection {
    const c = new UpstreamConnection(
      this.server,
      this.settings.idleMs,
      (from, msg) => this.receive(from, msg),
      (from, err) => this.lost(from, err),
    );
    this.open.add(c);
    // Past `connections` the new one serves this query alone, and closes after it.
    if (this.open.size > this.settings.connections) c.usable = false;
    return c;
  }

  private timedOut(p: Pending): void {
    for (const c of this.open) {
      const id = p.packet.readUInt16BE(0);
      if (c.pending.get(id) !== p) continue;
      // Tries go on over another connection: this server may not answer more on this one.
      c.retire();
      c.settle(id, { kind: 'timeout', rejected: p.rejected });
      return;
    }
  }

  private receive(c: UpstreamConnection, msg: Buffer): void {
    if (!matchReply(msg, c.pending, (why) => this.hooks.onRejected(why))) return;
    c.answered++;
    c.settle(replyId(msg), { kind: 'reply', msg });
  }

  /**
   * The connection closed. Queries on a reused connection are sent once more on a fresh one: a server
   * closing an idle connection crosses our next query (RFC 7766 §6.2.1). The others fail as today.
   */
  private lost(c: UpstreamConnection, err: Error | undefined): void {
    this.open.delete(c);
    const outcome: Outcome = err ? errorOutcome(err) : { kind: 'error', code: 'ECONNRESET' };
    const again: Pending[] = [];
    for (const [id, p] of c.pending) {
      if (!this.isClosed && c.answered > 0 && !p.retried) {
        c.pending.delete(id);
        again.push(p);
      } else c.settle(id, outcome);
    }
    if (again.length === 0) return;
    const fresh = this.connect();
    for (const p of again) {
      p.retried = true;
      fresh.pending.set(p.packet.readUInt16BE(0), p);
      fresh.send(p.packet);
    }
  }
}
