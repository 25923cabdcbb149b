import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { readQuery, scanMessage } from '../../src/dns/index.js';
import { classifyReply } from '../../src/upstream/index.js';
import { answersQuery, buildQuery, toClientReply, withId } from '../../src/upstream/message.js';

function query(name: string, id = 0x4242, type: 'A' | 'AAAA' = 'A'): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
  });
}

function replyTo(sent: Buffer, edit: (r: Buffer) => void = () => {}): Buffer {
  const r = Buffer.from(sent);
  r.writeUInt16BE(0x8180, 2);
  edit(r);
  return r;
}

const qEnd = (buf: Buffer): number => {
  const q = readQuery(buf);
  if (typeof q === 'string') throw new Error(q);
  return q.qEnd;
};

describe('answersQuery', () => {
  const sent = query('foo.example');
  const cases: Array<{ name: string; reply: Buffer; want: boolean }> = [
    { name: 'the matching reply', reply: replyTo(sent), want: true },
    {
      name: 'name in another case (0x20)',
      reply: replyTo(sent, (r) => Buffer.from('FoO', 'latin1').copy(r, 13)),
      want: true,
    },
    { name: 'another ID', reply: replyTo(sent, (r) => r.writeUInt16BE(0x4243, 0)), want: false },
    { name: 'QR clear', reply: replyTo(sent, (r) => r.writeUInt16BE(0x0100, 2)), want: false },
    { name: 'no question', reply: replyTo(sent, (r) => r.writeUInt16BE(0, 4)), want: false },
    { name: 'another name', reply: replyTo(sent, (r) => Buffer.from('bar').copy(r, 13)), want: false },
    { name: 'another type', reply: replyTo(query('foo.example', 0x4242, 'AAAA')), want: false },
    {
      name: 'another class',
      reply: replyTo(sent, (r) => r.writeUInt16BE(3, r.length - 2)),
      want: false,
    },
    { name: 'shorter than the question', reply: replyTo(sent).subarray(0, 20), want: false },
    {
      name: 'a compressed question name',
      reply: (() => {
        const r = replyTo(sent);
        r[12] = 0xc0;
        r[13] = 12;
        return r;
      })(),
      want: false,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(answersQuery(c.reply, sent, qEnd(sent)), c.want);
    });
  }
});

test('toClientReply puts back the client ID and question bytes', () => {
  const client = query('MiXeD.Example', 0x0a0b);
  const upstream = withId(client, 0x7777);
  assert.ok(upstream.subarray(2).equals(client.subarray(2)), 'only the ID differs');
  const reply = replyTo(upstream, (r) => Buffer.from('mixed', 'latin1').copy(r, 13));
  const out = toClientReply(reply, client, qEnd(client));
  assert.equal(out.readUInt16BE(0), 0x0a0b);
  assert.equal(dnsPacket.decode(out).questions?.[0].name, 'MiXeD.Example');
});

test('buildQuery: RD, one question, lower-case FQDN, no EDNS', () => {
  const buf = buildQuery('Db.Example.COM', 28, 0x1234);
  const decoded = dnsPacket.decode(buf);
  assert.equal(decoded.id, 0x1234);
  assert.equal(decoded.flag_rd, true);
  assert.deepEqual(decoded.questions, [{ name: 'db.example.com', type: 'AAAA', class: 'IN' }]);
  assert.equal(decoded.additionals?.length, 0);
  assert.throws(() => buildQuery(`${'a'.repeat(64)}.example`, 1, 1), RangeError);
});

describe('classifyReply: the kind of an upstream reply, decided once', () => {
  const soaRecord = {
    name: 'example',
    type: 'SOA',
    ttl: 60,
    data: {
      mname: 'ns.example',
      rname: 'admin.example',
      serial: 1,
      refresh: 1,
      retry: 1,
      expire: 1,
      minimum: 30,
    },
  } as const;
  const cases: [string, Partial<dnsPacket.Packet>, string][] = [
    ['answers', { answers: [{ name: 'foo.example', type: 'A', ttl: 5, data: '192.0.2.1' }] }, 'success'],
    ['NXDOMAIN', { flags: 3, authorities: [soaRecord] }, 'nxdomain'],
    ['NXDOMAIN without SOA', { flags: 3 }, 'nxdomain'],
    ['no answers, SOA', { authorities: [soaRecord] }, 'nodata'],
    ['no answers, nothing else', {}, 'nodata'],
    [
      'no answers, NS only',
      { authorities: [{ name: 'example', type: 'NS', ttl: 5, data: 'ns.example' }] },
      'referral',
    ],
    ['SERVFAIL', { flags: 2 }, 'error'],
    ['FORMERR', { flags: 1 }, 'error'],
  ];
  for (const [name, fields, want] of cases) {
    test(`${name} → ${want}`, () => {
      const reply = dnsPacket.encode({
        type: 'response',
        id: 1,
        flags: (fields.flags ?? 0) | dnsPacket.RECURSION_DESIRED,
        questions: [{ type: 'A', name: 'foo.example' }],
        answers: fields.answers ?? [],
        authorities: fields.authorities ?? [],
      });
      assert.equal(classifyReply(scanMessage(reply)), want);
    });
  }
  test('a reply that does not parse → error', () => {
    const reply = replyTo(query('foo.example'));
    reply.writeUInt16BE(1, 6); // ANCOUNT 1, no record follows
    assert.equal(classifyReply(scanMessage(reply)), 'error');
  });
});
