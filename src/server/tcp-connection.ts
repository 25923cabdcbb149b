// One DNS-over-TCP client (RFC 7766): 2-byte length framing, pipelined queries answered as they complete
// (possibly out of order). Every answer, synchronous table answers included, counts against two bounds:
// queries in flight and bytes queued but unsent. Past either, the connection is not read from until
// answers go out (backpressure), so a client that never reads costs a bounded amount of memory.
import type net from 'node:net';
import type { ServerLimits } from './limits.js';
import type { Pipeline } from './pipeline.js';
import type { TcpLimits } from './tcp.js';

const EMPTY = Buffer.alloc(0);
/** How often a finishing connection looks whether its answers are out. */
const FINISH_POLL_MS = 5;

export class TcpConnection {
  /** Bytes read but not yet answered: at most one partial frame, or the rest of a chunk while paused. */
  private pending: Buffer = EMPTY;
  inFlight = 0;
  /** Why reading is paused; the bound is counted once per pause. */
  private pausedBy: 'in_flight' | 'queued_bytes' | undefined;
  private readonly client: string;
  private finishing = false;

  constructor(
    readonly socket: net.Socket,
    private readonly pipeline: Pipeline,
    private readonly limits: TcpLimits,
    private readonly watch: ServerLimits,
    /** Outside the allow list: every query is answered REFUSED. */
    private readonly refused: boolean,
  ) {
    this.client = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setTimeout(limits.idleTimeoutMs, () => this.timedOut());
    socket.on('error', () => socket.destroy());
    // 'drain' comes once the queued bytes are all sent (the socket's high-water mark is the bound).
    socket.on('drain', () => this.pump());
  }

  get paused(): boolean {
    return this.pausedBy !== undefined;
  }

  /** Appends what was read and answers the complete frames, as far as the bounds allow. */
  receive(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pump();
  }

  private pump(): void {
    const buf = this.pending;
    let off = 0;
    let full = this.full();
    while (full === undefined && buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (buf.length - off - 2 < len) break;
      const msg = buf.subarray(off + 2, off + 2 + len);
      off += 2 + len;
      this.answer(msg);
      full = this.full();
    }
    if (off > 0) this.pending = off === buf.length ? EMPTY : buf.subarray(off);
    this.setPaused(full);
  }

  private answer(msg: Buffer): void {
    const out = this.refused ? this.refuse(msg) : this.pipeline.answer(msg, 'tcp');
    if (!(out instanceof Promise)) {
      this.write(out);
      return;
    }
    this.inFlight++;
    const settle = (reply: Buffer | null) => {
      this.inFlight--;
      this.write(reply);
      if (this.paused && !this.socket.destroyed) this.pump();
    };
    out.then(settle, () => settle(null));
  }

  private refuse(msg: Buffer): Buffer | null {
    this.watch.reached('allow_from', { client: this.client, protocol: 'tcp' });
    return this.pipeline.refuse(msg, 'tcp');
  }

  private write(reply: Buffer | null): void {
    if (reply === null || this.socket.destroyed) return;
    const frame = Buffer.allocUnsafe(reply.length + 2);
    frame.writeUInt16BE(reply.length, 0);
    reply.copy(frame, 2);
    this.socket.write(frame);
  }

  /** Which bound stops reading now, if any. */
  private full(): 'in_flight' | 'queued_bytes' | undefined {
    if (this.socket.writableNeedDrain) return 'queued_bytes';
    if (this.inFlight >= this.limits.maxInFlightPerConnection) return 'in_flight';
    return undefined;
  }

  /**
   * A hand-over (tcp.ts): reads nothing more, answers the queries read, and ends the connection once
   * they are sent (RFC 7766 §6.2.4: the client retries the rest on a new one); resolves then, or at
   * `deadline` (Date.now() ms) with the connection destroyed.
   */
  async finish(deadline: number): Promise<void> {
    this.finishing = true;
    this.socket.pause();
    const busy = () => !this.socket.destroyed && (this.inFlight > 0 || this.socket.writableLength > 0);
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, FINISH_POLL_MS));
    if (busy()) this.socket.destroy();
    else this.socket.end();
  }

  private setPaused(by: 'in_flight' | 'queued_bytes' | undefined): void {
    // Finishing: reading never resumes (finish() paused it).
    if (this.finishing || by === this.pausedBy) return;
    if (by !== undefined) {
      this.socket.pause();
      this.watch.reached(by === 'in_flight' ? 'tcp_in_flight' : 'tcp_queued_bytes', {
        client: this.client,
        inFlight: this.inFlight,
        queuedBytes: this.socket.writableLength,
      });
    } else {
      this.socket.resume();
    }
    this.pausedBy = by;
  }

  /** Nothing read or sent for the idle timeout: an idle client, or one that leaves its answers unread. */
  private timedOut(): void {
    if (this.pausedBy === 'queued_bytes') {
      this.watch.reached('tcp_stalled', { client: this.client, queuedBytes: this.socket.writableLength });
    }
    this.socket.destroy();
  }
}
