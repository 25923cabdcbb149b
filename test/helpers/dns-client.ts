// A small DNS client for tests: real sockets on loopback, dns-packet to encode and decode.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export type Proto = 'udp' | 'tcp';

export interface AskOptions {
  id?: number;
  /** EDNS UDP size; omit for a plain query. */
  edns?: number;
  timeoutMs?: number;
  host?: string;
  /** The client's own address (e.g. 127.0.0.2 on loopback), to be seen as another client. */
  localAddress?: string;
}

export function encodeQuery(name: string, type: string, opts: AskOptions = {}): Buffer {
  const packet: dnsPacket.Packet = {
    type: 'query',
    id: opts.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
  };
  if (opts.edns !== undefined)
    packet.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns } as never];
  return dnsPacket.encode(packet);
}

export function sendUdp(port: number, msg: Buffer, opts: AskOptions = {}): Promise<Buffer> {
  const host = opts.host ?? '127.0.0.1';
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer from ${host}:${port} within ${opts.timeoutMs ?? 3000} ms`));
    }, opts.timeoutMs ?? 3000);
    socket.on('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    const send = () => socket.send(msg, port, host);
    if (opts.localAddress === undefined) send();
    else socket.bind(0, opts.localAddress, send);
  });
}

/** Sends each message framed on one TCP connection and collects as many replies (pipelining). */
/** A message with its 2-byte TCP length prefix (RFC 1035 §4.2.2). */
export function framed(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/** A TCP connection that has asked for `name` once, read its answer, and then stays open and idle. */
export async function idleTcpConnection(port: number, name: string, id: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('data', () => resolve());
    s.once('close', () => reject(new Error(`connection ${id} closed before its answer`)));
    s.write(framed(encodeQuery(name, 'A', { id })));
  });
  return s;
}

export function sendTcp(port: number, msgs: Buffer[], opts: AskOptions = {}): Promise<Buffer[]> {
  const host = opts.host ?? '127.0.0.1';
  return new Promise<Buffer[]>((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress: opts.localAddress });
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`only ${replies.length}/${msgs.length} TCP answers within ${opts.timeoutMs ?? 3000} ms`),
      );
    }, opts.timeoutMs ?? 3000);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => {
      for (const m of msgs) socket.write(framed(m));
    });
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const len = pending.readUInt16BE(0);
        replies.push(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
      }
      if (replies.length === msgs.length) {
        clearTimeout(timer);
        socket.end();
        resolve(replies);
      }
    });
  });
}

export async function ask(
  proto: Proto,
  port: number,
  name: string,
  type: string,
  opts: AskOptions = {},
): Promise<dnsPacket.Packet & { raw: Buffer }> {
  const msg = encodeQuery(name, type, opts);
  const raw = proto === 'udp' ? await sendUdp(port, msg, opts) : (await sendTcp(port, [msg], opts))[0];
  return { ...dnsPacket.decode(raw), raw };
}

export function rcodeOf(raw: Buffer): number {
  return raw.readUInt16BE(2) & 0xf;
}

/** The answer section as "type data" strings, in order. */
export function answersOf(p: dnsPacket.Packet): string[] {
  return (p.answers ?? []).map((a) => `${a.name} ${a.type} ${'data' in a ? String(a.data) : ''}`);
}
