// A scripted DNS server on loopback UDP for component tests: answers from a function, counts queries.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

export type StubScript = (q: dnsPacket.Question) => Partial<dnsPacket.Packet> | 'drop';

export interface StubDns {
  host: string;
  port: number;
  queries: dnsPacket.Question[];
  close(): Promise<void>;
}

export async function startStubDns(script: StubScript, host = '127.0.0.1'): Promise<StubDns> {
  const socket = dgram.createSocket('udp4');
  const queries: dnsPacket.Question[] = [];
  socket.on('message', (msg, rinfo) => {
    const asked = dnsPacket.decode(msg);
    const question = asked.questions?.[0];
    if (!question) return;
    queries.push(question);
    const reply = script(question);
    if (reply === 'drop') return;
    const out = dnsPacket.encode({
      type: 'response',
      id: asked.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: asked.questions,
      ...reply,
    });
    socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  return {
    host,
    port: socket.address().port,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
