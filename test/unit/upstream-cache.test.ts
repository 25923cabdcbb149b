// The cache stage against a scripted upstream and a fake clock: TTLs count down without sleeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { CacheStage, ForwardStage, Pipeline } from '../../src/server/index.js';
import { type CacheSettings, cacheSettings, DnsCache } from '../../src/upstream/index.js';
import { encodeQuery, rcodeOf } from '../helpers/dns-client.js';
import { a, FakeClock, FakeUpstream, type Script, soa } from '../helpers/fake-upstream.js';

interface Rig {
  upstream: FakeUpstream;
  clock: FakeClock;
  cache: DnsCache;
  /** When each eviction was reported (the agent logs them per burst). */
  evicted: number[];
  local: Set<string>;
  ask(name: string, type?: string, opts?: { id?: number; do?: boolean; edns?: number }): Promise<Answered>;
}

interface Answered {
  packet: dnsPacket.Packet;
  raw: Buffer;
  source: string;
}

/** A few turns of the event loop, so settled promises run their callbacks. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function rig(script: Script, settings: Partial<CacheSettings> = {}): Rig {
  const upstream = new FakeUpstream(script);
  const clock = new FakeClock();
  const evicted: number[] = [];
  const cache = new DnsCache(cacheSettings(settings), clock.now, () => evicted.push(clock.now()));
  const local = new Set<string>();
  const stage = new CacheStage({ cache, upstream, isLocal: (k) => local.has(k), schedule: clock.schedule });
  let source = '';
  const pipeline = new Pipeline([stage, new ForwardStage(upstream)], {
    answered: (_req, s) => {
      source = s;
    },
    rejected: () => {},
  });
  const ask: Rig['ask'] = async (name, type = 'A', opts = {}) => {
    const msg = opts.do ? queryWithDo(name, type, opts.id ?? 7) : encodeQuery(name, type, opts);
    const raw = await pipeline.answer(msg, 'udp');
    assert.ok(raw, 'an answer');
    return {
      packet: dnsPacket.decode(raw),
      raw,
      source,
    };
  };
  return {
    evicted,
    upstream,
    clock,
    cache,
    local,
    ask,
  };
}

function queryWithDo(name: string, type: string, id: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: dnsPacket.DNSSEC_OK } as never],
  });
}

const NXDOMAIN = 3;
type Rec = { name: string; type: string; ttl?: number; data?: unknown };
const recs = (list: dnsPacket.Answer[] | undefined): Rec[] => (list ?? []) as Rec[];
const ttlOf = (p: dnsPacket.Packet) => (recs(p.answers)[0] ?? recs(p.authorities)[0])?.ttl;
const first = (p: dnsPacket.Packet): Rec => recs(p.answers)[0];

interface Case {
  name: string;
  reply: ReturnType<Script>;
  /** [seconds since the first query, expected source, expected TTL of the first record]. */
  steps: [number, string, number | undefined][];
  settings?: Partial<CacheSettings>;
}

const cases: Case[] = [
  {
    name: 'positive: the TTL counts down, then the entry expires',
    reply: { answers: [a('www.test', 300)] },
    steps: [
      [0, 'upstream', 300],
      [10, 'cache', 290],
      [299, 'cache', 1],
      [300, 'upstream', 300],
    ],
  },
  {
    name: 'positive: the smallest TTL of the answer',
    reply: { answers: [a('www.test', 300), a('www.test', 60, '192.0.2.2')] },
    steps: [
      [0, 'upstream', 300],
      [59, 'cache', 1],
      [60, 'upstream', 300],
    ],
  },
  {
    name: 'positive: capped at maxTtl',
    reply: { answers: [a('www.test', 86_400)] },
    settings: { maxTtl: 3600 },
    steps: [
      [0, 'upstream', 86_400],
      [1, 'cache', 3599],
      [3600, 'upstream', 86_400],
    ],
  },
  {
    name: 'NXDOMAIN: SOA minimum (RFC 2308 §5)',
    reply: { flags: NXDOMAIN, authorities: [soa('test', 600, 60)] },
    steps: [
      [0, 'upstream', 600],
      [30, 'cache', 30],
      [60, 'upstream', 600],
    ],
  },
  {
    name: 'NODATA: the SOA TTL when it is smaller than the minimum',
    reply: { authorities: [soa('test', 20, 60)] },
    steps: [
      [0, 'upstream', 20],
      [19, 'cache', 1],
      [20, 'upstream', 20],
    ],
  },
  {
    name: 'negative: capped at maxNegativeTtl',
    reply: { flags: NXDOMAIN, authorities: [soa('test', 86_400, 86_400)] },
    steps: [
      [0, 'upstream', 86_400],
      [299, 'cache', 1],
      [300, 'upstream', 86_400],
    ],
  },
  {
    name: 'negative without an SOA: not cached (RFC 2308 §5)',
    reply: { flags: NXDOMAIN },
    steps: [
      [0, 'upstream', undefined],
      [1, 'upstream', undefined],
    ],
  },
  {
    name: 'referral (NS in authority, no SOA): not cached',
    reply: { authorities: [{ name: 'test', type: 'NS', ttl: 300, data: 'ns.test' }] },
    steps: [
      [0, 'upstream', 300],
      [1, 'upstream', 300],
    ],
  },
  {
    name: 'answers only for another name, no SOA: nothing left to keep (RFC 5452), not cached',
    reply: { answers: [a('evil.test', 300)] },
    steps: [
      [0, 'upstream', 300],
      [1, 'upstream', 300],
    ],
  },
  {
    name: 'SERVFAIL: not cached',
    reply: { flags: 2 },
    steps: [
      [0, 'upstream', undefined],
      [0, 'upstream', undefined],
    ],
  },
  {
    name: 'truncated: not cached',
    reply: { flags: dnsPacket.TRUNCATED_RESPONSE, answers: [a('www.test', 300)] },
    steps: [
      [0, 'upstream', 300],
      [1, 'upstream', 300],
    ],
  },
  {
    name: 'TTL 0: not cached',
    reply: { answers: [a('www.test', 0)] },
    steps: [
      [0, 'upstream', 0],
      [0, 'upstream', 0],
    ],
  },
];

describe('cache: what is kept and for how long', () => {
  for (const c of cases) {
    it(c.name, async () => {
      // Prefetch off: it would refresh the entry these steps watch expire.
      const r = rig(() => c.reply as Partial<dnsPacket.Packet>, { prefetch: false, ...c.settings });
      let at = 0;
      for (const [t, source, ttl] of c.steps) {
        r.clock.advance(t - at);
        at = t;
        const got = await r.ask('www.test');
        assert.equal(got.source, source, `at ${t} s`);
        assert.equal(ttlOf(got.packet), ttl, `TTL at ${t} s`);
      }
      const upstreamSteps = c.steps.filter(([, s]) => s === 'upstream').length;
      assert.equal(r.upstream.calls, upstreamSteps);
    });
  }
});

describe('cache: keys and answers', () => {
  it('shares an entry across case, keeps each client ID and question bytes, clears AA', async () => {
    const r = rig(() => ({ flags: dnsPacket.AUTHORITATIVE_ANSWER, answers: [a('www.test', 300)] }));
    await r.ask('www.test', 'A', { id: 1 });
    const got = await r.ask('WwW.TeSt', 'A', { id: 2 });
    assert.equal(got.source, 'cache');
    assert.equal(got.packet.id, 2);
    assert.equal(got.packet.questions?.[0].name, 'WwW.TeSt');
    assert.equal((got.packet.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER, 0);
    assert.equal(r.upstream.calls, 1);
  });

  it('keys by type and by the DO bit', async () => {
    const r = rig((q) => ({ answers: q.type === 'A' ? [a('www.test', 300)] : [] }));
    await r.ask('www.test', 'A');
    assert.equal((await r.ask('www.test', 'AAAA')).source, 'upstream');
    assert.equal((await r.ask('www.test', 'A', { do: true })).source, 'upstream');
    assert.equal((await r.ask('www.test', 'A', { do: true })).source, 'cache');
    assert.equal(r.upstream.calls, 3);
  });

  it('gives an EDNS client an OPT record and a plain client none, from one entry', async () => {
    const r = rig(() => ({ answers: [a('www.test', 300)] }));
    await r.ask('www.test', 'A', { edns: 1232 });
    const plain = await r.ask('www.test', 'A');
    const edns = await r.ask('www.test', 'A', { edns: 1232 });
    assert.equal(plain.source, 'cache');
    assert.deepEqual(plain.packet.additionals, []);
    assert.equal(edns.packet.additionals?.[0].type, 'OPT');
  });

  it('keeps only records of the question name and its CNAME chain (RFC 5452)', async () => {
    const r = rig(() => ({
      answers: [
        { name: 'www.test', type: 'CNAME', ttl: 300, data: 'web.test' },
        a('web.test', 300),
        a('bank.example', 300, '203.0.113.66'),
      ],
      additionals: [a('evil.example', 300, '203.0.113.67')],
    }));
    const first = await r.ask('www.test');
    assert.equal(first.packet.answers?.length, 3, 'the client gets the upstream reply unchanged');
    const cached = await r.ask('www.test');
    assert.equal(cached.source, 'cache');
    assert.deepEqual(
      cached.packet.answers?.map((x) => `${x.name} ${x.type}`),
      ['www.test CNAME', 'web.test A'],
    );
    assert.deepEqual(cached.packet.additionals, []);
  });

  it('never keeps a name the local table answers', async () => {
    const r = rig(() => ({ answers: [a('mesh.test', 300)] }));
    r.local.add('\x04mesh\x04test\x00');
    await r.ask('mesh.test');
    assert.equal((await r.ask('mesh.test')).source, 'upstream');
    assert.equal(r.cache.stats().entries, 0);
  });
});

describe('cache: bounds', () => {
  it('evicts the least recently used entry past maxEntries', async () => {
    const r = rig((q) => ({ answers: [a(q.name, 300)] }), { maxEntries: 2 });
    await r.ask('one.test');
    await r.ask('two.test');
    await r.ask('one.test'); // one is now the most recent
    await r.ask('three.test'); // evicts two
    assert.equal((await r.ask('one.test')).source, 'cache');
    assert.equal((await r.ask('two.test')).source, 'upstream');
    assert.equal(r.cache.stats().evictions, 2);
    assert.equal(r.evicted.length, 2, 'every eviction is reported');
    assert.equal(r.cache.stats().entries, 2);
  });

  it('spares an entry hit since it was stored, and never the answer being stored', async () => {
    const r = rig((q) => ({ answers: [a(q.name, 300)] }), { maxEntries: 3 });
    for (const n of ['one', 'two', 'three']) await r.ask(`${n}.test`);
    for (const n of ['one', 'two', 'three']) assert.equal((await r.ask(`${n}.test`)).source, 'cache');
    // Every entry was hit: one of them goes for four, not four itself.
    await r.ask('four.test');
    assert.equal(r.cache.stats().entries, 3);
    assert.equal((await r.ask('four.test')).source, 'cache');
    assert.equal(r.cache.stats().evictions, 1);
    // Four was hit since it was stored; the two spared before were not since: they go first.
    await r.ask('five.test');
    await r.ask('six.test');
    const kept = r.cache.list().map((h) => h.entry.qkey.replace(/[\x00-\x1f]/g, '.'));
    assert.deepEqual(kept, ['.six.test.', '.five.test.', '.four.test.']);
  });

  it('lists entries most recently used first', async () => {
    const r = rig((q) => ({ answers: [a(q.name, 300)] }));
    for (const n of ['one', 'two', 'three']) await r.ask(`${n}.test`);
    await r.ask('one.test');
    const names = (hits: { entry: { qkey: string } }[]) => hits.map((h) => h.entry.qkey);
    const listed = names(r.cache.list());
    assert.equal(listed.length, 3);
    assert.deepEqual(
      r.cache.entriesByRecency().map((e) => e.qkey),
      listed.slice().reverse(),
      'the snapshot order is the reverse of the listing',
    );
    assert.match(listed[0]!, /one/);
    assert.match(listed[2]!, /two/);
  });

  it('evicts past maxBytes', async () => {
    const r = rig((q) => ({ answers: [a(q.name, 300)] }), { maxBytes: 600 });
    for (const n of ['one', 'two', 'three', 'four', 'five']) await r.ask(`${n}.test`);
    const s = r.cache.stats();
    assert.ok(s.bytes <= 600, `${s.bytes} bytes`);
    assert.ok(s.entries >= 1 && s.entries < 5);
    assert.equal(s.evictions, 5 - s.entries);
  });
});

describe('cache: coalescing, serve-stale, prefetch', () => {
  it('answers identical concurrent misses with one upstream query', async () => {
    const r = rig(() => ({ answers: [a('www.test', 300)] }));
    r.upstream.hold();
    const pending = [1, 2, 3, 4, 5].map((id) => r.ask('www.test', 'A', { id }));
    r.upstream.release();
    const got = await Promise.all(pending);
    assert.equal(r.upstream.calls, 1);
    assert.deepEqual(
      got.map((g) => g.packet.id),
      [1, 2, 3, 4, 5],
    );
    for (const g of got) assert.equal(first(g.packet).data, '192.0.2.1');
    assert.equal(r.cache.stats().coalesced, 4);
  });

  const staleCases = [
    { name: 'serves an expired entry with TTL 30 when upstream fails', settings: {}, want: 'stale' },
    { name: 'SERVFAIL when serve-stale is off', settings: { serveStale: false }, want: 'upstream' },
    {
      name: 'SERVFAIL once the entry is older than staleMaxAge',
      settings: { staleMaxAge: 100 },
      want: 'upstream',
    },
  ];
  for (const c of staleCases) {
    it(c.name, async () => {
      let up = true;
      const r = rig(() => (up ? { answers: [a('www.test', 300)] } : 'fail'), c.settings);
      await r.ask('www.test');
      up = false;
      r.clock.advance(600);
      const got = await r.ask('www.test');
      assert.equal(got.source, c.want);
      if (c.want === 'stale') {
        assert.equal(rcodeOf(got.raw), 0);
        assert.equal(first(got.packet).ttl, 30);
      } else {
        assert.equal(rcodeOf(got.raw), 2);
      }
    });
  }

  it('RFC 8767 §5: a stale answer goes out once upstream is slower than staleAfterMs, not before', async () => {
    const r = rig(() => ({ answers: [a('www.test', 300)] }), { staleAfterMs: 1800 });
    await r.ask('www.test');
    r.clock.advance(600);
    r.upstream.hold();
    const pending = r.ask('www.test');
    const answered = { yet: false };
    void pending.then(() => {
      answered.yet = true;
    });
    await settle();
    assert.equal(r.clock.pending, 1, 'the client response timer runs');
    r.clock.advance(1.7);
    await settle();
    assert.equal(answered.yet, false, 'before staleAfterMs the client waits for upstream');
    r.clock.advance(0.1);
    const got = await pending;
    assert.equal(got.source, 'stale');
    assert.equal(first(got.packet).ttl, 30);
    // Upstream answers later: the entry is refreshed, and nothing more is scheduled.
    r.upstream.release();
    await settle();
    assert.equal(r.clock.pending, 0);
    assert.equal((await r.ask('www.test')).source, 'cache');
  });

  it('RFC 8767 §5: an upstream answer before staleAfterMs goes out and cancels the timer', async () => {
    const r = rig(() => ({ answers: [a('www.test', 300)] }), { staleAfterMs: 1800 });
    await r.ask('www.test');
    r.clock.advance(600);
    const got = await r.ask('www.test');
    assert.equal(got.source, 'upstream');
    assert.equal(r.clock.pending, 0);
  });

  it('refreshes a popular entry near expiry in the background', async () => {
    let address = '192.0.2.1';
    const r = rig(() => ({ answers: [a('www.test', 100, address)] }));
    await r.ask('www.test');
    await r.ask('www.test');
    address = '192.0.2.2';
    r.clock.advance(95); // 5% of the TTL left, 2 hits so far
    const hit = await r.ask('www.test');
    assert.equal(hit.source, 'cache');
    assert.equal(first(hit.packet).data, '192.0.2.1');
    assert.equal(r.upstream.calls, 2);
    // The refresh lands without any client waiting for it; poll a bounded number of turns.
    for (let i = 0; i < 50 && r.cache.stats().inserts < 2; i++) await new Promise((res) => setImmediate(res));
    const fresh = await r.ask('www.test');
    assert.equal(fresh.source, 'cache');
    assert.equal(first(fresh.packet).data, '192.0.2.2');
    assert.equal(first(fresh.packet).ttl, 100);
    assert.equal(r.cache.stats().prefetches, 1);
  });

  it('does not prefetch when switched off', async () => {
    const r = rig(() => ({ answers: [a('www.test', 100)] }), { prefetch: false });
    for (let i = 0; i < 3; i++) await r.ask('www.test');
    r.clock.advance(95);
    await r.ask('www.test');
    assert.equal(r.upstream.calls, 1);
    assert.equal(r.cache.stats().prefetches, 0);
  });
});
