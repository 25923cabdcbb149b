// Scripted DNS servers on loopback UDP for component tests (no system packages): one that answers
// from a function and counts queries, one whose raw replies the test writes, and an address with
// nothing listening.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { freePort, randomLoopback } from './ports.js';

/** Every framed query a TCP client sends on `socket` (RFC 1035 §4.2.2: a two-byte length first). */
export function eachFramedQuery(socket: net.Socket, onQuery: (query: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const query = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      buffered = buffered.subarray(2 + query.length);
      onQuery(query);
    }
  });
}

/** An A answer naming the question, so a reply can be told to belong to its query. */
export function answerFor(query: Buffer, data: string): Buffer {
  const q = dnsPacket.decode(query);
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: q.questions,
    answers: [{ name: q.questions![0]!.name, type: 'A', ttl: 60, data }],
  });
}

/** The first address a reply answers with. */
export const addressOf = (reply: Buffer) =>
  (dnsPacket.decode(reply).answers?.[0] as { data: string } | undefined)?.data;

export type StubScript = (q: dnsPacket.Question) => Partial<dnsPacket.Packet> | 'drop';

export interface StubDns {
  host: string;
  port: number;
  queries: dnsPacket.Question[];
  close(): Promise<void>;
}

export interface RawDns {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** `reply` sends from the server's own address and port; `from` is the asking socket. */
export type RawScript = (query: Buffer, reply: (msg: Buffer) => void, from: dgram.RemoteInfo) => void;

/** A UDP server whose replies `script` writes byte by byte (anti-spoofing, several replies, none). */
export async function startRawDns(script: RawScript, host = randomLoopback(), port = 0): Promise<RawDns> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    script(msg, (reply) => socket.send(reply, rinfo.port, rinfo.address), rinfo);
  });
  await new Promise<void>((resolve) => socket.bind(port, host, () => resolve()));
  return {
    host,
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

export async function startStubDns(script: StubScript, host = '127.0.0.1', port = 0): Promise<StubDns> {
  const queries: dnsPacket.Question[] = [];
  const raw = await startRawDns(
    (msg, reply) => {
      const asked = dnsPacket.decode(msg);
      const question = asked.questions?.[0];
      if (!question) return;
      queries.push(question);
      const answer = script(question);
      if (answer === 'drop') return;
      reply(
        dnsPacket.encode({
          type: 'response',
          id: asked.id,
          flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
          questions: asked.questions,
          ...answer,
        }),
      );
    },
    host,
    port,
  );
  return { ...raw, queries };
}

/**
 * `startStubDns` over UDP and TCP on one address and port (a TCP client's query goes upstream over TCP):
 * the same script answers both, and `queries` lists both in arrival order.
 */
export async function startStubDnsUdpTcp(script: StubScript, host = randomLoopback()): Promise<StubDns> {
  const udp = await startStubDns(script, host);
  const open = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    eachFramedQuery(socket, (query) => {
      const asked = dnsPacket.decode(query);
      const question = asked.questions?.[0];
      if (!question) return;
      udp.queries.push(question);
      const answer = script(question);
      if (answer === 'drop') return;
      const reply = dnsPacket.encode({
        type: 'response',
        id: asked.id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: asked.questions,
        ...answer,
      });
      socket.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(udp.port, host, () => resolve());
  });
  return {
    ...udp,
    close: async () => {
      for (const socket of open) socket.destroy();
      await Promise.all([udp.close(), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
    },
  };
}

/** A loopback address and port with nothing listening: UDP gets ICMP port unreachable, TCP a RST. */
export async function deadAddress(): Promise<{ host: string; port: number }> {
  const host = randomLoopback();
  return { host, port: await freePort(host) };
}
