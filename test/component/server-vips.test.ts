// SPEC §3.5 and §5 on the wire: ServiceEntry hosts without addresses answer with their VIPs when
// the workload has auto-allocation on, and are not in the table when it is off. Over UDP and TCP,
// against a real server on an ephemeral loopback port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { vipRanges } from '../../src/allocate/index.js';
import { buildView } from '../../src/controller/index.js';
import { emptyResources, type Resources, type Workload } from '../../src/model/index.js';
import { DnsServer, Pipeline, TableStage } from '../../src/server/index.js';
import { answersOf, ask, rcodeOf } from '../helpers/dns-client.js';
import { serviceEntry } from '../helpers/resources.js';
import { TRANSPORTS } from '../helpers/udp-io.js';

const S = 'default.svc.cluster.local';
const src = { file: 'test.yaml', doc: 0 };

function mesh(): Resources {
  const r = emptyResources();
  const meta = (name: string, day: number, labels: Record<string, string> = {}) => ({
    name,
    namespace: 'default',
    labels,
    annotations: {},
    creationTimestamp: `2024-01-${String(day).padStart(2, '0')}T00:00:00Z`,
  });
  r.serviceEntries.push(
    serviceEntry('default', 'db-b', ['db-b.example.com'], { meta: meta('db-b', 11), resolution: 'DNS' }),
    serviceEntry('default', 'db-a', ['db-a.example.com'], { meta: meta('db-a', 10), resolution: 'DNS' }),
    serviceEntry('default', 'none', ['none.example.com'], { meta: meta('none', 1), resolution: 'NONE' }),
    serviceEntry('default', 'out', ['out.example.com'], {
      meta: meta('out', 2, { 'networking.istio.io/enable-autoallocate-ip': 'False' }),
      resolution: 'DNS',
    }),
    serviceEntry('default', 'fixed', ['fixed.example.com'], { addresses: ['192.0.2.7'], resolution: 'DNS' }),
  );
  r.mesh.push({ kind: 'MeshConfig', proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true' }, source: src });
  return r;
}

function workload(autoAllocate: string): Workload {
  return {
    kind: 'Pod',
    meta: { name: 'app', namespace: 'default', labels: {}, annotations: {} },
    proxyMetadata: { ISTIO_META_DNS_AUTO_ALLOCATE: autoAllocate },
    source: src,
  };
}

interface Case {
  qname: string;
  qtype: string;
  rcode: number;
  answers: string[];
}

// No upstream in these tests: a name the table does not hold ends in SERVFAIL.
const common: Case[] = [
  { qname: 'fixed.example.com', qtype: 'A', rcode: 0, answers: ['fixed.example.com A 192.0.2.7'] },
  { qname: 'none.example.com', qtype: 'A', rcode: 2, answers: [] },
  { qname: 'out.example.com', qtype: 'A', rcode: 2, answers: [] },
];
const tables: { name: string; autoAllocate: string; cases: Case[] }[] = [
  {
    name: 'auto-allocation on',
    autoAllocate: 'true',
    cases: [
      { qname: 'db-a.example.com', qtype: 'A', rcode: 0, answers: ['db-a.example.com A 240.240.0.1'] },
      { qname: 'db-b.example.com', qtype: 'A', rcode: 0, answers: ['db-b.example.com A 240.240.0.2'] },
      { qname: 'db-a.example.com', qtype: 'AAAA', rcode: 0, answers: ['db-a.example.com AAAA 2001:2::1'] },
      { qname: 'DB-B.Example.com', qtype: 'AAAA', rcode: 0, answers: ['DB-B.Example.com AAAA 2001:2::2'] },
      { qname: 'db-a.example.com', qtype: 'MX', rcode: 0, answers: [] },
      {
        qname: `db-a.example.com.${S}`,
        qtype: 'A',
        rcode: 0,
        answers: [`db-a.example.com.${S} CNAME db-a.example.com`, 'db-a.example.com A 240.240.0.1'],
      },
      ...common,
    ],
  },
  {
    name: 'auto-allocation off',
    autoAllocate: 'false',
    cases: [
      { qname: 'db-a.example.com', qtype: 'A', rcode: 2, answers: [] },
      { qname: 'db-b.example.com', qtype: 'AAAA', rcode: 2, answers: [] },
      ...common,
    ],
  },
];

for (const t of tables) {
  for (const { proto, io, label } of TRANSPORTS) {
    describe(`VIP answers, ${t.name}, over ${label}`, () => {
      let server: DnsServer;
      before(async () => {
        const view = buildView(
          mesh(),
          [],
          workload(t.autoAllocate),
          {
            scope: { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [S] },
            ranges: vipRanges('240.240.0.0/16', '2001:2::/48'),
            graceMs: 0,
          },
          { now: 0 },
        );
        const stage = new TableStage();
        stage.set(view.table);
        server = new DnsServer({ host: '127.0.0.1', port: 0, pipeline: new Pipeline([stage]), udp: { io } });
        await server.start();
      });
      after(() => server.close());

      for (const c of t.cases) {
        it(`${c.qname} ${c.qtype}`, async () => {
          const reply = await ask(proto, server.port, c.qname, c.qtype);
          assert.equal(rcodeOf(reply.raw), c.rcode);
          assert.deepEqual(answersOf(reply), c.answers);
          if (c.rcode === 0) for (const a of reply.answers ?? []) assert.equal('ttl' in a && a.ttl, 30);
        });
      }
    });
  }
}
