import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import {
  buildAnswer,
  buildHeaderOnly,
  encodeName,
  encodeRecord,
  keyToName,
  nameToKey,
  parentKey,
  QTYPE,
  type Query,
  readQuery,
  recordRun,
  toFqdn,
  truncateResponse,
} from '../../src/dns/index.js';
import { encodeQuery } from '../helpers/dns-client.js';

describe('names', () => {
  it('normalises to lower case with the trailing dot', () => {
    assert.equal(toFqdn('Foo.Example.COM'), 'foo.example.com.');
    assert.equal(toFqdn('foo.example.com.'), 'foo.example.com.');
  });
  it('keys round-trip and strip labels from the front', () => {
    const key = nameToKey('Foo.Example.com.');
    assert.equal(key, '\x03foo\x07example\x03com\x00');
    assert.equal(keyToName(key), 'foo.example.com.');
    assert.equal(keyToName(parentKey(key) as string), 'example.com.');
    assert.equal(parentKey('\x00'), undefined);
  });
  it('rejects labels and names that do not fit the wire format', () => {
    assert.throws(() => encodeName(`${'a'.repeat(64)}.com.`), RangeError);
    assert.throws(() => encodeName(`${'abcdefghi.'.repeat(26)}`), RangeError);
    assert.throws(() => encodeName('a..b.'), RangeError);
    // A character past latin1 is no reason to skip the checks of the labels after it.
    assert.throws(() => nameToKey(`ā.${'a'.repeat(64)}.com.`), RangeError);
    assert.throws(() => nameToKey(`ā.${'abcdefghi.'.repeat(26)}`), RangeError);
    assert.equal(nameToKey('ā.com.'), '\x01ā\x03com\x00');
  });
});

describe('readQuery', () => {
  it('reads header, question and EDNS in place', () => {
    const msg = encodeQuery('WWW.Example.com', 'AAAA', { id: 99, edns: 4096 });
    const q = readQuery(msg) as Query;
    assert.equal(q.id, 99);
    assert.equal(q.qkey, nameToKey('www.example.com.'));
    assert.equal(q.qtype, QTYPE.AAAA);
    assert.equal(q.qclass, 1);
    assert.deepEqual(q.edns, { udpSize: 4096, do: false });
    assert.equal(msg.toString('latin1', 13, 16), 'WWW', 'the question bytes are untouched');
  });
  it('raises a small EDNS size to 512', () => {
    const q = readQuery(encodeQuery('a.b', 'A', { edns: 100 })) as Query;
    assert.equal(q.edns?.udpSize, 512);
  });

  const valid = encodeQuery('a.example', 'A');
  const withFlags = (flags: number) => {
    const m = Buffer.from(valid);
    m.writeUInt16BE(flags, 2);
    return m;
  };
  const withCount = (qd: number) => {
    const m = Buffer.from(valid);
    m.writeUInt16BE(qd, 4);
    return m;
  };
  const problems: [string, Buffer, string][] = [
    ['shorter than a header', Buffer.alloc(5), 'drop'],
    ['QR set', withFlags(0x8100), 'formerr'],
    ['QDCOUNT 0', withCount(0), 'formerr'],
    ['QDCOUNT 2', withCount(2), 'formerr'],
    ['opcode STATUS', withFlags(2 << 11), 'notimp'],
    ['question cut short', valid.subarray(0, valid.length - 3), 'drop'],
    [
      'compression pointer in the question',
      Buffer.concat([valid.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
      'drop',
    ],
    [
      'label longer than 63',
      Buffer.concat([valid.subarray(0, 12), Buffer.from([64]), Buffer.alloc(70)]),
      'drop',
    ],
    [
      'additional count beyond the end',
      (() => {
        const m = Buffer.from(valid);
        m.writeUInt16BE(3, 10);
        return m;
      })(),
      'drop',
    ],
  ];
  for (const [name, msg, want] of problems) {
    it(`${name} → ${want}`, () => assert.equal(readQuery(msg), want));
  }
});

describe('responses', () => {
  const query = encodeQuery('Many.Example', 'A', { id: 7 });
  const q = readQuery(query) as Query;
  const ips = Array.from({ length: 50 }, (_, i) => Buffer.from([192, 0, 2, i]));
  const parts = {
    prefix: Buffer.alloc(0),
    prefixCount: 0,
    run: recordRun(ips.map((ip) => encodeRecord(null, 1, 30, ip))),
  };

  it('answers with the question copied, rotated records, and fits the limit with TC', () => {
    const out = buildAnswer(query, q, parts, 3, 512);
    assert.ok(out.length <= 512);
    const p = dnsPacket.decode(out);
    assert.equal(p.id, 7);
    assert.equal(p.questions?.[0].name, 'Many.Example');
    assert.ok(out.readUInt16BE(2) & 0x0200, 'TC set');
    assert.equal(p.answers?.[0].type === 'A' && p.answers[0].data, '192.0.2.3');
    assert.equal(p.answers?.length, Math.floor((512 - q.qEnd) / 16));
  });
  it('is whole when it fits', () => {
    const p = dnsPacket.decode(buildAnswer(query, q, parts, 0, 65535));
    assert.equal(p.answers?.length, 50);
    assert.equal(p.flag_tc, false);
  });
  it('truncates an upstream response at a record boundary and keeps EDNS', () => {
    const big = dnsPacket.encode({
      type: 'response',
      id: 7,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: 'Many.Example', type: 'TXT' }],
      answers: Array.from({ length: 20 }, () => ({
        name: 'Many.Example',
        type: 'TXT' as const,
        ttl: 60,
        data: 'x'.repeat(100),
      })),
    });
    const eq = readQuery(encodeQuery('Many.Example', 'TXT', { edns: 1232 })) as Query;
    const cut = truncateResponse(big, eq, 1232);
    assert.ok(cut.length <= 1232);
    const p = dnsPacket.decode(cut);
    assert.equal(p.flag_tc, true);
    assert.equal(p.answers?.length, Math.floor((1232 - 11 - eq.qEnd) / 126));
    assert.equal(p.additionals?.[0].type, 'OPT');
  });
  it('header-only errors keep the ID and opcode', () => {
    const m = encodeQuery('x', 'A', { id: 0xbeef });
    m.writeUInt16BE(0x0100 | (2 << 11), 2);
    const out = buildHeaderOnly(m, 4);
    assert.equal(out.readUInt16BE(0), 0xbeef);
    assert.equal(out.readUInt16BE(2), 0x8000 | (2 << 11) | 0x0100 | 4);
  });
});
