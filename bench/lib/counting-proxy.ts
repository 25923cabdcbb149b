// A UDP proxy in front of an upstream that counts what reaches it: how many queries a workload
// costs the cluster's DNS, with or without meshdns in front. With `delayMs`, each query waits that long
// before it goes on: the cluster's DNS a network hop away rather than on loopback.
import dgram from 'node:dgram';
import type { ServerAddress } from './dns-probe.js';

export class CountingProxy {
  /** Each query that reached the upstream, as "name type". */
  readonly seen: string[] = [];
  private readonly front = dgram.createSocket('udp4');
  private readonly back = dgram.createSocket('udp4');
  private readonly pending = new Map<number, { id: number; port: number; host: string }>();
  private nextId = 1;

  constructor(
    private readonly listen: ServerAddress,
    private readonly upstream: ServerAddress,
    private readonly delayMs = 0,
  ) {}

  async start(): Promise<void> {
    this.front.on('message', (msg, rinfo) => this.forward(msg, rinfo));
    this.back.on('message', (msg) => this.reply(msg));
    await new Promise<void>((resolve) =>
      this.front.bind(this.listen.port, this.listen.host, () => resolve()),
    );
    await new Promise<void>((resolve) => this.back.bind(0, '127.0.0.1', () => resolve()));
  }

  reset(): void {
    this.seen.length = 0;
  }

  private forward(msg: Buffer, from: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    this.seen.push(describe(msg));
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff) + 1;
    this.pending.set(id, { id: msg.readUInt16BE(0), port: from.port, host: from.address });
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    const send = () => this.back.send(out, this.upstream.port, this.upstream.host);
    if (this.delayMs > 0) setTimeout(send, this.delayMs);
    else send();
  }

  private reply(msg: Buffer): void {
    if (msg.length < 12) return;
    const to = this.pending.get(msg.readUInt16BE(0));
    if (!to) return;
    this.pending.delete(msg.readUInt16BE(0));
    msg.writeUInt16BE(to.id, 0);
    this.front.send(msg, to.port, to.host);
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.front, this.back].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
  }
}

const TYPES: Record<number, string> = { 1: 'A', 28: 'AAAA', 5: 'CNAME', 33: 'SRV', 16: 'TXT' };

/** "name type" of a query, for the per-name summary. */
function describe(msg: Buffer): string {
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0 && msg[i] < 64) {
    labels.push(msg.toString('latin1', i + 1, i + 1 + msg[i]).toLowerCase());
    i += msg[i] + 1;
  }
  const type = i + 3 <= msg.length ? msg.readUInt16BE(i + 1) : 0;
  return `${labels.join('.')}. ${TYPES[type] ?? type}`;
}
