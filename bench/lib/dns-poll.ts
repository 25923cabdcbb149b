// Fast UDP polling of one name: "when did this answer first show?" to a few milliseconds, and the
// longest silence of a server asked every millisecond. One socket each; replies matched by ID.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { ServerAddress } from './dns-probe.js';

export interface PolledReply {
  rcode: number;
  authoritative: boolean;
  addresses: string[];
}

const AA = 0x04;

function query(id: number, name: string): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'A', class: 'IN' }],
  });
}

function decode(raw: Buffer): PolledReply | undefined {
  try {
    const reply = dnsPacket.decode(raw);
    return {
      rcode: raw[3] & 0x0f,
      authoritative: (raw[2] & AA) !== 0,
      addresses: (reply.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])),
    };
  } catch {
    return undefined;
  }
}

/**
 * Asks `name` every `intervalMs` (not waiting for replies: a server that is not listening yet or is
 * stalled just leaves them unanswered) until a reply passes `accept`. Resolves with the
 * performance.now() of that reply, or undefined at `deadline` (a performance.now() time) or once
 * `alive()` says the server is gone.
 */
export function pollUntil(
  server: ServerAddress,
  name: string,
  accept: (r: PolledReply) => boolean,
  opts: { intervalMs: number; deadline: number; alive?: () => boolean },
): Promise<number | undefined> {
  const socket = dgram.createSocket('udp4');
  let id = Math.floor(Math.random() * 0xffff);
  const asked = new Set<number>();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (at: number | undefined) => {
      clearInterval(timer);
      socket.close();
      resolve(at);
    };
    // Refused (nothing listening yet) comes back as a socket error on Linux: keep asking.
    socket.on('error', () => {});
    socket.on('message', (raw) => {
      const at = performance.now();
      if (raw.length < 12 || !asked.has(raw.readUInt16BE(0))) return;
      const reply = decode(raw);
      if (reply && accept(reply)) done(at);
    });
    const ask = () => {
      if (performance.now() >= opts.deadline || opts.alive?.() === false) return done(undefined);
      id = (id + 1) & 0xffff;
      asked.add(id);
      socket.send(query(id, name), server.port, server.host);
    };
    timer = setInterval(ask, opts.intervalMs);
    ask();
  });
}

export interface StallReport {
  sent: number;
  answered: number;
  /** The longest time without a reply while the probe ran, in ms. */
  longestGapMs: number;
}

/**
 * Asks `name` every millisecond (as often as Node's timers go) and records when replies arrive: the
 * longest gap between two replies (or from start to the first, or the last to stop) is the longest
 * time a client went unanswered. Replies are counted by their header only, nothing decoded.
 */
export class StallProbe {
  private readonly socket = dgram.createSocket('udp4');
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private answered = 0;
  private last = 0;
  private longest = 0;
  private readonly queries: Buffer[];

  constructor(
    private readonly server: ServerAddress,
    name: string,
  ) {
    // 256 prepared queries with distinct IDs, sent in turn: no encoding on the probe's path.
    this.queries = Array.from({ length: 256 }, (_, i) => query(i, name));
    this.socket.on('error', () => {});
    this.socket.on('message', () => {
      const now = performance.now();
      this.answered++;
      this.longest = Math.max(this.longest, now - this.last);
      this.last = now;
    });
  }

  start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => {
      this.socket.send(this.queries[this.sent++ & 0xff], this.server.port, this.server.host);
    }, 1);
  }

  async stop(): Promise<StallReport> {
    clearInterval(this.timer);
    this.longest = Math.max(this.longest, performance.now() - this.last);
    const report = { sent: this.sent, answered: this.answered, longestGapMs: this.longest };
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
    return report;
  }
}
