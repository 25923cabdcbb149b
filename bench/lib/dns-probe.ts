// One-off UDP queries to check a server is up and answers what we expect, before measuring it.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { BenchProcess } from './processes.js';

export interface ProbeAnswer {
  rcode: string;
  authoritative: boolean;
  addresses: string[];
}

export interface ServerAddress {
  host: string;
  port: number;
}

const POLL_INTERVAL_MS = 100;

/** RFC 1035 §4.1.1 and RFC 2136 §2.2 names of the header's 4-bit RCODE. */
const RCODES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];

export function queryA(server: ServerAddress, name: string, timeoutMs = 1000): Promise<ProbeAnswer> {
  const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
  const id = Math.floor(Math.random() * 0xffff);
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'A', class: 'IN' }],
  });
  return new Promise<ProbeAnswer>((resolve, reject) => {
    const done = (err: Error | undefined, answer?: ProbeAnswer) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(
      () =>
        done(new Error(`no answer from ${server.host}:${server.port} for ${name} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('error', (err) => done(err));
    socket.on('message', (raw) => {
      const reply = dnsPacket.decode(raw);
      if (reply.id !== id) return;
      done(undefined, {
        rcode: RCODES[raw[3] & 0x0f] ?? `RCODE${raw[3] & 0x0f}`,
        authoritative: ((reply.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
        addresses: (reply.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])),
      });
    });
    socket.send(query, server.port, server.host);
  });
}

/** Polls until `name` resolves, the process exits, or the deadline passes. */
export async function waitUntilAnswering(
  server: ServerAddress,
  name: string,
  proc: BenchProcess,
  deadlineMs: number,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last = 'no query sent';
  while (Date.now() < until) {
    if (!proc.running) {
      throw new Error(`${proc.label} exited before answering (code ${await proc.exited}):\n${proc.stderr}`);
    }
    try {
      const answer = await queryA(server, name, 250);
      if (answer.addresses.length > 0) return;
      last = `answered ${answer.rcode} with no address`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  throw new Error(
    `${proc.label} did not answer ${name} within ${deadlineMs} ms (last: ${last})\n${proc.stderr}`,
  );
}

export interface ExpectedAnswer {
  name: string;
  address: string;
}

/** Asks for each name and lists every answer that is not exactly the expected address. */
export async function checkAnswers(
  server: ServerAddress,
  expected: readonly ExpectedAnswer[],
  opts: { authoritative?: boolean } = {},
): Promise<string[]> {
  const problems: string[] = [];
  for (const e of expected) {
    const got = await queryA(server, e.name).catch((err: Error) => ({ error: err.message }));
    if ('error' in got) problems.push(`${e.name}: ${got.error}`);
    else if (got.rcode !== 'NOERROR' || got.addresses.join(',') !== e.address) {
      problems.push(`${e.name}: ${got.rcode} [${got.addresses.join(', ')}], expected NOERROR [${e.address}]`);
    } else if (opts.authoritative && !got.authoritative)
      problems.push(`${e.name}: answer is not authoritative`);
  }
  return problems;
}
