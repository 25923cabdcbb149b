// The forwarder against real dnsmasq instances and hand-made upstreams on loopback.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { type Query, readQuery } from '../../src/dns/index.js';
import { Forwarder, type ForwarderOptions, type UpstreamServer } from '../../src/upstream/index.js';
import {
  DNSMASQ_MISSING,
  type Dnsmasq,
  dnsmasqPath,
  freePort,
  randomLoopback,
  startDnsmasq,
} from '../helpers/dnsmasq.js';

const NOERROR = 0;
const SERVFAIL = 2;
const NXDOMAIN = 3;
const TXT_STRING = 'x'.repeat(200);
const TRANSPORTS = [
  { name: 'UDP', tcp: false },
  { name: 'TCP', tcp: true },
] as const;

function makeQuery(
  name: string,
  type: 'A' | 'AAAA' | 'TXT',
  opts: { id?: number; edns?: boolean } = {},
): { buf: Buffer; q: Query } {
  const buf = dnsPacket.encode({
    type: 'query',
    id: opts.id ?? 0xbeef,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: opts.edns
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: 1232,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ]
      : [],
  });
  const q = readQuery(buf);
  if (typeof q === 'string') throw new Error(`test query for ${name} is not readable: ${q}`);
  return { buf, q };
}

function rcodeOf(resp: Buffer): number {
  return resp[3] & 0x0f;
}

function addresses(resp: Buffer): string[] {
  const out: string[] = [];
  for (const a of dnsPacket.decode(resp).answers ?? []) {
    if (a.type === 'A' || a.type === 'AAAA') out.push(a.data);
  }
  return out;
}

function serverOf(d: Dnsmasq): UpstreamServer {
  return { host: d.address, port: d.port };
}

/** A loopback address and port with nothing listening: UDP gets ICMP port unreachable, TCP a RST. */
async function deadServer(): Promise<UpstreamServer> {
  const host = randomLoopback();
  return { host, port: await freePort(host) };
}

/** A UDP socket that reads queries and never answers. */
async function silentServer(): Promise<{ server: UpstreamServer; socket: Socket }> {
  const socket = createSocket('udp4');
  const host = randomLoopback();
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  return { server: { host, port: socket.address().port }, socket };
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

async function forwarder(opts: ForwarderOptions, use: (f: Forwarder) => Promise<void>): Promise<void> {
  const f = new Forwarder(opts);
  try {
    await use(f);
  } finally {
    await f.close();
  }
}

const skip = dnsmasqPath() ? false : DNSMASQ_MISSING;

describe('Forwarder with dnsmasq', { skip }, () => {
  let alpha: Dnsmasq;
  let beta: Dnsmasq;
  let other: Dnsmasq;

  before(async () => {
    const big = Array.from({ length: 6 }, () => TXT_STRING).join(',');
    [alpha, beta, other] = await Promise.all([
      startDnsmasq({
        hosts: { 'foo.test': ['10.1.0.1'], 'rr.test': ['10.2.0.1'], 'v6.test': ['2001:db8::1'] },
        records: [`txt-record=big.test,${big}`],
      }),
      startDnsmasq({ hosts: { 'rr.test': ['10.2.0.2'] } }),
      // Knows only "other": names under "test" get REFUSED (no upstream), which is a failover case.
      startDnsmasq({ domain: 'other', hosts: { 'x.other': ['10.3.0.1'] } }),
    ]);
  });

  after(async () => {
    await Promise.all([alpha?.stop(), beta?.stop(), other?.stop()]);
  });

  for (const { name, tcp } of TRANSPORTS) {
    const cases = [
      { qname: 'FoO.TeSt', qtype: 'A', rcode: NOERROR, answers: ['10.1.0.1'] },
      { qname: 'v6.test', qtype: 'AAAA', rcode: NOERROR, answers: ['2001:db8::1'] },
      { qname: 'nope.test', qtype: 'A', rcode: NXDOMAIN, answers: [] },
    ] as const;
    for (const c of cases) {
      test(`${name}: ${c.qname} ${c.qtype} → ${c.rcode}, client ID and question bytes`, async () => {
        await forwarder({ servers: [serverOf(alpha)], timeoutMs: 2000 }, async (f) => {
          const { buf, q } = makeQuery(c.qname, c.qtype, { id: 0x1234 });
          const resp = await f.forward(buf, q, { tcp });
          assert.ok(resp, 'an answer');
          assert.equal(resp.readUInt16BE(0), 0x1234);
          assert.ok(resp.subarray(12, q.qEnd).equals(buf.subarray(12, q.qEnd)), 'question bytes, case kept');
          assert.equal(rcodeOf(resp), c.rcode);
          assert.deepEqual(addresses(resp), c.answers);
        });
      });
    }

    test(`${name}: EDNS OPT passes through both ways`, async () => {
      await forwarder({ servers: [serverOf(alpha)], timeoutMs: 2000 }, async (f) => {
        const withOpt = makeQuery('foo.test', 'A', { edns: true });
        const resp = await f.forward(withOpt.buf, withOpt.q, { tcp });
        assert.ok(resp);
        const opt = dnsPacket.decode(resp).additionals?.find((a) => a.type === 'OPT');
        assert.ok(opt, 'an OPT record in the answer');

        const plain = makeQuery('foo.test', 'A');
        const resp2 = await f.forward(plain.buf, plain.q, { tcp });
        assert.ok(resp2);
        assert.equal(dnsPacket.decode(resp2).additionals?.length ?? 0, 0, 'no OPT without one in the query');
      });
    });

    test(`${name}: a big TXT answer (> 512 bytes) comes back whole`, async () => {
      await forwarder({ servers: [serverOf(alpha)], timeoutMs: 3000 }, async (f) => {
        const { buf, q } = makeQuery('big.test', 'TXT');
        const resp = await f.forward(buf, q, { tcp });
        assert.ok(resp);
        assert.ok(resp.length > 512, `${resp.length} bytes`);
        const decoded = dnsPacket.decode(resp);
        assert.equal(decoded.flag_tc, false);
        const txt = decoded.answers?.[0];
        assert.equal(txt?.type, 'TXT');
        assert.equal((txt.data as Buffer[]).length, 6);
        // Over UDP dnsmasq answers TC without EDNS: the same server is asked again over TCP.
        assert.equal(f.stats().servers[0].queries, tcp ? 1 : 2);
      });
    });

    test(`${name}: failover from a dead server`, async () => {
      const dead = await deadServer();
      await forwarder({ servers: [dead, serverOf(alpha)], timeoutMs: 3000, rotate: false }, async (f) => {
        const { buf, q } = makeQuery('foo.test', 'A');
        const started = Date.now();
        const resp = await f.forward(buf, q, { tcp });
        assert.ok(resp);
        assert.deepEqual(addresses(resp), ['10.1.0.1']);
        // ECONNREFUSED (ICMP on a connected UDP socket, RST on TCP) fails over without waiting.
        assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
        const [first, second] = f.stats().servers;
        assert.deepEqual([first.queries, first.failures, first.lastLatencyMs], [1, 1, null]);
        assert.deepEqual([second.queries, second.failures], [1, 0]);
        assert.ok(second.lastLatencyMs !== null && second.lastLatencyMs >= 0);
      });
    });

    test(`${name}: failover on REFUSED`, async () => {
      await forwarder(
        { servers: [serverOf(alpha), serverOf(other)], timeoutMs: 2000, rotate: false },
        async (f) => {
          const { buf, q } = makeQuery('x.other', 'A');
          const resp = await f.forward(buf, q, { tcp });
          assert.ok(resp);
          assert.deepEqual(addresses(resp), ['10.3.0.1']);
          assert.equal(f.stats().servers[0].failures, 1);
        },
      );
    });
  }

  test('UDP: failover from a server that never answers', async () => {
    const silent = await silentServer();
    try {
      await forwarder(
        { servers: [silent.server, serverOf(alpha)], timeoutMs: 2000, rotate: false },
        async (f) => {
          const { buf, q } = makeQuery('foo.test', 'A');
          const resp = await f.forward(buf, q);
          assert.ok(resp);
          assert.deepEqual(addresses(resp), ['10.1.0.1']);
          assert.equal(f.stats().servers[0].failures, 1);
        },
      );
    } finally {
      await closeSocket(silent.socket);
    }
  });

  for (const { name, tcp } of TRANSPORTS) {
    test(`${name}: an IPv6 upstream on [::1]`, async (t) => {
      let v6: Dnsmasq;
      try {
        v6 = await startDnsmasq({ address: '::1', hosts: { 'six.test': ['10.6.0.1'] } });
      } catch (err) {
        t.skip(`no dnsmasq on ::1 here: ${(err as Error).message.split('\n')[0]}`);
        return;
      }
      try {
        await forwarder({ servers: [serverOf(v6)], timeoutMs: 2000 }, async (f) => {
          const { buf, q } = makeQuery('six.test', 'A');
          const resp = await f.forward(buf, q, { tcp });
          assert.ok(resp);
          assert.deepEqual(addresses(resp), ['10.6.0.1']);
          assert.equal(f.stats().servers[0].server, `[::1]:${v6.port}`);
        });
      } finally {
        await v6.stop();
      }
    });
  }

  test('rotation: successive forwards start at the next server', async () => {
    await forwarder({ servers: [serverOf(alpha), serverOf(beta)], timeoutMs: 2000 }, async (f) => {
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { buf, q } = makeQuery('rr.test', 'A');
        const resp = await f.forward(buf, q);
        assert.ok(resp);
        seen.push(...addresses(resp));
      }
      assert.deepEqual(seen, ['10.2.0.1', '10.2.0.2', '10.2.0.1', '10.2.0.2']);
    });
  });

  test('query() builds a recursive query for a name', async () => {
    await forwarder({ servers: [serverOf(alpha)], timeoutMs: 2000 }, async (f) => {
      const resp = await f.query('Foo.Test.', 1);
      assert.ok(resp);
      const decoded = dnsPacket.decode(resp);
      assert.equal(decoded.flag_rd, true);
      assert.equal(decoded.questions?.[0].name, 'foo.test');
      assert.deepEqual(addresses(resp), ['10.1.0.1']);
      const missing = await f.query('missing.test', 28);
      assert.ok(missing);
      assert.equal(rcodeOf(missing), NXDOMAIN);
    });
  });
});

describe('Forwarder without a working upstream', () => {
  test('all servers down → null within the budget', async () => {
    const silent = await silentServer();
    const dead = await deadServer();
    try {
      await forwarder({ servers: [dead, silent.server], timeoutMs: 600 }, async (f) => {
        const { buf, q } = makeQuery('foo.test', 'A');
        const started = Date.now();
        const resp = await f.forward(buf, q);
        const took = Date.now() - started;
        assert.equal(resp, null);
        assert.ok(took >= 400 && took < 2000, `took ${took} ms`);
        const stats = f.stats();
        assert.equal(stats.servers[0].failures + stats.servers[1].failures, 4, 'two attempts per server');
        assert.equal(stats.inFlight, 0);
      });
    } finally {
      await closeSocket(silent.socket);
    }
  });

  test('SERVFAIL from every server → null', async () => {
    const fake = await fakeUpstream((query, reply) => {
      const resp = Buffer.from(query);
      resp.writeUInt16BE(0x8000 | 0x0100 | SERVFAIL, 2);
      reply(resp);
    });
    try {
      await forwarder({ servers: [fake.server], timeoutMs: 1000, attempts: 2 }, async (f) => {
        const { buf, q } = makeQuery('foo.test', 'A');
        assert.equal(await f.forward(buf, q), null);
        assert.deepEqual([f.stats().servers[0].queries, f.stats().servers[0].failures], [2, 2]);
      });
    } finally {
      await closeSocket(fake.socket);
    }
  });

  test('anti-spoofing: only the reply from the server, with our ID and question, is accepted', async () => {
    const sent: Array<{ query: Buffer; port: number }> = [];
    const stranger = createSocket('udp4');
    const fake = await fakeUpstream((query, reply, rinfo) => {
      sent.push({ query, port: rinfo.port });
      const answer = (mutate: (resp: Buffer) => Buffer): Buffer => {
        const resp = Buffer.from(query);
        resp.writeUInt16BE(0x8000 | 0x0100, 2);
        return mutate(resp);
      };
      const good = answer((r) => r);
      const wrongId = answer((r) => {
        r.writeUInt16BE(r.readUInt16BE(0) ^ 0x5a5a, 0);
        return r;
      });
      const notAResponse = answer((r) => {
        r.writeUInt16BE(0x0100, 2);
        return r;
      });
      const wrongQuestion = answer((r) => {
        r[13] = 'g'.charCodeAt(0); // foo.test → goo.test
        return r;
      });
      reply(wrongId);
      // From another port of the server's host: the connected socket never sees it.
      stranger.send(
        answer((r) => r),
        rinfo.port,
        rinfo.address,
      );
      reply(wrongQuestion);
      reply(notAResponse);
      setTimeout(() => reply(good), 50);
    });
    // Same host as the server, another port.
    await new Promise<void>((resolve) => stranger.bind(0, fake.server.host, () => resolve()));
    try {
      await forwarder({ servers: [fake.server], timeoutMs: 2000, random: () => 0.5 }, async (f) => {
        const { buf, q } = makeQuery('foo.test', 'A', { id: 0x0101 });
        const resp = await f.forward(buf, q);
        assert.ok(resp);
        assert.equal(resp.readUInt16BE(0), 0x0101);
        assert.equal(rcodeOf(resp), NOERROR);
        assert.equal(f.stats().rejected, 3);
        // Upstream saw our random ID (0.5 → 0x8000) and otherwise the client's bytes unchanged.
        assert.equal(sent[0].query.readUInt16BE(0), 0x8000);
        assert.ok(sent[0].query.subarray(2).equals(buf.subarray(2)));

        const again = makeQuery('foo.test', 'A');
        assert.ok(await f.forward(again.buf, again.q));
        assert.notEqual(sent[1].port, sent[0].port, 'a fresh source port per query');
      });
    } finally {
      await Promise.all([closeSocket(fake.socket), closeSocket(stranger)]);
    }
  });

  test('maxInFlight: past it forward() resolves null at once; close() cancels the rest', async () => {
    const silent = await silentServer();
    try {
      const f = new Forwarder({ servers: [silent.server], timeoutMs: 10_000, maxInFlight: 1 });
      const { buf, q } = makeQuery('foo.test', 'A');
      const pending = f.forward(buf, q);
      assert.equal(await f.forward(buf, q), null);
      assert.equal(f.stats().overflows, 1);
      assert.equal(f.stats().inFlight, 1);
      const started = Date.now();
      await f.close();
      assert.equal(await pending, null);
      assert.ok(Date.now() - started < 1000);
      assert.equal(await f.forward(buf, q), null, 'closed');
    } finally {
      await closeSocket(silent.socket);
    }
    // No socket or timer of the forwarder is left behind (handles are released in the loop's close phase).
    await new Promise((resolve) => setTimeout(resolve, 20));
    const leftovers = process.getActiveResourcesInfo().filter((r) => /UDP|TCP|Timeout/.test(r));
    assert.deepEqual(leftovers, []);
  });

  test('close() cancels TCP exchanges too', async () => {
    const { createServer } = await import('node:net');
    const host = randomLoopback();
    const held: import('node:net').Socket[] = [];
    const server = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
    const address = server.address() as import('node:net').AddressInfo;
    try {
      const f = new Forwarder({ servers: [{ host, port: address.port }], timeoutMs: 10_000 });
      const { buf, q } = makeQuery('foo.test', 'A');
      const pending = f.forward(buf, q, { tcp: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await f.close();
      assert.equal(await pending, null);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('no servers is a MESHDNS_UPSTREAM error', () => {
    assert.throws(() => new Forwarder({ servers: [] }), { code: 'MESHDNS_UPSTREAM' });
  });
});

/** A UDP upstream whose replies the test writes; `reply` sends from the server's own address and port. */
async function fakeUpstream(
  onQuery: (query: Buffer, reply: (msg: Buffer) => void, rinfo: { address: string; port: number }) => void,
): Promise<{ server: UpstreamServer; socket: Socket }> {
  const socket = createSocket('udp4');
  const host = randomLoopback();
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  socket.on('message', (msg, rinfo) => {
    onQuery(msg, (reply) => socket.send(reply, rinfo.port, rinfo.address), rinfo);
  });
  return { server: { host, port: socket.address().port }, socket };
}
