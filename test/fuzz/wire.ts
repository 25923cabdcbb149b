// The wire fuzzer (issue 11 item 1): sends well-formed queries bent by structure-aware mutations, and
// random bytes, to a running DNS server over UDP and TCP. The properties: every reply parses and
// carries the ID of a message that was sent, and after every `goodEvery` bad messages a good query is
// answered correctly. The caller watches the process (alive, not stalled: the good query's deadline).
import { createSocket } from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { encodeQuery, MUTATION_NAMES, MUTATIONS, picker, querySpec } from './messages.js';

export interface WireFuzzOptions {
  host: string;
  port: number;
  /** Bad messages to send in all. */
  packets: number;
  /** Stop after this long even if fewer were sent. */
  seconds: number;
  seed: number;
  /** A name the server answers itself, and the address it must answer. */
  good: { name: string; address: string };
  /** A good query after every this many bad messages (default 1,000). */
  goodEvery?: number;
  /** Every this many batches goes over TCP (default 4: one in four). */
  tcpEvery?: number;
}

export interface WireFuzzReport {
  sent: number;
  sentTcp: number;
  replies: number;
  /** Replies that do not parse, or carry an ID no sent message had. */
  badReplies: string[];
  goodAsked: number;
  /** Good queries not answered with the right address within the deadline. */
  goodFailed: string[];
  byMutation: Record<string, number>;
  seconds: number;
}

const BATCH = 100;
const GOOD_DEADLINE_MS = 2000;

export async function runWireFuzz(opts: WireFuzzOptions): Promise<WireFuzzReport> {
  const goodEvery = opts.goodEvery ?? 1000;
  const tcpEvery = opts.tcpEvery ?? 4;
  const pick = picker(opts.seed);
  const specs = fc.sample(querySpec, { numRuns: 500, seed: opts.seed });
  const report: WireFuzzReport = {
    sent: 0,
    sentTcp: 0,
    replies: 0,
    badReplies: [],
    goodAsked: 0,
    goodFailed: [],
    byMutation: {},
    seconds: 0,
  };
  /** IDs of messages sent and not yet answered (a message of under 2 bytes has none). */
  const outstanding = new Map<number, number>();
  const check = (reply: Buffer): void => {
    report.replies++;
    let id: number;
    try {
      id = dnsPacket.decode(reply).id ?? -1;
    } catch (e) {
      if (report.badReplies.length < 20) report.badReplies.push(`unparseable: ${(e as Error).message}`);
      return;
    }
    const n = outstanding.get(id) ?? 0;
    if (n === 0) {
      if (report.badReplies.length < 20) report.badReplies.push(`ID ${id} was not sent`);
      return;
    }
    if (n === 1) outstanding.delete(id);
    else outstanding.set(id, n - 1);
  };
  const note = (msg: Buffer): void => {
    if (msg.length >= 2)
      outstanding.set(msg.readUInt16BE(0), (outstanding.get(msg.readUInt16BE(0)) ?? 0) + 1);
  };
  const nextBad = (): Buffer => {
    const spec = specs[pick(specs.length)]!;
    const name = MUTATION_NAMES[pick(MUTATION_NAMES.length)]!;
    report.byMutation[name] = (report.byMutation[name] ?? 0) + 1;
    return MUTATIONS[name]!(encodeQuery(spec), pick);
  };

  const udp = createSocket(opts.host.includes(':') ? 'udp6' : 'udp4');
  udp.on('message', check);
  await new Promise<void>((resolve) => udp.bind(0, resolve));
  const started = Date.now();
  const end = started + opts.seconds * 1000;
  let sinceGood = 0;
  try {
    for (let batch = 0; report.sent < opts.packets && Date.now() < end; batch++) {
      const msgs = Array.from({ length: Math.min(BATCH, opts.packets - report.sent) }, nextBad);
      for (const m of msgs) note(m);
      if (batch % tcpEvery === tcpEvery - 1) {
        await sendTcp(opts, msgs, check);
        report.sentTcp += msgs.length;
      } else {
        for (const m of msgs) udp.send(m, opts.port, opts.host);
        // Let the replies come back before the next batch: the fuzzer must not measure its own overflow.
        await new Promise((r) => setImmediate(r));
      }
      report.sent += msgs.length;
      sinceGood += msgs.length;
      if (sinceGood >= goodEvery || report.sent >= opts.packets) {
        sinceGood = 0;
        report.goodAsked++;
        const failure = await askGood(opts);
        if (failure !== undefined) report.goodFailed.push(`after ${report.sent} packets: ${failure}`);
      }
    }
  } finally {
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/** One good query on its own socket: undefined when answered with the right address in time. */
async function askGood(opts: WireFuzzOptions): Promise<string | undefined> {
  const socket = createSocket(opts.host.includes(':') ? 'udp6' : 'udp4');
  const id = 0x4242;
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name: opts.good.name }],
  });
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(`no answer within ${GOOD_DEADLINE_MS} ms`), GOOD_DEADLINE_MS);
      socket.on('message', (reply) => {
        const p = dnsPacket.decode(reply);
        if (p.id !== id) return;
        clearTimeout(timer);
        const got = (p.answers ?? []).map((a) => String((a as { data: unknown }).data));
        resolve(
          got.includes(opts.good.address) ? undefined : `answered rcode ${reply[3]! & 0xf}: ${got.join(',')}`,
        );
      });
      socket.send(query, opts.port, opts.host);
    });
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** A batch over one TCP connection, each message framed; replies are read until the server goes quiet. */
function sendTcp(opts: WireFuzzOptions, msgs: Buffer[], check: (reply: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: opts.host, port: opts.port });
    let pending = Buffer.alloc(0);
    let quiet: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(quiet);
      socket.destroy();
      resolve();
    };
    const arm = (): void => {
      clearTimeout(quiet);
      quiet = setTimeout(done, 200);
    };
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => {
      socket.write(
        Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]))),
      );
      arm();
    });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        check(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      arm();
    });
  });
}
