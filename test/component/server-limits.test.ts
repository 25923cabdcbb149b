// SPEC §10 bounds of the DNS server against real TCP clients on loopback (issue 8 findings 11, 13):
// bytes queued per connection (a client that never reads) and the connection cap (idlest first).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { Registry } from '../../src/metrics.js';
import { buildNameTable } from '../../src/nametable/index.js';
import { DnsServer, ForwardStage, Pipeline, TableStage } from '../../src/server/index.js';
import {
  ask,
  encodeQuery,
  framed,
  idleTcpConnection,
  rcodeOf,
  sendTcp,
  sendUdp,
} from '../helpers/dns-client.js';
import { a, FakeUpstream } from '../helpers/fake-upstream.js';
import { eventually } from '../helpers/meshdns.js';
import { sampleMesh, serviceEntry } from '../helpers/resources.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

const BIG = 'big.example.com';
/** 1,000 A records: a 16 KB answer, so a few thousand pipelined queries ask for tens of MB. */
const BIG_ADDRESSES = Array.from({ length: 1000 }, (_, i) => `10.1.${i >> 8}.${i & 0xff}`);
const NAME = 'productpage.default.svc.cluster.local';
const MiB = 1024 * 1024;

function bigTableStage(): TableStage {
  const mesh = sampleMesh();
  mesh.serviceEntries.push(serviceEntry('default', 'big', [BIG], { addresses: BIG_ADDRESSES }));
  const stage = new TableStage();
  stage.set(
    buildNameTable(mesh, { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] }),
  );
  return stage;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `p`, or a failed assertion after `ms` (the timer is cleared either way: no handle left behind). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `${what} within ${ms} ms` })), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
const closed = (s: net.Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

describe('server limits: a TCP client that pipelines and never reads', () => {
  let server: DnsServer;
  before(async () => {
    server = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      pipeline: new Pipeline([bigTableStage()]),
      tcp: { idleTimeoutMs: 1000 },
    });
    await server.start();
  });
  after(() => server.close());

  it('holds a bounded number of bytes for it, answers others meanwhile, and closes it after the timeout', async () => {
    const base = process.memoryUsage().arrayBuffers;
    const hog = net.connect(server.port, '127.0.0.1');
    hog.on('error', () => {});
    hog.pause(); // never reads: the answers pile up in the kernel, then in the server
    const gone = closed(hog);
    const query = framed(encodeQuery(BIG, 'A', { id: 7 }));
    // 3,000 queries ask for ~48 MB of answers; the kernel's socket buffers absorb a few MB of it.
    hog.write(Buffer.concat(Array.from({ length: 3000 }, () => query)));

    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(50);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
      assert.ok(peak < 16 * MiB, `the server holds ${(peak / MiB).toFixed(1)} MiB for one client`);
    }
    // The server stopped reading from it with at most the bound (64 KiB) plus one answer unsent.
    const blocked = server.limits.stats();
    assert.equal(blocked.tcp.paused, 1);
    assert.ok(blocked.tcp.queuedBytes <= 64 * 1024 + 65537, `${blocked.tcp.queuedBytes} bytes queued`);
    assert.equal(blocked.reached.tcp_queued_bytes, 1);
    // Meanwhile the others are answered, over both transports.
    for (const proto of ['udp', 'tcp'] as const) {
      const reply = await ask(proto, server.port, NAME, 'A');
      assert.equal(reply.answers?.length, 1, `${proto} answer while the hog is blocked`);
    }
    // Blocked longer than the idle timeout (1 s): closed, and counted as such.
    await eventually(async () => assert.equal(server.limits.stats().tcp.connections, 0), 8000);
    const after = server.limits.stats();
    assert.equal(after.reached.tcp_stalled, 1);
    assert.deepEqual(after.tcp, { connections: 0, paused: 0, queuedBytes: 0 });
    // The client sees it once it reads: what the kernel held, then the end.
    hog.resume();
    await within(gone, 8000, 'the client sees the connection end');
  });
});

describe('server limits: the TCP connection cap', () => {
  let server: DnsServer;
  const conns: net.Socket[] = [];
  before(async () => {
    server = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      pipeline: new Pipeline([bigTableStage()]),
      tcp: { maxConnections: 20, idleTimeoutMs: 30_000 },
    });
    await server.start();
  });
  after(async () => {
    for (const c of conns) c.destroy();
    await server.close();
  });

  it('at the cap, a new client is answered and the idlest connection is closed', async () => {
    for (let i = 0; i < 20; i++) conns.push(await idleTcpConnection(server.port, NAME, i));
    const isClosed = conns.map(() => false);
    for (const [i, c] of conns.entries()) {
      c.on('close', () => {
        isClosed[i] = true;
      });
    }

    // The new clients stay connected too, so each one finds the server at the cap.
    for (let n = 1; n <= 3; n++) {
      conns.push(await idleTcpConnection(server.port, NAME, 100 + n));
      await eventually(async () => {
        assert.deepEqual(
          isClosed.map((c, i) => (c ? i : -1)).filter((i) => i >= 0),
          Array.from({ length: n }, (_, i) => i),
          'the idlest connections, oldest first, are the ones closed',
        );
      });
    }
    const { reached, tcp } = server.limits.stats();
    assert.equal(reached.tcp_connections, 3);
    assert.equal(tcp.connections, 20);
  });
});

describe('server limits: queries in flight per TCP connection', () => {
  let server: DnsServer;
  const upstream = new FakeUpstream((q) => ({ answers: [a(q.name, 60)] }));
  before(async () => {
    server = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      pipeline: new Pipeline([new ForwardStage(upstream)]),
      tcp: { maxInFlightPerConnection: 4 },
    });
    await server.start();
  });
  after(() => server.close());

  it('reads no further than the bound while answers are pending, then answers them all', async () => {
    upstream.hold();
    const msgs = Array.from({ length: 10 }, (_, i) => encodeQuery(`q${i}.test`, 'A', { id: i }));
    const replies = sendTcp(server.port, msgs);
    await eventually(async () => assert.equal(server.limits.stats().tcp.paused, 1));
    assert.equal(upstream.calls, 4, 'only as many queries taken as may be in flight');
    assert.equal(server.limits.stats().reached.tcp_in_flight, 1);
    upstream.release();
    const ids = (await replies).map((r) => r.readUInt16BE(0)).sort((x, y) => x - y);
    assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('agent limits: upstream queries in flight (--upstream-max-in-flight)', () => {
  let stub: StubDns;
  let agent: Agent;
  const registry = new Registry();
  /** One series' value in the agent's registry (0 when absent). */
  const metric = async (series: string): Promise<number> => {
    const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };
  before(async () => {
    stub = await startStubDns((q) => (q.name.startsWith('slow') ? 'drop' : { answers: [a(q.name, 60)] }));
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [{ host: stub.host, port: stub.port }],
      upstreamTimeoutMs: 1000,
      upstreamMaxInFlight: 1,
      logger: pino({ level: 'silent' }),
      registry,
    });
    await agent.start();
  });
  after(async () => {
    await agent.close();
    await stub.close();
  });

  it('past the bound a query gets SERVFAIL without waiting for the one in flight', async () => {
    const slow = sendUdp(agent.port, encodeQuery('slow.test', 'A', { id: 1 }));
    await eventually(async () => assert.equal(stub.queries.length, 1));
    const refused = await sendUdp(agent.port, encodeQuery('other.test', 'A', { id: 2 }));
    assert.equal(rcodeOf(refused), 2, 'SERVFAIL');
    assert.equal(agent.forwarder.stats().overflows, 1);
    assert.equal(stub.queries.length, 1, 'the second query never went upstream');
    assert.equal(rcodeOf(await slow), 2);
  });

  it('a query dropped at the bound is counted as dropped, never as sent upstream', async () => {
    const series = [
      'dns_upstream_requests_total',
      'dns_upstream_failures_total',
      'dns_upstream_request_duration_seconds_count',
      'meshdns_upstream_dropped_total{reason="overflow"}',
      'meshdns_upstream_failures_total{reason="overflow"}',
    ];
    const before = await Promise.all(series.map(metric));
    const sentBefore = stub.queries.length;
    const slow = sendUdp(agent.port, encodeQuery('slow2.test', 'A', { id: 3 }));
    await eventually(async () => assert.equal(stub.queries.length, sentBefore + 1));
    assert.equal(rcodeOf(await sendUdp(agent.port, encodeQuery('other2.test', 'A', { id: 4 }))), 2);
    assert.equal(rcodeOf(await slow), 2);
    const after = await Promise.all(series.map(metric));
    const delta = Object.fromEntries(series.map((s, i) => [s, after[i]! - before[i]!]));
    assert.deepEqual(delta, {
      // Istio's three count the one query that went out (and timed out)…
      dns_upstream_requests_total: 1,
      dns_upstream_failures_total: 1,
      dns_upstream_request_duration_seconds_count: 1,
      // …the dropped one has its own count, and its SERVFAIL is still a failure the client saw.
      'meshdns_upstream_dropped_total{reason="overflow"}': 1,
      'meshdns_upstream_failures_total{reason="overflow"}': 1,
    });
  });
});
