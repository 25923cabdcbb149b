// UDP listener. Datagrams that arrive in one turn of the event loop are answered as one batch:
// today each reply is its own send(); the batch is the seam where recvmmsg/sendmmsg go later.
import dgram from 'node:dgram';
import { isCheckedIPv6 } from '../dns/index.js';
import type { ClientAllowList } from './client-access.js';
import type { ServerLimits } from './limits.js';
import type { Pipeline } from './pipeline.js';

export interface Datagram {
  msg: Buffer;
  address: string;
  port: number;
}

export class UdpListener {
  private socket: dgram.Socket | undefined;
  private batch: Datagram[] = [];
  private scheduled = false;
  private readonly pipeline: Pipeline;
  private readonly allow: ClientAllowList | undefined;
  private readonly watch: ServerLimits | undefined;

  /** Without an allow list every client is answered; with one, the others get REFUSED (SPEC §10). */
  constructor(pipeline: Pipeline, allow?: ClientAllowList, watch?: ServerLimits) {
    this.pipeline = pipeline;
    this.allow = allow;
    this.watch = watch;
  }

  async start(host: string, port: number): Promise<number> {
    const socket = dgram.createSocket({
      type: isCheckedIPv6(host) ? 'udp6' : 'udp4',
      recvBufferSize: 4 << 20,
    });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A send error (e.g. ICMP unreachable surfacing) must not take the listener down.
    socket.on('error', () => {});
    socket.on('message', (msg, rinfo) => this.receive({ msg, address: rinfo.address, port: rinfo.port }));
    return socket.address().port;
  }

  private receive(d: Datagram): void {
    this.batch.push(d);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    this.scheduled = false;
    this.answerBatch(batch);
  }

  /** Answers a batch: synchronous answers go out now, the others when they resolve. */
  answerBatch(batch: Datagram[]): void {
    for (const d of batch) {
      const out =
        this.allow === undefined || this.allow.allows(d.address)
          ? this.pipeline.answer(d.msg, 'udp')
          : this.refuse(d);
      if (out === null) continue;
      if (out instanceof Promise) {
        // The pipeline's promise never rejects; send() has nothing to throw once the socket is gone.
        void out.then((reply) => this.send(reply, d));
      } else {
        this.send(out, d);
      }
    }
  }

  private refuse(d: Datagram): Buffer | null {
    this.watch?.reached('allow_from', { client: `${d.address}:${d.port}`, protocol: 'udp' });
    return this.pipeline.refuse(d.msg, 'udp');
  }

  private send(reply: Buffer | null, d: Datagram): void {
    // Port 0 cannot be sent to (dgram throws ERR_SOCKET_BAD_PORT): a forged source, no one to answer.
    if (reply === null || this.socket === undefined || d.port === 0) return;
    this.socket.send(reply, d.port, d.address);
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
