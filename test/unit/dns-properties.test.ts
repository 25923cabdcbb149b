// Properties of the wire code over generated input (issue 11 item 1, fast-check): the in-place readers
// never throw on any bytes, agree with the full decoder (dns-packet) on well-formed messages, and
// what the server builds always parses, carries the query's ID and fits the client's limit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { readNameKey, readQuery, scanMessage, skipName, truncateResponse } from '../../src/dns/index.js';
import { encodeQuery, keyOf, MUTATION_NAMES, MUTATIONS, picker, querySpec } from '../fuzz/messages.js';
import { tablePipeline } from '../helpers/table-server.js';

const RUNS = { numRuns: 3000 };
const PROBLEMS = new Set(['formerr', 'notimp', 'drop']);

/** A well-formed query, or one bent by a structure-aware mutation, or random bytes. */
const anyMessage = fc.oneof(
  querySpec.map(encodeQuery),
  fc
    .tuple(querySpec, fc.constantFrom(...MUTATION_NAMES), fc.integer({ min: 1, max: 0x7fffffff }))
    .map(([s, name, seed]) => MUTATIONS[name]!(encodeQuery(s), picker(seed))),
  fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
);

describe('wire readers never throw, whatever the bytes', () => {
  it('readQuery: a query or a problem; a query lies within the message', () => {
    fc.assert(
      fc.property(anyMessage, (msg) => {
        const q = readQuery(msg);
        if (typeof q === 'string') return PROBLEMS.has(q);
        return q.qEnd <= msg.length && q.qkey.length <= 255 && q.qkey.endsWith('\x00');
      }),
      RUNS,
    );
  });

  it('scanMessage, readNameKey and skipName at any offset', () => {
    fc.assert(
      fc.property(anyMessage, fc.nat(700), (msg, off) => {
        const view = scanMessage(msg);
        if (view !== null) assert.ok(view.records.every((r) => r.end <= msg.length));
        const key = readNameKey(msg, off);
        const end = skipName(msg, off);
        return (key === undefined || key.length <= 255) && end <= msg.length;
      }),
      RUNS,
    );
  });
});

describe('the in-place reader agrees with the full decoder', () => {
  it('on every well-formed query: ID, name, type, class, EDNS size and DO bit', () => {
    fc.assert(
      fc.property(querySpec, (s) => {
        const msg = encodeQuery(s);
        const q = readQuery(msg);
        assert.ok(typeof q === 'object', `read as ${q}`);
        // dns-packet reads the header and question (its EDNS option decoders throw on some options).
        const head = Buffer.from(msg.subarray(0, q.qEnd));
        head.writeUInt16BE(0, 10);
        const full = dnsPacket.decode(head);
        assert.equal(q.id, full.id);
        assert.equal(q.qkey, keyOf(s.labels));
        assert.equal(q.qkey, keyOf((full.questions?.[0]?.name ?? '').split('.').filter(Boolean)));
        assert.equal(q.qtype, s.qtype);
        assert.equal(q.qclass, s.qclass);
        assert.equal(q.qEnd, 12 + s.labels.reduce((n, l) => n + 1 + l.length, 1) + 4);
        if (s.edns === null) assert.equal(q.edns, null);
        else {
          assert.equal(q.edns?.udpSize, Math.max(512, s.edns.udpSize));
          assert.equal(q.edns?.do, s.edns.do);
        }
      }),
      RUNS,
    );
  });

  it('scanMessage sees every record dns-packet encodes, with its owner and type (encode∘decode)', () => {
    const name = fc
      .array(fc.stringMatching(/^[a-z0-9]{1,12}$/), { minLength: 1, maxLength: 4 })
      .map((l) => l.join('.'));
    const record = fc.oneof(
      fc.record({ name, type: fc.constant('A' as const), ttl: fc.nat(86400), data: fc.ipV4() }),
      fc.record({
        name,
        type: fc.constant('AAAA' as const),
        ttl: fc.nat(86400),
        data: fc.constant('2001:db8::1'),
      }),
      fc.record({ name, type: fc.constant('CNAME' as const), ttl: fc.nat(86400), data: name }),
      fc.record({
        name,
        type: fc.constant('TXT' as const),
        ttl: fc.nat(86400),
        data: fc.string({ maxLength: 40 }),
      }),
    );
    fc.assert(
      fc.property(
        name,
        fc.array(record, { maxLength: 8 }),
        fc.array(record, { maxLength: 3 }),
        (q, answers, authorities) => {
          const msg = dnsPacket.encode({
            type: 'response',
            id: 7,
            questions: [{ name: q, type: 'A' }],
            answers,
            authorities,
          });
          const view = scanMessage(msg);
          assert.ok(view);
          const all = [...answers, ...authorities];
          assert.deepEqual(
            view.records.map((r) => [r.owner, r.type, r.ttl]),
            all.map((r) => [
              keyOf(r.name.split('.')),
              dnsPacket.decode(dnsPacket.encode({ answers: [r] })).answers![0]!.type === r.type
                ? typeNumber(r.type)
                : -1,
              r.ttl,
            ]),
          );
          // The round trip: dns-packet reads back what it wrote, so the reader is compared with the truth.
          assert.equal(dnsPacket.decode(msg).answers?.length, answers.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

function typeNumber(type: string): number {
  return { A: 1, AAAA: 28, CNAME: 5, TXT: 16 }[type] ?? -1;
}

describe('what the server sends always parses and fits', () => {
  const pipeline = tablePipeline(['default.svc.cluster.local']);

  it('any message through the table pipeline: no throw; a reply parses and carries the ID', () => {
    fc.assert(
      fc.property(anyMessage, (msg) => {
        const out = pipeline.answer(msg, 'udp');
        assert.ok(!(out instanceof Promise), 'the table pipeline answers synchronously');
        if (out === null) return true;
        const reply = dnsPacket.decode(out);
        assert.equal(reply.id, msg.readUInt16BE(0));
        assert.ok(out.length <= 65535);
        return true;
      }),
      RUNS,
    );
  });

  it('truncateResponse: within the limit (or header and question), parses, TC set when cut', () => {
    const ips = fc.array(fc.ipV4(), { minLength: 1, maxLength: 120 });
    fc.assert(
      fc.property(querySpec, ips, fc.integer({ min: 12, max: 4096 }), (s, addresses, limit) => {
        const labels = s.labels.length > 0 ? s.labels : ['x'];
        const msg = encodeQuery({ ...s, labels, qtype: 1, qclass: 1 });
        const q = readQuery(msg);
        assert.ok(typeof q === 'object');
        const name = labels.join('.');
        const full = dnsPacket.encode({
          type: 'response',
          id: s.id,
          questions: [{ name, type: 'A' }],
          answers: addresses.map((data) => ({ name, type: 'A' as const, ttl: 30, data })),
        });
        const cut = truncateResponse(full, q, limit);
        assert.ok(cut.length <= Math.max(limit, q.qEnd + (q.edns ? 11 : 0)), `${cut.length} > ${limit}`);
        const p = dnsPacket.decode(cut);
        assert.equal(p.id, s.id);
        if (cut.length < full.length) assert.ok(p.flag_tc, 'TC set when records were left out');
      }),
      { numRuns: 1000 },
    );
  });
});
