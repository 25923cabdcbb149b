// The agent's admin API on loopback: readiness, metrics after a scripted sequence of queries, the
// debug views, and `explain` for every answer source. The upstream is a scripted stub on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { AdminServer } from '../../src/admin/index.js';
import { Agent } from '../../src/agent/index.js';
import { Registry } from '../../src/metrics.js';
import { buildNameTable } from '../../src/nametable/index.js';
import { ask, encodeQuery, sendUdp } from '../helpers/dns-client.js';
import { a, FakeClock, soa } from '../helpers/fake-upstream.js';
import { sampleMesh } from '../helpers/resources.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

const S = 'default.svc.cluster.local';

// biome-ignore lint/suspicious/noExplicitAny: JSON of the admin API; the assertions are its checks.
type Json = any;

async function adminGet(port: number, path: string): Promise<{ status: number; body: Json; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/** The value of one sample line of the Prometheus text, e.g. `x_total{a="b"}`; 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('admin API', () => {
  let stub: StubDns;
  let agent: Agent;
  const clock = new FakeClock();
  let flakyDown = false;

  before(async () => {
    stub = await startStubDns((q) => {
      if (q.name === 'www.test') return { answers: [a('www.test', 300, '198.51.100.7')] };
      if (q.name === 'down.test') return 'drop';
      if (q.name === 'flaky.test')
        return flakyDown ? 'drop' : { answers: [a('flaky.test', 5, '198.51.100.9')] };
      return { flags: 3, authorities: [soa('test', 60, 30)] };
    });
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [{ host: stub.host, port: stub.port }],
      upstreamTimeoutMs: 300,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      admin: { host: '127.0.0.1', port: 0 },
      now: clock.now,
      config: { namespace: { value: 'default', source: 'default' } },
    });
    await agent.start();
  });

  after(async () => {
    await agent?.close();
    await stub?.close();
  });

  it('is not ready before the first table', async () => {
    const r = await adminGet(agent.adminPort, '/healthz/ready');
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.waiting, ['no name table yet']);
  });

  it('is ready once a table is set', async () => {
    agent.setTable(
      buildNameTable(sampleMesh(), {
        namespace: 'default',
        clusterDomain: 'cluster.local',
        searchDomains: [S],
      }),
    );
    assert.equal((await adminGet(agent.adminPort, '/healthz/ready')).status, 200);
  });

  it('counts a scripted sequence of queries', async () => {
    await ask('udp', agent.port, `productpage.${S}`, 'A'); // table
    await ask('tcp', agent.port, `productpage.${S}`, 'AAAA'); // table, NODATA
    await ask('udp', agent.port, 'www.test', 'A'); // upstream
    await ask('udp', agent.port, 'www.test', 'A'); // cache
    await ask('udp', agent.port, 'nope.test', 'A'); // upstream NXDOMAIN
    await ask('udp', agent.port, 'nope.test', 'A'); // cache NXDOMAIN
    await ask('udp', agent.port, 'down.test', 'A'); // upstream fails: SERVFAIL
    const bad = encodeQuery('x.test', 'A');
    bad.writeUInt16BE(2, 4); // QDCOUNT 2: FORMERR
    await sendUdp(agent.port, bad);

    const { status, text } = await adminGet(agent.adminPort, '/metrics');
    assert.equal(status, 200);
    const want: [string, number][] = [
      ['dns_requests_total', 8],
      ['meshdns_requests_total{protocol="udp",qtype="A"}', 6],
      ['meshdns_requests_total{protocol="tcp",qtype="AAAA"}', 1],
      ['meshdns_requests_total{protocol="udp",qtype="invalid"}', 1],
      ['meshdns_responses_total{source="table",rcode="NOERROR"}', 2],
      ['meshdns_responses_total{source="upstream",rcode="NOERROR"}', 1],
      ['meshdns_responses_total{source="cache",rcode="NOERROR"}', 1],
      ['meshdns_responses_total{source="upstream",rcode="NXDOMAIN"}', 1],
      ['meshdns_responses_total{source="cache",rcode="NXDOMAIN"}', 1],
      ['meshdns_responses_total{source="upstream",rcode="SERVFAIL"}', 1],
      ['dns_upstream_requests_total', 3],
      ['dns_upstream_failures_total', 1],
      ['meshdns_upstream_failures_total{reason="timeout"}', 1],
      ['meshdns_upstream_replies_total{class="success"}', 1],
      ['meshdns_upstream_replies_total{class="nxdomain"}', 1],
      ['dns_upstream_request_duration_seconds_count', 3],
      ['meshdns_cache_hits_total', 2],
      ['meshdns_cache_misses_total', 3],
      ['meshdns_cache_entries', 2],
      ['meshdns_config_reloads_total', 1],
      ['meshdns_table_names', agent.table()!.size],
    ];
    for (const [series, value] of want) assert.equal(sample(text, series), value, series);
    assert.match(text, /dns_upstream_request_duration_seconds_bucket\{le="0\.001"\}/);
    assert.match(text, /dns_upstream_request_duration_seconds_bucket\{le="5"\}/);
  });

  it('shows the table, config, VIPs, cache and upstreams', async () => {
    const port = agent.adminPort;
    const table = await adminGet(port, '/debug/nametable');
    assert.ok(table.body.names.some((r: { name: string }) => r.name === `productpage.${S}.`));
    const config = await adminGet(port, '/debug/config');
    assert.deepEqual(config.body.pipeline, ['table', 'autopath', 'cache', 'upstream']);
    assert.equal(config.body.namespace.source, 'default');
    const vips = await adminGet(port, '/debug/vips');
    assert.deepEqual(vips.body, { vips: [], proxy: { enabled: false } });
    const cache = await adminGet(port, '/debug/cache');
    assert.equal(cache.body.entries, 2);
    const one = await adminGet(port, '/debug/cache?name=www.test');
    assert.equal(one.body.entries.length, 1);
    assert.equal(one.body.entries[0].state, 'fresh');
    assert.deepEqual(one.body.entries[0].answer.answers[0].data, '198.51.100.7');
    const up = await adminGet(port, '/debug/upstreams');
    assert.equal(up.body.servers[0].server, `${stub.host}:${stub.port}`);
    assert.ok(up.body.servers[0].queries >= 3);
    assert.equal((await adminGet(port, '/nope')).status, 404);
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' });
    await post.text();
    assert.equal(post.status, 405);
  });

  const explainCases: {
    name: string;
    qname: string;
    source: string;
    /** Seconds the fake clock moves first. */
    wait?: number;
    check: (b: Json) => void;
  }[] = [
    {
      name: 'table: exact host',
      qname: `productpage.${S}`,
      source: 'table',
      check: (b) => {
        assert.equal(b.table.kind, 'host');
        assert.match(b.table.resource, /Service default\/productpage/);
        assert.equal(b.answer.answers[0].data, '10.96.0.10');
      },
    },
    {
      name: 'table: alias',
      qname: 'productpage.default',
      source: 'table',
      check: (b) => assert.match(b.table.rule, /alias name\.ns\./),
    },
    {
      name: 'table: search shortcut',
      qname: `api.partner.com.${S}`,
      source: 'table',
      check: (b) => {
        assert.equal(b.table.kind, 'search');
        assert.equal(b.answer.answers[0].type, 'CNAME');
      },
    },
    {
      name: 'wildcard',
      qname: 'en.wiki.example.org',
      source: 'wildcard',
      check: (b) => assert.equal(b.table.key, '*.wiki.example.org.'),
    },
    {
      name: 'cache: age and TTL left',
      qname: 'www.test',
      source: 'cache',
      wait: 10,
      check: (b) => {
        assert.equal(b.cache.ageSeconds, 10);
        assert.equal(b.cache.ttlLeftSeconds, 290);
        assert.equal(b.answer.answers[0].ttl, 290);
      },
    },
    {
      name: 'upstream: which server, and its answer',
      qname: 'other.test',
      source: 'upstream',
      check: (b) => {
        assert.equal(b.upstream.first, `${stub.host}:${stub.port}`);
        assert.equal(b.answer.rcode, 'NXDOMAIN');
      },
    },
  ];
  for (const c of explainCases) {
    it(`explain: ${c.name}`, async () => {
      clock.advance(c.wait ?? 0);
      const r = await adminGet(agent.adminPort, `/debug/explain?name=${c.qname}&type=A`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.source, c.source);
      c.check(r.body);
    });
  }

  it('explain has no side effects', async () => {
    const before = (await adminGet(agent.adminPort, '/debug/cache')).body;
    const exchanges = (await adminGet(agent.adminPort, '/debug/upstreams')).body.servers[0].queries;
    const queries = stub.queries.length;
    await adminGet(agent.adminPort, '/debug/explain?name=www.test');
    await adminGet(agent.adminPort, '/debug/explain?name=fresh.test');
    const afterCache = (await adminGet(agent.adminPort, '/debug/cache')).body;
    assert.equal(afterCache.hits, before.hits);
    assert.equal(afterCache.entries, before.entries);
    assert.equal(stub.queries.length, queries + 1, 'one probe upstream for the uncached name');
    const up = (await adminGet(agent.adminPort, '/debug/upstreams')).body;
    assert.equal(up.servers[0].queries, exchanges, 'the probe is not counted');
  });

  it('explain follows the pipeline: an expired answer served stale when upstream fails, and why', async () => {
    await ask('udp', agent.port, 'flaky.test', 'A');
    flakyDown = true;
    clock.advance(10);
    const r = await adminGet(agent.adminPort, '/debug/explain?name=flaky.test&type=A');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.source, 'stale');
    assert.equal(r.body.upstream.failure.reason, 'timeout');
    assert.equal(r.body.cache.state, 'stale');
    assert.equal(r.body.answer.answers[0].data, '198.51.100.9');
    assert.equal(r.body.answer.answers[0].ttl, 30);
    assert.match(r.body.why, /served stale/);
  });

  it('explain: a bad type is a 400', async () => {
    assert.equal((await adminGet(agent.adminPort, '/debug/explain?name=x.test&type=NOPE')).status, 400);
  });

  it('refuses a non-loopback address unless allowed', () => {
    const source = {} as never;
    assert.throws(() => new AdminServer({ host: '0.0.0.0', port: 0 }, source), {
      code: 'MESHDNS_ADMIN_REMOTE',
    });
    assert.doesNotThrow(() => new AdminServer({ host: '0.0.0.0', port: 0, allowRemote: true }, source));
    assert.doesNotThrow(() => new AdminServer({ host: '::1', port: 0 }, source));
  });
});
