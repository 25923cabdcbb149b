// SPEC §3–4 table answers over UDP and TCP against a real server on an ephemeral loopback port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DnsServer } from '../../src/server/index.js';
import { answersOf, ask, rcodeOf } from '../helpers/dns-client.js';
import { startTableServer } from '../helpers/table-server.js';
import { TRANSPORTS } from '../helpers/udp-io.js';

interface Case {
  name: string;
  qname: string;
  qtype: string;
  rcode: number;
  /** Expected answers as "owner type data", compared as a set (rotation changes the order). */
  answers: string[];
}

const S = 'default.svc.cluster.local';
const cases: Case[] = [
  {
    name: 'ClusterIP service',
    qname: `productpage.${S}`,
    qtype: 'A',
    rcode: 0,
    answers: [`productpage.${S} A 10.96.0.10`],
  },
  { name: 'other family: NODATA', qname: `productpage.${S}`, qtype: 'AAAA', rcode: 0, answers: [] },
  { name: 'other type: NODATA', qname: `productpage.${S}`, qtype: 'TXT', rcode: 0, answers: [] },
  {
    name: 'IPv6 cluster IP',
    qname: `reviews.${S}`,
    qtype: 'AAAA',
    rcode: 0,
    answers: [`reviews.${S} AAAA fd00:10:96::11`],
  },
  {
    name: 'alias name.ns',
    qname: 'productpage.default',
    qtype: 'A',
    rcode: 0,
    answers: ['productpage.default A 10.96.0.10'],
  },
  {
    name: 'alias name.ns.svc',
    qname: 'reviews.default.svc',
    qtype: 'A',
    rcode: 0,
    answers: ['reviews.default.svc A 10.96.0.11'],
  },
  {
    name: 'alias name (same ns)',
    qname: 'productpage',
    qtype: 'A',
    rcode: 0,
    answers: ['productpage A 10.96.0.10'],
  },
  {
    name: 'mixed case keeps the question',
    qname: 'ProductPage.Default',
    qtype: 'A',
    rcode: 0,
    answers: ['ProductPage.Default A 10.96.0.10'],
  },
  {
    name: 'headless: ready endpoints only',
    qname: 'ledger.payments.svc.cluster.local',
    qtype: 'A',
    rcode: 0,
    answers: [
      'ledger.payments.svc.cluster.local A 10.244.1.5',
      'ledger.payments.svc.cluster.local A 10.244.1.6',
    ],
  },
  {
    name: 'headless: endpoint hostname',
    qname: 'ledger-1.ledger.payments.svc.cluster.local',
    qtype: 'A',
    rcode: 0,
    answers: ['ledger-1.ledger.payments.svc.cluster.local A 10.244.1.6'],
  },
  {
    name: 'search shortcut: CNAME then records',
    qname: `checkout.payments.${S}`,
    qtype: 'A',
    rcode: 0,
    answers: [`checkout.payments.${S} CNAME checkout.payments`, 'checkout.payments A 10.96.1.10'],
  },
  {
    name: 'ExternalName to a table name: CNAME chain',
    qname: `billing.${S}`,
    qtype: 'A',
    rcode: 0,
    answers: [`billing.${S} CNAME productpage.${S}`, `productpage.${S} A 10.96.0.10`],
  },
  {
    name: 'ServiceEntry with addresses',
    qname: 'api.partner.com',
    qtype: 'AAAA',
    rcode: 0,
    answers: ['api.partner.com AAAA 2001:db8::10'],
  },
  {
    name: 'ServiceEntries merge IPs, CIDRs skipped',
    qname: 'legacy.internal',
    qtype: 'A',
    rcode: 0,
    answers: ['legacy.internal A 192.0.2.20', 'legacy.internal A 192.0.2.21'],
  },
  {
    name: 'wildcard, one label',
    qname: 'en.wiki.example.org',
    qtype: 'A',
    rcode: 0,
    answers: ['en.wiki.example.org A 192.0.2.30'],
  },
  {
    name: 'wildcard, two labels',
    qname: 'a.b.wiki.example.org',
    qtype: 'A',
    rcode: 0,
    answers: ['a.b.wiki.example.org A 192.0.2.30'],
  },
  {
    name: 'most specific wildcard',
    qname: 'x.deep.wiki.example.org',
    qtype: 'A',
    rcode: 0,
    answers: ['x.deep.wiki.example.org A 192.0.2.31'],
  },
  {
    name: 'wildcard via search shortcut',
    qname: `en.wiki.example.org.${S}`,
    qtype: 'A',
    rcode: 0,
    answers: [`en.wiki.example.org.${S} CNAME en.wiki.example.org`, 'en.wiki.example.org A 192.0.2.30'],
  },
  {
    name: 'Service beats ServiceEntry',
    qname: `shared.${S}`,
    qtype: 'A',
    rcode: 0,
    answers: [`shared.${S} A 10.96.0.50`],
  },
  // Names outside the table fall through every stage here (no upstream in this test): SERVFAIL.
  { name: 'wildcard apex is not covered', qname: 'wiki.example.org', qtype: 'A', rcode: 2, answers: [] },
  {
    name: 'exportTo "." hides other namespaces',
    qname: 'private.example.com',
    qtype: 'A',
    rcode: 2,
    answers: [],
  },
  { name: 'no address, no VIP yet', qname: 'vip.example.com', qtype: 'A', rcode: 2, answers: [] },
  { name: 'name alias only in own namespace', qname: 'checkout', qtype: 'A', rcode: 2, answers: [] },
];

for (const { proto, io, label } of TRANSPORTS) {
  describe(`table answers over ${label}`, () => {
    let server: DnsServer;
    before(async () => {
      server = await startTableServer({ searchDomains: [S], udpIo: io });
    });
    after(() => server.close());

    for (const c of cases) {
      it(c.name, async () => {
        const reply = await ask(proto, server.port, c.qname, c.qtype, { id: 777 });
        assert.equal(reply.id, 777);
        assert.equal(rcodeOf(reply.raw), c.rcode);
        assert.equal(reply.questions?.[0].name, c.qname, 'question echoed with its case');
        assert.deepEqual(new Set(answersOf(reply)), new Set(c.answers));
        if (c.rcode === 0) {
          assert.ok(reply.raw.readUInt16BE(2) & 0x0400, 'table answers are authoritative');
          for (const a of reply.answers ?? []) assert.equal('ttl' in a && a.ttl, 30);
        }
      });
    }

    it('rotates the order of multi-IP answers', async () => {
      const firsts = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const reply = await ask(proto, server.port, 'legacy.internal', 'A');
        firsts.add(answersOf(reply)[0]);
      }
      assert.equal(firsts.size, 2);
    });

    it('a large answer is cut at a record boundary with TC over UDP, whole over TCP', async () => {
      const reply = await ask(proto, server.port, 'many.example.com', 'A');
      const tc = (reply.raw.readUInt16BE(2) & 0x0200) !== 0;
      if (proto === 'udp') {
        assert.ok(reply.raw.length <= 512);
        assert.equal(tc, true);
        assert.equal(reply.answers?.length, Math.floor((512 - 12 - 'many.example.com'.length - 6) / 16));
      } else {
        assert.equal(tc, false);
        assert.equal(reply.answers?.length, 40);
      }
      const edns = await ask(proto, server.port, 'many.example.com', 'A', { edns: 4096 });
      assert.equal(edns.answers?.length, 40, 'the EDNS buffer size raises the UDP limit');
    });

    it('EDNS query gets an OPT record back', async () => {
      const reply = await ask(proto, server.port, `productpage.${S}`, 'A', { edns: 1232 });
      assert.equal(reply.additionals?.filter((r) => r.type === 'OPT').length, 1);
      assert.equal(reply.answers?.length, 1);
    });
  });
}
