// TCP listener (RFC 7766): 2-byte length framing, pipelined queries answered as they complete
// (possibly out of order), an idle timeout, and caps on connections and queries in flight.
import net from 'node:net';
import type { Pipeline } from './pipeline.js';

export interface TcpLimits {
  idleTimeoutMs: number;
  maxConnections: number;
  maxInFlightPerConnection: number;
}

export class TcpListener {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly pipeline: Pipeline;
  private readonly limits: TcpLimits;

  constructor(pipeline: Pipeline, limits: TcpLimits) {
    this.pipeline = pipeline;
    this.limits = limits;
  }

  async start(host: string, port: number): Promise<number> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    server.maxConnections = this.limits.maxConnections;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    return (server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    let pending = Buffer.alloc(0);
    let inFlight = 0;
    const write = (reply: Buffer | null) => {
      if (reply === null || socket.destroyed) return;
      const frame = Buffer.allocUnsafe(reply.length + 2);
      frame.writeUInt16BE(reply.length, 0);
      reply.copy(frame, 2);
      socket.write(frame);
    };
    const settle = (reply: Buffer | null) => {
      write(reply);
      inFlight--;
      // Back-pressure: stop reading while too many queries of this connection are in flight.
      if (socket.isPaused() && inFlight < this.limits.maxInFlightPerConnection) socket.resume();
    };
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let off = 0;
      while (pending.length - off >= 2) {
        const len = pending.readUInt16BE(off);
        if (pending.length - off - 2 < len) break;
        const msg = pending.subarray(off + 2, off + 2 + len);
        off += 2 + len;
        const out = this.pipeline.answer(msg, 'tcp');
        if (out instanceof Promise) {
          inFlight++;
          out.then(settle, () => settle(null));
        } else {
          write(out);
        }
      }
      pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
      if (inFlight >= this.limits.maxInFlightPerConnection) socket.pause();
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
