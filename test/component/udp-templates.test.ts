// The native UDP hit path (issue 12 items 3 and 6): table and cache answers given again from wire
// templates, written in place into the send batch, by C (netio.c) or, with `nativeHits: false`, by
// JavaScript. Every reply must be what node:dgram, which always goes through the pipeline, sends for the
// same query at the same moment, and be counted the same. One difference is
// allowed: a template rotates its addresses per question, where the table rotates per name (a name's A,
// AAAA and EDNS questions share one turn), so address records are compared in order only within a path.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { Registry } from '../../src/metrics.js';
import { buildNameTable } from '../../src/nametable/index.js';
import type { UdpSettings } from '../../src/server/index.js';
import { DnsServer } from '../../src/server/index.js';
import { encodeQuery, sendUdp } from '../helpers/dns-client.js';
import { sampleMesh, serviceEntry } from '../helpers/resources.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';
import { tablePipeline } from '../helpers/table-server.js';
import { UDP_PATHS, type UdpPathName } from '../helpers/udp-io.js';

const S = 'default.svc.cluster.local';
const NO_NATIVE = UDP_PATHS.includes('native') ? undefined : 'the native batch socket is not built here';
const SCOPE = { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [S] };

/** A query with the header bits a template patches: ID, RD, CD, the name's case, EDNS and DO. */
function query(
  name: string,
  type: string,
  id: number,
  opts: { edns?: number; do?: boolean; cd?: boolean } = {},
) {
  const q = encodeQuery(name, type, { id, edns: opts.edns });
  if (opts.cd) q.writeUInt16BE(q.readUInt16BE(2) | 0x0010, 2);
  // The OPT record ends the message: its TTL's flags word (DO = 0x8000) is 6 bytes before RDLENGTH's end.
  if (opts.do) q.writeUInt16BE(0x8000, q.length - 4);
  return q;
}

/** The hit path in C, the same in JavaScript, and node:dgram (no templates), each its own agent. */
type Path = UdpPathName | 'native-js';
const SETTINGS: Record<Path, Partial<UdpSettings>> = {
  native: { io: 'native' },
  'native-js': { io: 'native', nativeHits: false },
  dgram: { io: 'dgram' },
};
/** C answers only the batches JavaScript hands it: no wake is answered in C alone. */
const BATCHES_ONLY: Partial<UdpSettings> = { io: 'native', wakesInC: false };
const TEMPLATE_PATHS = ['native', 'native-js'] as const;

/** An agent on `path` with the sample mesh's table, `upstream` behind it and time from `now`. */
async function startAgent(
  path: Path,
  upstream: StubDns,
  now: () => number,
  cache?: { prefetch: boolean },
  udp: Partial<UdpSettings> = SETTINGS[path],
  registry = new Registry(),
): Promise<Agent> {
  const agent = new Agent({
    listen: { host: '127.0.0.1', port: 0 },
    upstreams: [upstream],
    upstreamTimeoutMs: 3000,
    udp,
    logger: pino({ level: 'silent' }),
    registry,
    now,
    cache,
  });
  agent.setTable(buildNameTable(sampleMesh(), SCOPE));
  await agent.start();
  return agent;
}

describe('UDP hit path: templates answer as the pipeline does', { skip: NO_NATIVE }, () => {
  let clock = 1_000_000;
  const agents = new Map<Path, Agent>();
  let upstream: StubDns;

  before(async () => {
    upstream = await startStubDns((q) => ({
      answers: [
        { name: q.name, type: 'A', ttl: 120, data: '198.51.100.7' },
        { name: q.name, type: 'A', ttl: 90, data: '198.51.100.8' },
      ],
    }));
    for (const path of Object.keys(SETTINGS) as Path[])
      agents.set(path, await startAgent(path, upstream, () => clock, { prefetch: false }));
  });

  after(async () => {
    for (const agent of agents.values()) await agent.close();
    await upstream.close();
  });

  const agent = (path: Path) => agents.get(path) as Agent;

  /** Asks every agent, one after the other, and asserts the same reply up to the order of addresses. */
  async function same(q: Buffer, what: string): Promise<Buffer> {
    const dgram = await sendUdp(agent('dgram').port, q);
    let native = dgram;
    for (const path of TEMPLATE_PATHS) {
      native = await sendUdp(agent(path).port, q);
      assert.equal(native.length, dgram.length, `${what} (${path})`);
      // A truncated answer keeps the records that fit from where the rotation is: the header only.
      if (dgram.readUInt16BE(2) & 0x0200)
        assert.equal(native.subarray(0, 12).toString('hex'), dgram.subarray(0, 12).toString('hex'), what);
      else assert.equal(canonical(native), canonical(dgram), `${what} (${path})`);
    }
    return native;
  }

  /** The reply re-encoded with its answers sorted: bytes that do not depend on the rotation. */
  function canonical(reply: Buffer): string {
    const p = dnsPacket.decode(reply);
    p.answers?.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    return `${reply.subarray(0, 12).toString('hex')} ${dnsPacket.encode(p).toString('hex')}`;
  }

  /**
   * The first address of each answer to `n` queries for `name` on a template path (the other agents are
   * asked too, for the counts).
   */
  async function firsts(path: Path, name: string, n: number, edns?: number): Promise<string[]> {
    const out: string[] = [];
    for (let id = 0; id < n; id++) {
      const q = query(name, 'A', 600 + id, { edns });
      const replies = await Promise.all([...agents.keys()].map((p) => sendUdp(agent(p).port, q)));
      const reply = replies[[...agents.keys()].indexOf(path)] as Buffer;
      const first = dnsPacket.decode(reply).answers?.[0] as { data: string } | undefined;
      out.push(first?.data ?? 'none');
    }
    return out;
  }

  it('table answers: ID, flags, case, rotation, NODATA, EDNS, DO, and a size past 512 only with EDNS', async () => {
    const cases: [string, Buffer][] = [];
    for (let i = 0; i < 5; i++) cases.push([`legacy A #${i}`, query('legacy.internal', 'A', 100 + i)]);
    cases.push(['mixed case', query('LeGaCy.InTeRnAl', 'A', 200)]);
    cases.push(['CD set', query('legacy.internal', 'A', 201, { cd: true })]);
    cases.push(['EDNS', query('legacy.internal', 'A', 202, { edns: 1232 })]);
    cases.push(['EDNS with DO', query('legacy.internal', 'A', 203, { edns: 1232, do: true })]);
    cases.push(['EDNS with DO again', query('Legacy.Internal', 'A', 204, { edns: 4096, do: true })]);
    cases.push(['NODATA', query(`productpage.${S}`, 'MX', 205)]);
    cases.push(['NODATA again', query(`productpage.${S}`, 'MX', 206)]);
    cases.push(['search shortcut', query(`productpage.default.${S}`, 'A', 207)]);
    cases.push(['search shortcut again', query(`productpage.default.${S}`, 'A', 208)]);
    for (let i = 0; i < 3; i++) {
      cases.push([`large, EDNS #${i}`, query('many.example.com', 'A', 300 + i, { edns: 4096 })]);
      cases.push([`large, truncated #${i}`, query('many.example.com', 'A', 310 + i)]);
      cases.push([`large, EDNS 600 truncated #${i}`, query('many.example.com', 'A', 320 + i, { edns: 600 })]);
    }
    for (const [what, q] of cases) await same(q, what);
  });

  for (const path of TEMPLATE_PATHS) {
    it(`rotation: each answer from a template starts one address further (${path})`, async () => {
      const two = await firsts(path, 'legacy.internal', 4);
      assert.notEqual(two[0], two[1]);
      assert.equal(two[0], two[2]);
      assert.equal(two[1], two[3]);
      const forty = (await firsts(path, 'many.example.com', 4, 4096)).map((ip) => Number(ip.split('.')[3]));
      for (let i = 1; i < 4; i++) assert.equal((forty[i] - forty[i - 1] + 40) % 40, 1, `${forty}`);
    });
  }

  it('a table swapped in answers at once, also for a question answered from a template before', async () => {
    const q = (id: number) => query('legacy.internal', 'A', id);
    await same(q(400), 'before');
    await same(q(401), 'before, again');
    const mesh = sampleMesh();
    mesh.serviceEntries = mesh.serviceEntries.filter((se) => !se.hosts.includes('legacy.internal'));
    mesh.serviceEntries.push(
      serviceEntry('default', 'legacy-c', ['legacy.internal'], { addresses: ['192.0.2.99'] }),
    );
    for (const a of agents.values()) a.setTable(buildNameTable(mesh, SCOPE));
    const reply = await same(q(402), 'after the swap');
    assert.ok(reply.includes(Buffer.from([192, 0, 2, 99])), 'the new address');
  });

  it('cache hits: TTLs counted down, the entry dropped at expiry, EDNS and DO kept apart', async () => {
    const name = 'cached.example.org';
    await same(query(name, 'A', 500), 'the miss');
    for (let i = 0; i < 3; i++) await same(query(name.toUpperCase(), 'A', 501 + i), `hit #${i}`);
    clock += 30_000;
    await same(query(name, 'A', 510), 'hit 30 s later');
    await same(query(name, 'A', 511, { edns: 1232, do: true }), 'DO: another entry, a miss');
    await same(query(name, 'A', 512, { edns: 1232, do: true }), 'DO: its hit');
    await same(query(name, 'A', 513, { edns: 1232 }), 'EDNS without DO: the first entry');
    clock += 61_000;
    const asked = upstream.queries.length;
    await same(query(name, 'A', 520), 'expired: asked again');
    assert.equal(upstream.queries.length, asked + agents.size, 'each agent asked upstream again');
    await same(query(name, 'A', 521), 'the new entry');
  });

  it('a cached name the new table answers is answered from the table at once; other cache hits go on in C', async () => {
    const q = (name: string, id: number) => query(name, 'A', id);
    for (let id = 0; id < 4; id++) {
      await same(q('soon.example.org', 700 + id), `soon, before #${id}`);
      await same(q('stays.example.org', 710 + id), `stays, before #${id}`);
    }
    const mesh = sampleMesh();
    mesh.serviceEntries.push(
      serviceEntry('default', 'soon', ['soon.example.org'], { addresses: ['192.0.2.55'] }),
    );
    for (const a of agents.values()) a.setTable(buildNameTable(mesh, SCOPE));
    const reply = await same(q('soon.example.org', 720), 'soon, from the new table');
    assert.ok(reply.includes(Buffer.from([192, 0, 2, 55])), 'the table address');
    assert.ok(reply.readUInt16BE(2) & 0x0400, 'authoritative');
    await same(
      q('stays.example.org', 721),
      'stays, after the purge (answered in JavaScript, kept for C again)',
    );
    const before = agent('native').udpStats().inPlace;
    await same(q('stays.example.org', 722), 'stays, in C again');
    assert.equal(agent('native').udpStats().inPlace, before + 1);
  });

  it('counts the same requests, responses and cache hits on every path', () => {
    const samples = (a: Agent) => ({
      requests: a.queryCounts?.requestSamples(),
      responses: a.queryCounts?.responseSamples(),
      cache: a.cache?.stats(),
    });
    for (const path of TEMPLATE_PATHS) assert.deepEqual(samples(agent(path)), samples(agent('dgram')), path);
    assert.ok((agent('native').cache?.stats().hits ?? 0) >= 6);
  });

  it('the hit path in C answered, and only where it is on', () => {
    const inPlace = (path: Path) => agent(path).udpStats().inPlace;
    // Table and cache repeats: legacy.internal, the NODATA and shortcut repeats, the cache hits.
    assert.ok(inPlace('native') >= 20, `answered in C: ${inPlace('native')}`);
    assert.equal(inPlace('native-js'), 0);
    assert.equal(inPlace('dgram'), 0);
    // A lone table repeat is a wake of its own, answered whole in C.
    const inC = (path: Path) => agent(path).udpStats().batchesInC;
    assert.ok(inC('native') >= 5, `wakes answered in C: ${inC('native')}`);
    assert.equal(inC('native-js'), 0);
    assert.equal(inC('dgram'), 0);
  });
});

describe('UDP hit path: IPv6 peers', { skip: NO_NATIVE }, () => {
  it('answers from a template go back to the IPv6 peer that asked, each with its own ID', async () => {
    const server = new DnsServer({
      host: '::1',
      port: 0,
      pipeline: tablePipeline([S]),
      udp: { io: 'native' },
    });
    await server.start();
    try {
      for (let id = 1; id <= 4; id++) {
        const reply = await sendUdp(server.port, query(`productpage.${S}`, 'A', id), { host: '::1' });
        assert.equal(reply.readUInt16BE(0), id);
        assert.deepEqual(
          dnsPacket.decode(reply).answers?.map((a) => (a as { data: string }).data),
          ['10.96.0.10'],
        );
      }
    } finally {
      await server.close();
    }
  });
});

describe('UDP hit path: prefetch still starts for a name answered from a template', {
  skip: NO_NATIVE,
}, () => {
  for (const path of TEMPLATE_PATHS) {
    it(`a popular entry in its last tenth of TTL is refreshed from upstream (${path})`, async () => {
      let clock = 5_000_000;
      const upstream = await startStubDns((q) => ({
        answers: [{ name: q.name, type: 'A', ttl: 100, data: '198.51.100.9' }],
      }));
      // The cache's defaults: prefetch after 2 hits, in the last 10% of a TTL of at least 10 s.
      const agent = await startAgent(path, upstream, () => clock);
      try {
        const ask = async (id: number) =>
          dnsPacket.decode(await sendUdp(agent.port, query('hot.example.org', 'A', id)));
        for (let id = 1; id <= 6; id++) await ask(id);
        assert.equal(upstream.queries.length, 1, 'one miss, then hits');
        clock += 92_000;
        const late = await ask(7);
        assert.equal(
          (late.answers?.[0] as { ttl: number } | undefined)?.ttl,
          8,
          'still the cached answer, 92 s older',
        );
        // The refresh goes out in the background.
        for (let i = 0; i < 50 && upstream.queries.length < 2; i++)
          await new Promise((r) => setTimeout(r, 10));
        assert.equal(upstream.queries.length, 2, 'prefetched');
        if (path === 'native') assert.ok(agent.udpStats().inPlace >= 3, `in C: ${agent.udpStats().inPlace}`);
      } finally {
        await agent.close();
        await upstream.close();
      }
    });
  }
});

describe('UDP hit path: wakes answered in C', { skip: NO_NATIVE }, () => {
  // Table repeats arrive alone or in bursts of their own (answered whole in C, their counts taken in
  // later) and mixed with cache hits and misses (C leaves the batch to JavaScript).
  const PATHS = ['native', 'batches', 'dgram'] as const;
  type Name = (typeof PATHS)[number];
  const agents = new Map<Name, Agent>();
  const registry = new Registry();
  let upstream: StubDns;

  before(async () => {
    upstream = await startStubDns((q) => ({
      answers: [{ name: q.name, type: 'A', ttl: 300, data: '198.51.100.20' }],
    }));
    for (const path of PATHS) {
      const udp = path === 'batches' ? BATCHES_ONLY : SETTINGS[path];
      const own = path === 'native' ? registry : new Registry();
      agents.set(path, await startAgent('native', upstream, () => 2_000_000, undefined, udp, own));
    }
  });

  after(async () => {
    for (const agent of agents.values()) await agent.close();
    await upstream.close();
  });

  /** Sends `queries` at once from one socket; the replies by ID (all of them, or the test fails). */
  async function burst(port: number, queries: Buffer[]): Promise<Map<number, Buffer>> {
    const socket = dgram.createSocket('udp4');
    const replies = new Map<number, Buffer>();
    try {
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      const all = new Promise<void>((resolve) =>
        socket.on('message', (m) => {
          replies.set(m.readUInt16BE(0), m);
          if (replies.size === queries.length) resolve();
        }),
      );
      for (const q of queries) socket.send(q, port, '127.0.0.1');
      const late = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
      await Promise.race([all, late]);
      assert.equal(replies.size, queries.length, `replies to a burst of ${queries.length}`);
      return replies;
    } finally {
      socket.close();
    }
  }

  /** The sorted answer addresses of a reply, and its rcode. */
  const gist = (reply: Buffer) => {
    const p = dnsPacket.decode(reply);
    const data = (p.answers ?? []).map((a) => String((a as { data: unknown }).data)).sort();
    return `${reply[3] & 0x0f} ${data.join(',')}`;
  };

  /** The same queries to each agent: each reply as node:dgram's. */
  async function sameOnAll(queries: Buffer[]): Promise<void> {
    const replies = await Promise.all(PATHS.map((path) => burst((agents.get(path) as Agent).port, queries)));
    const plain = replies[PATHS.indexOf('dgram')] as Map<number, Buffer>;
    for (const [k, path] of PATHS.entries()) {
      for (const q of queries) {
        const id = q.readUInt16BE(0);
        const reply = replies[k]?.get(id) as Buffer;
        assert.equal(gist(reply), gist(plain.get(id) as Buffer), `query ${id} (${path})`);
      }
    }
  }

  const counts = (path: Name) => {
    const a = agents.get(path) as Agent;
    return { requests: a.queryCounts?.requestSamples(), responses: a.queryCounts?.responseSamples() };
  };

  it('bursts of table repeats, and bursts mixing them with cache hits and misses: the same answers as node:dgram', async () => {
    let id = 1;
    const table = () => query('legacy.internal', 'A', id++);
    const cached = (n: number) => query(`c${n % 4}.example.org`, 'A', id++);
    const fresh = () => query(`f${id}.example.org`, 'A', id++);
    // Learned first: the table template and four cache entries.
    await sameOnAll([table(), cached(0), cached(1), cached(2), cached(3)]);
    for (let round = 0; round < 10; round++) {
      await sameOnAll(Array.from({ length: 20 }, table));
      await sameOnAll(
        Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? fresh() : i % 2 ? table() : cached(i))),
      );
    }
    // Last, a burst C answers whole: its counts wait for the read below.
    await sameOnAll(Array.from({ length: 20 }, table));
    assert.deepEqual(counts('native'), counts('dgram'));
    assert.deepEqual(counts('batches'), counts('dgram'));
    const inC = (path: Name) => (agents.get(path) as Agent).udpStats();
    assert.ok(inC('native').batchesInC > 0, `wakes answered in C: ${inC('native').batchesInC}`);
    assert.equal(inC('batches').batchesInC, 0);
    assert.ok(inC('batches').inPlace > 0, 'C answered within the batches JavaScript handed it');
    const text = await registry.metrics();
    const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(sample('meshdns_udp_batches_in_c_total'), inC('native').batchesInC);
    assert.equal(sample('meshdns_udp_answered_in_place_total'), inC('native').inPlace);
  });

  it('more answers in C than it notes before JavaScript looks (4,096): every one counted', async () => {
    const native = agents.get('native') as Agent;
    const before = native.udpStats();
    let id = 1;
    for (let round = 0; round < 100; round++)
      await sameOnAll(Array.from({ length: 50 }, () => query('legacy.internal', 'A', id++)));
    // The counts first: reading them takes in what C answered since JavaScript last looked.
    assert.deepEqual(counts('native'), counts('dgram'));
    assert.deepEqual(counts('batches'), counts('dgram'));
    const after = native.udpStats();
    assert.equal(after.datagrams - before.datagrams, 5000);
    assert.ok(after.batchesInC > before.batchesInC, 'answered in C');
    assert.ok(after.inPlace - before.inPlace >= 4096, `answered in C: ${after.inPlace - before.inPlace}`);
  });
});
