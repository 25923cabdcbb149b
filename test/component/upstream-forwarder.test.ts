// The forwarder against hand-made upstreams on loopback (no dnsmasq): anti-spoofing, the in-flight
// cap, close(), and the time budget when no server answers. The dnsmasq cases are in test/e2e.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Forwarder, replyOf } from '../../src/upstream/index.js';
import { rcodeOf } from '../helpers/dns-client.js';
import { forwardQuery, withForwarder } from '../helpers/forwarder.js';
import { randomLoopback } from '../helpers/ports.js';
import { deadAddress, startRawDns, startStubDns } from '../helpers/stub-dns.js';

const NOERROR = 0;
const SERVFAIL = 2;
const REFUSED = 5;

/** The query turned into a response (QR, RD) with the rcode given; question and ID unchanged. */
function replyTo(query: Buffer, rcode = NOERROR): Buffer {
  const resp = Buffer.from(query);
  resp.writeUInt16BE(0x8000 | 0x0100 | rcode, 2);
  return resp;
}

describe('Forwarder without a working upstream', () => {
  test('all servers down → timeout within the budget, two tries per server, each named', async () => {
    const silent = await startStubDns(() => 'drop', randomLoopback());
    const dead = await deadAddress();
    try {
      await withForwarder({ servers: [dead, silent], timeoutMs: 600 }, async (f) => {
        const { buf, q } = forwardQuery('foo.test', 'A');
        const started = Date.now();
        const resp = await f.forward(buf, q);
        const took = Date.now() - started;
        assert.equal(resp.kind, 'timeout');
        assert.ok(!('reply' in resp));
        // Every try is named with its server and what it ended with.
        assert.match(resp.detail, new RegExp(`${dead.host}:${dead.port} ECONNREFUSED`));
        assert.match(resp.detail, new RegExp(`${silent.host}:${silent.port} timeout`));
        // The silent server holds each try until its share of the budget runs out; the budget bounds all.
        assert.ok(took >= 400 && took < 2000, `took ${took} ms`);
        const stats = f.stats();
        assert.deepEqual(
          stats.servers.map((s) => [s.queries, s.failures]),
          [
            [2, 2],
            [2, 2],
          ],
          'two attempts per server, each a failure',
        );
        assert.equal(silent.queries.length, 2, 'the silent server was asked twice');
        assert.equal(stats.inFlight, 0);
      });
    } finally {
      await silent.close();
    }
  });

  test('a dead server → refused at once, not a timeout', async () => {
    const dead = await deadAddress();
    await withForwarder({ servers: [dead], timeoutMs: 5000, attempts: 2 }, async (f) => {
      const { buf, q } = forwardQuery('foo.test', 'A');
      const started = Date.now();
      const resp = await f.forward(buf, q);
      assert.equal(resp.kind, 'refused');
      assert.ok(Date.now() - started < 2500, 'ICMP port unreachable ends each try, not the budget');
    });
  });

  test('SERVFAIL from every server → failed; REFUSED → refused', async () => {
    const fake = await startRawDns((query, reply) => reply(replyTo(query, SERVFAIL)));
    const refusing = await startRawDns((query, reply) => reply(replyTo(query, REFUSED)));
    try {
      await withForwarder({ servers: [fake], timeoutMs: 1000, attempts: 2 }, async (f) => {
        const { buf, q } = forwardQuery('foo.test', 'A');
        const resp = await f.forward(buf, q);
        assert.equal(resp.kind, 'failed');
        assert.match(resp.kind === 'failed' ? resp.detail : '', /rcode SERVFAIL/);
        assert.deepEqual([f.stats().servers[0]!.queries, f.stats().servers[0]!.failures], [2, 2]);
      });
      await withForwarder({ servers: [refusing], timeoutMs: 1000, attempts: 1 }, async (f) => {
        const { buf, q } = forwardQuery('foo.test', 'A');
        assert.equal((await f.forward(buf, q)).kind, 'refused');
      });
    } finally {
      await Promise.all([fake.close(), refusing.close()]);
    }
  });

  test('only replies that do not answer the query → rejected, each counted', async () => {
    const fake = await startRawDns((query, reply) => {
      const wrongId = replyTo(query);
      wrongId.writeUInt16BE(wrongId.readUInt16BE(0) ^ 0x5a5a, 0);
      reply(wrongId);
    });
    try {
      await withForwarder({ servers: [fake], timeoutMs: 400, attempts: 1 }, async (f) => {
        const { buf, q } = forwardQuery('foo.test', 'A');
        const resp = await f.forward(buf, q);
        assert.equal(resp.kind, 'rejected');
        assert.equal(f.stats().rejected.id, 1);
      });
    } finally {
      await fake.close();
    }
  });

  test('anti-spoofing: only the reply from the server, with our ID and question, is accepted', async () => {
    const sent: Array<{ query: Buffer; port: number }> = [];
    const stranger = createSocket('udp4');
    const fake = await startRawDns((query, reply, rinfo) => {
      sent.push({ query, port: rinfo.port });
      const wrongId = replyTo(query);
      wrongId.writeUInt16BE(wrongId.readUInt16BE(0) ^ 0x5a5a, 0);
      const notAResponse = Buffer.from(query);
      notAResponse.writeUInt16BE(0x0100, 2);
      const wrongQuestion = replyTo(query);
      wrongQuestion[13] = 'g'.charCodeAt(0); // foo.test → goo.test
      reply(wrongId);
      // From another port of the server's host: the connected socket never sees it.
      stranger.send(replyTo(query), rinfo.port, rinfo.address);
      reply(wrongQuestion);
      reply(notAResponse);
      // After the three bad replies (one socket, so in order): the forwarder must still be waiting.
      reply(replyTo(query));
    });
    // Same host as the server, another port.
    await new Promise<void>((resolve) => stranger.bind(0, fake.host, () => resolve()));
    try {
      await withForwarder({ servers: [fake], timeoutMs: 2000, random: () => 0.5 }, async (f) => {
        const { buf, q } = forwardQuery('foo.test', 'A', { id: 0x0101 });
        const result = await f.forward(buf, q);
        assert.equal(result.kind, 'answered');
        const resp = replyOf(result)!;
        assert.equal(resp.readUInt16BE(0), 0x0101);
        assert.equal(rcodeOf(resp), NOERROR);
        assert.equal(result.kind === 'answered' && result.server, `${fake.host}:${fake.port}`);
        // Each dropped reply is counted by the check it failed; the stranger's never reaches the
        // connected socket (the kernel filters it), so it is not counted at all.
        assert.deepEqual(f.stats().rejected, { source: 0, short: 0, id: 1, 'not-response': 1, question: 1 });
        assert.deepEqual([f.stats().servers[0]!.queries, f.stats().servers[0]!.failures], [1, 0]);
        // Upstream saw our random ID (0.5 → 0x8000) and otherwise the client's bytes unchanged.
        assert.equal(sent[0]!.query.readUInt16BE(0), 0x8000);
        assert.ok(sent[0]!.query.subarray(2).equals(buf.subarray(2)));

        const again = forwardQuery('foo.test', 'A');
        assert.equal((await f.forward(again.buf, again.q)).kind, 'answered');
        assert.notEqual(sent[1]!.port, sent[0]!.port, 'a fresh source port per query');
      });
    } finally {
      await Promise.all([fake.close(), new Promise<void>((resolve) => stranger.close(() => resolve()))]);
    }
  });

  test('maxInFlight: past it forward() resolves overflow at once; close() cancels the rest', async () => {
    const silent = await startStubDns(() => 'drop', randomLoopback());
    try {
      const f = new Forwarder({ servers: [silent], timeoutMs: 10_000, maxInFlight: 1 });
      const { buf, q } = forwardQuery('foo.test', 'A');
      const pending = f.forward(buf, q);
      assert.equal((await f.forward(buf, q)).kind, 'overflow');
      assert.equal(f.stats().overflows, 1);
      assert.equal(f.stats().inFlight, 1);
      // close() must not wait for the 10 s budget of the query in flight.
      const started = Date.now();
      await f.close();
      assert.equal((await pending).kind, 'closed');
      assert.ok(Date.now() - started < 1000);
      assert.equal(f.stats().inFlight, 0);
      assert.equal((await f.forward(buf, q)).kind, 'closed');
    } finally {
      await silent.close();
    }
    // No socket or timer of the forwarder is left behind. Handles are released in the loop's close
    // phase, so give the loop a few turns (bounded) before the last look.
    const open = () => process.getActiveResourcesInfo().filter((r) => /UDP|TCP|Timeout/.test(r));
    for (let turn = 0; turn < 10 && open().length > 0; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual(open(), []);
  });

  test('close() cancels TCP exchanges too', async () => {
    const host = randomLoopback();
    const held: net.Socket[] = [];
    let queryArrived: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      queryArrived = resolve;
    });
    // Reads the query and never answers.
    const server = net.createServer((s) => {
      held.push(s);
      s.once('data', () => queryArrived());
    });
    await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
    const { port } = server.address() as net.AddressInfo;
    try {
      const f = new Forwarder({ servers: [{ host, port }], timeoutMs: 10_000 });
      const { buf, q } = forwardQuery('foo.test', 'A');
      const pending = f.forward(buf, q, { tcp: true });
      await arrived;
      const started = Date.now();
      await f.close();
      assert.equal((await pending).kind, 'closed');
      assert.ok(Date.now() - started < 1000);
      assert.equal(f.stats().inFlight, 0);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('no servers is a MESHDNS_UPSTREAM error', () => {
    assert.throws(() => new Forwarder({ servers: [] }), { code: 'MESHDNS_UPSTREAM' });
  });
});

describe('Forwarder: upstream health', () => {
  const answer = () => ({ answers: [{ name: 'foo.test', type: 'A' as const, ttl: 5, data: '192.0.2.1' }] });

  /** Polls `check` each loop turn with a short pause, at most `ms`; the positive signal tests wait for. */
  async function until(check: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return check();
  }

  test('a server failing maxFails tries in a row is skipped, and a probe brings it back', async () => {
    const good = await startStubDns(answer, randomLoopback());
    const dead = await deadAddress();
    const deadName = `${dead.host}:${dead.port}`;
    let revived: Awaited<ReturnType<typeof startStubDns>> | undefined;
    try {
      await withForwarder(
        { servers: [dead, good], timeoutMs: 2000, maxFails: 3, healthCheckMs: 50 },
        async (f) => {
          const { buf, q } = forwardQuery('foo.test', 'A');
          // Rotation starts every other forward at the dead server: each of those is one failed try.
          for (let i = 0; i < 6; i++) assert.equal((await f.forward(buf, q)).kind, 'answered');
          const deadStats = () => f.stats().servers.find((s) => s.server === deadName)!;
          assert.deepEqual(
            [deadStats().down, deadStats().consecutiveFailures, deadStats().queries],
            [true, 3, 3],
          );
          assert.deepEqual(f.plan(), [`${good.host}:${good.port}`]);
          for (let i = 0; i < 6; i++) assert.equal((await f.forward(buf, q)).kind, 'answered');
          assert.equal(deadStats().queries, 3, 'a down server costs no query its time');

          // The server comes back on the same address: a probe sees it, and it is used again.
          revived = await startStubDns(answer, dead.host, dead.port);
          assert.ok(await until(() => !deadStats().down, 3000), 'marked up by a probe');
          assert.equal(deadStats().consecutiveFailures, 0);
          assert.equal(f.plan().length, 2);
          for (let i = 0; i < 2; i++) await f.forward(buf, q);
          assert.ok(
            revived.queries.some((x) => x.type === 'A'),
            'asked again',
          );
          assert.ok(
            revived.queries.some((x) => x.name === '' || x.name === '.'),
            'the probe is `. NS`',
          );
        },
      );
    } finally {
      await Promise.all([good.close(), revived?.close()]);
    }
  });

  test('when every server is down, forwards still try them; maxFails 0 never marks one down', async () => {
    const dead = await deadAddress();
    await withForwarder({ servers: [dead], timeoutMs: 1000, attempts: 1, maxFails: 2 }, async (f) => {
      const { buf, q } = forwardQuery('foo.test', 'A');
      for (let i = 0; i < 4; i++) assert.equal((await f.forward(buf, q)).kind, 'refused');
      assert.deepEqual([f.stats().servers[0]!.down, f.stats().servers[0]!.queries], [true, 4]);
    });
    await withForwarder({ servers: [dead], timeoutMs: 1000, attempts: 1, maxFails: 0 }, async (f) => {
      const { buf, q } = forwardQuery('foo.test', 'A');
      for (let i = 0; i < 4; i++) await f.forward(buf, q);
      assert.deepEqual([f.stats().servers[0]!.down, f.stats().servers[0]!.consecutiveFailures], [false, 4]);
    });
  });
});
