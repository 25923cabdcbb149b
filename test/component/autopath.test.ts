// Autopath for every name (issue 14 item 2): a real agent with the workload's search list in front of
// a scripted upstream on loopback. `<name>.<first search domain>` for a name outside the mesh is answered
// `CNAME <name>` plus `<name>`'s records, asking upstream for `<name>` only; a name that does not exist
// goes on as before (NXDOMAIN from upstream), and one that exists only under the search domain still
// resolves. Every case over UDP and TCP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import pino from 'pino';
import { explain } from '../../src/agent/explain.js';
import { Agent } from '../../src/agent/index.js';
import { emptyResources } from '../../src/model/index.js';
import { buildNameTable } from '../../src/nametable/index.js';
import { answersOf, ask, type Proto, rcodeOf } from '../helpers/dns-client.js';
import { a, soa } from '../helpers/fake-upstream.js';
import { service } from '../helpers/resources.js';
import { type StubDns, startStubDnsUdpTcp } from '../helpers/stub-dns.js';

const S = 'default.svc.cluster.local';
const SEARCH = [S, 'svc.cluster.local', 'cluster.local'];
const NOERROR = 0;
const NXDOMAIN = 3;

/** The cluster's DNS as CoreDNS answers: cluster.local names it has, the internet's names, NXDOMAIN else. */
function upstream(q: dnsPacket.Question): Partial<dnsPacket.Packet> {
  const name = q.name.toLowerCase();
  if (name === 'api.github.com')
    return q.type === 'A'
      ? { answers: [a('api.github.com', 60, '140.82.121.6')] }
      : { authorities: [soa('github.com', 60, 60)] };
  if (name === 'www.example.org')
    return {
      answers: [
        { name: 'www.example.org', type: 'CNAME', ttl: 300, data: 'edge.example.net' },
        a('edge.example.net', 20, '198.51.100.7'),
      ],
    };
  // A pod's own name: only under the search domain, not in the mesh table.
  if (name === `only-here.${S}`) return { answers: [a(`only-here.${S}`, 5, '10.1.1.1')] };
  return {
    flags: NXDOMAIN,
    authorities: [soa(name.endsWith('cluster.local') ? 'cluster.local' : '.', 5, 5)],
  };
}

async function startAgent(stub: StubDns, opts: { autopath?: boolean; cache?: boolean } = {}): Promise<Agent> {
  const agent = new Agent({
    listen: { host: '127.0.0.1', port: 0 },
    upstreams: [stub],
    upstreamTimeoutMs: 2000,
    logger: pino({ level: 'silent' }),
    searchDomains: SEARCH,
    autopath: opts.autopath,
    cache: opts.cache === false ? false : undefined,
  });
  await agent.start();
  const r = emptyResources();
  r.services.push(service('default', 'reviews', ['10.96.0.11']));
  agent.setTable(
    buildNameTable(r, { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: SEARCH }),
  );
  return agent;
}

interface Case {
  name: string;
  qname: string;
  type: 'A' | 'AAAA';
  rcode: number;
  answers: string[];
  /** What reached upstream, in order. */
  asked: string[];
}

const CASES: Case[] = [
  {
    name: 'external name under the first search domain: CNAME to it, then its records',
    qname: `api.github.com.${S}`,
    type: 'A',
    rcode: NOERROR,
    answers: [`api.github.com.${S} CNAME api.github.com`, 'api.github.com A 140.82.121.6'],
    asked: ['api.github.com A'],
  },
  {
    name: 'the name exists without records of the type: the CNAME alone (NODATA), the search ends',
    qname: `api.github.com.${S}`,
    type: 'AAAA',
    rcode: NOERROR,
    answers: [`api.github.com.${S} CNAME api.github.com`],
    asked: ['api.github.com AAAA'],
  },
  {
    name: "the name's own CNAME chain follows ours",
    qname: `www.example.org.${S}`,
    type: 'A',
    rcode: NOERROR,
    answers: [
      `www.example.org.${S} CNAME www.example.org`,
      'www.example.org CNAME edge.example.net',
      'edge.example.net A 198.51.100.7',
    ],
    asked: ['www.example.org A'],
  },
  {
    name: 'no such name: NXDOMAIN, as before (the expansion itself asked upstream)',
    qname: `nowhere.example.${S}`,
    type: 'A',
    rcode: NXDOMAIN,
    answers: [],
    asked: ['nowhere.example A', `nowhere.example.${S} A`],
  },
  {
    name: 'a name only under the search domain (a pod) still resolves',
    qname: `only-here.${S}`,
    type: 'A',
    rcode: NOERROR,
    answers: [`only-here.${S} A 10.1.1.1`],
    asked: ['only-here A', `only-here.${S} A`],
  },
  {
    name: 'a mesh name: the table answers, nothing asked upstream',
    qname: `reviews.${S}`,
    type: 'A',
    rcode: NOERROR,
    answers: [`reviews.${S} A 10.96.0.11`],
    asked: [],
  },
  {
    name: 'the second search domain is not autopath: forwarded as asked',
    qname: 'api.github.com.svc.cluster.local',
    type: 'A',
    rcode: NXDOMAIN,
    answers: [],
    asked: ['api.github.com.svc.cluster.local A'],
  },
];

describe('autopath: <name>.<first search domain> for names outside the mesh', () => {
  let stub: StubDns;
  let agent: Agent;
  before(async () => {
    stub = await startStubDnsUdpTcp(upstream);
    // No cache: each case sees its own upstream queries, whatever ran before it.
    agent = await startAgent(stub, { cache: false });
  });
  after(async () => {
    await agent?.close();
    await stub?.close();
  });

  for (const proto of ['udp', 'tcp'] as Proto[]) {
    for (const c of CASES) {
      it(`${proto}: ${c.name}`, async () => {
        const before = stub.queries.length;
        const p = await ask(proto, agent.port, c.qname, c.type, { timeoutMs: 3000 });
        assert.equal(rcodeOf(p.raw), c.rcode);
        assert.deepEqual(answersOf(p), c.answers);
        assert.deepEqual(
          stub.queries.slice(before).map((q) => `${q.name} ${q.type}`),
          c.asked,
        );
      });
    }
  }

  it("the client's question comes back byte for byte (0x20 case), with its ID and EDNS", async () => {
    const qname = `API.GitHub.com.Default.svc.Cluster.local`;
    const p = await ask('udp', agent.port, qname, 'A', { id: 0x1234, edns: 1232 });
    assert.equal(p.id, 0x1234);
    assert.equal(p.questions?.[0]?.name, qname);
    assert.equal(p.flags! & dnsPacket.AUTHORITATIVE_ANSWER, 0, 'not authoritative for a name it did not own');
    assert.deepEqual(
      (p.additionals ?? []).map((r) => r.type),
      ['OPT'],
    );
    assert.equal(answersOf(p)[1], 'api.github.com A 140.82.121.6');
  });

  it('answers are counted as source autopath', () => {
    assert.ok(agent.autopath!.stats().answered >= 7, JSON.stringify(agent.autopath!.stats()));
  });

  it('explain shows autopath: the name it resolved, where from, and the CNAME answer; nothing counted', async () => {
    const counted = agent.autopath!.stats();
    const e = await explain({ pipeline: agent.pipeline }, `api.github.com.${S}`, 'A');
    assert.equal(e.source, 'autopath');
    assert.deepEqual(e.autopath, { target: 'api.github.com.', answered: true, from: 'upstream' });
    assert.match(e.why, /api\.github\.com\. plus the workload's first search domain/);
    assert.deepEqual(
      e.answer?.answers.map((r) => `${r.type} ${r.data}`),
      ['CNAME api.github.com.', 'A 140.82.121.6'],
    );
    assert.deepEqual(agent.autopath!.stats(), counted);
  });

  it('explain of a name that does not exist: autopath asked first, then the question as asked', async () => {
    const e = await explain({ pipeline: agent.pipeline }, `no-such.example.${S}`, 'A');
    assert.equal(e.source, 'upstream');
    assert.deepEqual(e.autopath, { target: 'no-such.example.', answered: false, from: 'upstream' });
    assert.match(e.why, /autopath asked for no-such\.example\. first, which does not exist \(NXDOMAIN\)/);
    assert.equal(e.answer?.rcode, 'NXDOMAIN');
  });
});

describe('autopath with the cache: the name itself is cached and shared', () => {
  it('a second lookup under the search domain asks upstream nothing; the name itself is a cache hit', async () => {
    const stub = await startStubDnsUdpTcp(upstream);
    const agent = await startAgent(stub);
    try {
      await ask('udp', agent.port, `api.github.com.${S}`, 'A');
      const before = stub.queries.length;
      const again = await ask('udp', agent.port, `api.github.com.${S}`, 'A');
      const plain = await ask('udp', agent.port, 'api.github.com', 'A');
      assert.deepEqual(answersOf(again), [
        `api.github.com.${S} CNAME api.github.com`,
        'api.github.com A 140.82.121.6',
      ]);
      assert.deepEqual(answersOf(plain), ['api.github.com A 140.82.121.6']);
      assert.equal(stub.queries.length, before);
    } finally {
      await agent.close();
      await stub.close();
    }
  });
});

describe('--no-autopath, or no search list: forwarded as asked', () => {
  const variants: [string, { autopath?: boolean; search: boolean }][] = [
    ['autopath off', { autopath: false, search: true }],
    ['no search list', { search: false }],
  ];
  for (const [name, v] of variants) {
    it(name, async () => {
      const stub = await startStubDnsUdpTcp(upstream);
      const agent = v.search
        ? await startAgent(stub, { autopath: v.autopath, cache: false })
        : new Agent({
            listen: { host: '127.0.0.1', port: 0 },
            upstreams: [stub],
            upstreamTimeoutMs: 2000,
            logger: pino({ level: 'silent' }),
            cache: false,
          });
      try {
        if (!v.search) {
          await agent.start();
          agent.setTable(
            buildNameTable(emptyResources(), {
              namespace: 'default',
              clusterDomain: 'cluster.local',
              searchDomains: [],
            }),
          );
        }
        const p = await ask('udp', agent.port, `api.github.com.${S}`, 'A');
        assert.equal(rcodeOf(p.raw), NXDOMAIN);
        assert.deepEqual(
          stub.queries.map((q) => q.name),
          [`api.github.com.${S}`],
        );
      } finally {
        await agent.close();
        await stub.close();
      }
    });
  }
});
