// TCP listener (RFC 7766): accepts DNS clients up to a cap on connections. At the cap a new client is
// not reset: the idlest connection is closed to make room for it (SPEC §10; RFC 7766 §6.2.2 lets a server
// close idle connections under resource pressure), so a flood of idle connections cannot lock clients out.
import net from 'node:net';
import type { ClientAllowList } from './client-access.js';
import type { ServerLimits, TcpGauges } from './limits.js';
import type { Pipeline } from './pipeline.js';
import { sharedTcpListen } from './reuse-port.js';
import { TcpConnection } from './tcp-connection.js';

export interface TcpLimits {
  idleTimeoutMs: number;
  maxConnections: number;
  maxInFlightPerConnection: number;
  /** Bytes of answers queued for one client before reading from it pauses. */
  maxQueuedBytes: number;
}

export class TcpListener {
  private server: net.Server | undefined;
  /** Open connections, least recently heard from first (a Map keeps insertion order; a read moves one last). */
  private readonly conns = new Map<net.Socket, TcpConnection>();
  private untrack: (() => void) | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly limits: TcpLimits,
    private readonly watch: ServerLimits,
    private readonly allow: ClientAllowList | undefined,
  ) {}

  /**
   * Listens on host:port; `shared`: with SO_REUSEPORT (reuse-port.ts), so that a new meshdns can bind
   * the port while this one still answers. Returns the port, and why it is not shared when it could not be.
   */
  async start(host: string, port: number, shared = false): Promise<{ port: number; reason?: string }> {
    // The high-water mark is the bound on queued bytes: write() returns false past it, and 'drain' follows.
    const server = net.createServer({ noDelay: true, highWaterMark: this.limits.maxQueuedBytes }, (socket) =>
      this.accept(socket),
    );
    this.server = server;
    const { options, reason } = shared
      ? sharedTcpListen(host, port)
      : { options: { host, port, exclusive: true }, reason: undefined };
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    this.untrack = this.watch.track(() => this.gauges());
    return { port: (server.address() as net.AddressInfo).port, ...(reason ? { reason } : {}) };
  }

  /**
   * Stops accepting (a process sharing the port gets the new clients), answers the queries already
   * read, then closes each connection; what is left at `deadline` (Date.now() ms) is closed as it is.
   */
  async handOver(deadline: number): Promise<void> {
    const server = this.server;
    const closed = server && new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
    await Promise.all([...this.conns.values()].map((c) => c.finish(deadline)));
    await this.close();
    await closed;
  }

  private accept(socket: net.Socket): void {
    if (this.conns.size >= this.limits.maxConnections) this.closeIdlest();
    const allowed = this.allow === undefined || this.allow.allows(socket.remoteAddress ?? '');
    const conn = new TcpConnection(socket, this.pipeline, this.limits, this.watch, !allowed);
    this.conns.set(socket, conn);
    socket.on('close', () => this.conns.delete(socket));
    socket.on('data', (chunk) => {
      this.conns.delete(socket);
      this.conns.set(socket, conn);
      conn.receive(chunk);
    });
  }

  /** The connection heard from least recently, preferring one with no query in flight. */
  private closeIdlest(): void {
    let victim: TcpConnection | undefined;
    for (const conn of this.conns.values()) {
      victim ??= conn;
      if (conn.inFlight === 0) {
        victim = conn;
        break;
      }
    }
    if (victim === undefined) return;
    const s = victim.socket;
    this.conns.delete(s);
    s.destroy();
    this.watch.reached('tcp_connections', {
      closed: `${s.remoteAddress}:${s.remotePort}`,
      maxConnections: this.limits.maxConnections,
    });
  }

  private gauges(): TcpGauges {
    const g: TcpGauges = { connections: this.conns.size, paused: 0, queuedBytes: 0 };
    for (const conn of this.conns.values()) {
      if (conn.paused) g.paused++;
      g.queuedBytes += conn.socket.writableLength;
    }
    return g;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.untrack?.();
    for (const s of this.conns.keys()) s.destroy();
    this.conns.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
