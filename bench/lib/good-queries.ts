// A well-behaved client asking one name at a fixed pace over UDP and over TCP (a fresh connection per
// query, as a client retrying after TC does), timing every answer: what a flood leaves to good clients.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { ServerAddress } from './dns-probe.js';

export interface GoodQuery {
  /** performance.now() when asked. */
  at: number;
  protocol: 'udp' | 'tcp';
  /** Round trip in ms; undefined when unanswered or wrong. */
  ms: number | undefined;
  /** Why not answered right, if so. */
  problem?: string;
}

function queryFor(id: number, name: string): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'A', class: 'IN' }],
  });
}

function check(raw: Buffer, id: number, address: string): string | undefined {
  try {
    const msg = dnsPacket.decode(raw);
    if (msg.id !== id) return `id ${msg.id}, asked ${id}`;
    const got = (msg.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : []));
    return got.includes(address) ? undefined : `rcode ${raw[3] & 0x0f}, addresses [${got.join(', ')}]`;
  } catch (err) {
    return `unparsable: ${(err as Error).message}`;
  }
}

/**
 * One UDP query on a fresh socket: the reply carrying the query's ID, or why none came. A datagram with
 * another ID (a late reply to an earlier socket that had the same ephemeral port) is handed to `onStray`
 * and the wait goes on, as a stub resolver does.
 */
export function askUdp(
  server: ServerAddress,
  query: Buffer,
  timeoutMs: number,
  onStray?: (raw: Buffer) => void,
): Promise<Buffer | string> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    const done = (r: Buffer | string) => {
      clearTimeout(timer);
      socket.close();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.on('error', (err) => done(err.message));
    socket.on('message', (raw) => {
      if (raw.length >= 2 && raw.readUInt16BE(0) === query.readUInt16BE(0)) done(raw);
      else onStray?.(raw);
    });
    socket.send(query, server.port, server.host);
  });
}

export function askTcp(server: ServerAddress, query: Buffer, timeoutMs: number): Promise<Buffer | string> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const socket = net.connect({ host: server.host, port: server.port });
    const done = (r: Buffer | string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.on('error', (err) => done(err.message));
    socket.on('close', () => done('closed before the answer'));
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([0, query.length]), query])));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
        done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
  });
}

export class GoodQueries {
  readonly results: GoodQuery[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private id = 0;

  constructor(
    private readonly server: ServerAddress,
    private readonly name: string,
    private readonly address: string,
    private readonly timeoutMs = 2000,
  ) {}

  /** One query over each protocol every `intervalMs` (UDP and TCP interleaved). */
  start(intervalMs: number): void {
    const ask = (protocol: 'udp' | 'tcp') => {
      const p = this.askOne(protocol);
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    };
    this.timers.push(setInterval(() => ask('udp'), intervalMs));
    this.timers.push(
      setTimeout(() => this.timers.push(setInterval(() => ask('tcp'), intervalMs)), intervalMs / 2),
    );
  }

  private async askOne(protocol: 'udp' | 'tcp'): Promise<void> {
    this.id = (this.id + 1) & 0xffff;
    const id = this.id;
    const query = queryFor(id, this.name);
    const at = performance.now();
    const reply = await (protocol === 'udp' ? askUdp : askTcp)(this.server, query, this.timeoutMs);
    const ms = performance.now() - at;
    const problem = typeof reply === 'string' ? reply : check(reply, id, this.address);
    this.results.push({ at, protocol, ms: problem === undefined ? ms : undefined, problem });
  }

  /** Stops asking and waits for the queries in flight (each ends by its timeout at the latest). */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.all([...this.inFlight]);
  }
}

export interface LatencySummary {
  asked: number;
  answered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The first few problems, for the report. */
  problems: string[];
}

/** Nearest-rank percentiles of the answered queries of one protocol asked in [from, to). */
export function summarize(
  results: readonly GoodQuery[],
  protocol: 'udp' | 'tcp',
  from: number,
  to: number,
): LatencySummary {
  const rows = results.filter((r) => r.protocol === protocol && r.at >= from && r.at < to);
  const ms = rows.flatMap((r) => (r.ms === undefined ? [] : [r.ms])).sort((a, b) => a - b);
  const rank = (p: number) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)] ?? Number.NaN;
  return {
    asked: rows.length,
    answered: ms.length,
    p50Ms: rank(0.5),
    p99Ms: rank(0.99),
    maxMs: ms.at(-1) ?? Number.NaN,
    problems: [...new Set(rows.flatMap((r) => (r.problem ? [r.problem] : [])))].slice(0, 5),
  };
}
