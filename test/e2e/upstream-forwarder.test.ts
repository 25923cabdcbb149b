// The forwarder against real dnsmasq instances on loopback. The cases that need no dnsmasq
// (anti-spoofing, the in-flight cap, close(), the budget) are in test/component/upstream-forwarder.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { replyOf, type UpstreamServer } from '../../src/upstream/index.js';
import { rcodeOf } from '../helpers/dns-client.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, startDnsmasq } from '../helpers/dnsmasq.js';
import { forwardQuery, withForwarder } from '../helpers/forwarder.js';
import { randomLoopback } from '../helpers/ports.js';
import { deadAddress, startStubDns } from '../helpers/stub-dns.js';

const NOERROR = 0;
const NXDOMAIN = 3;
const TXT_STRING = 'x'.repeat(200);
const TRANSPORTS = [
  { name: 'UDP', tcp: false },
  { name: 'TCP', tcp: true },
] as const;

function addresses(resp: Buffer): string[] {
  const out: string[] = [];
  for (const a of dnsPacket.decode(resp).answers ?? []) {
    if (a.type === 'A' || a.type === 'AAAA') out.push(a.data);
  }
  return out;
}

function serverOf(d: Dnsmasq): UpstreamServer {
  return { host: d.address, port: d.port };
}

const skip = dnsmasqPath() ? false : DNSMASQ_MISSING;

describe('Forwarder with dnsmasq', { skip }, () => {
  let alpha: Dnsmasq;
  let beta: Dnsmasq;
  let other: Dnsmasq;

  before(async () => {
    const big = Array.from({ length: 6 }, () => TXT_STRING).join(',');
    [alpha, beta, other] = await Promise.all([
      startDnsmasq({
        hosts: { 'foo.test': ['10.1.0.1'], 'rr.test': ['10.2.0.1'], 'v6.test': ['2001:db8::1'] },
        records: [`txt-record=big.test,${big}`],
      }),
      startDnsmasq({ hosts: { 'rr.test': ['10.2.0.2'] } }),
      // Knows only "other": names under "test" get REFUSED (no upstream), which is a failover case.
      startDnsmasq({ domain: 'other', hosts: { 'x.other': ['10.3.0.1'] } }),
    ]);
  });

  after(async () => {
    await Promise.all([alpha?.stop(), beta?.stop(), other?.stop()]);
  });

  for (const { name, tcp } of TRANSPORTS) {
    const cases = [
      { qname: 'FoO.TeSt', qtype: 'A', rcode: NOERROR, answers: ['10.1.0.1'], cls: 'success' },
      { qname: 'v6.test', qtype: 'AAAA', rcode: NOERROR, answers: ['2001:db8::1'], cls: 'success' },
      { qname: 'foo.test', qtype: 'AAAA', rcode: NOERROR, answers: [], cls: 'nodata' },
      { qname: 'nope.test', qtype: 'A', rcode: NXDOMAIN, answers: [], cls: 'nxdomain' },
    ] as const;
    for (const c of cases) {
      test(`${name}: ${c.qname} ${c.qtype} → ${c.rcode}, client ID and question bytes`, async () => {
        await withForwarder({ servers: [serverOf(alpha)], timeoutMs: 2000 }, async (f) => {
          const { buf, q } = forwardQuery(c.qname, c.qtype, { id: 0x1234 });
          const result = await f.forward(buf, q, { tcp });
          assert.equal(result.kind === 'answered' && result.replyClass, c.cls);
          const resp = replyOf(result);
          assert.ok(resp, 'an answer');
          assert.equal(resp.readUInt16BE(0), 0x1234);
          assert.ok(resp.subarray(12, q.qEnd).equals(buf.subarray(12, q.qEnd)), 'question bytes, case kept');
          assert.equal(rcodeOf(resp), c.rcode);
          assert.deepEqual(addresses(resp), c.answers);
        });
      });
    }

    test(`${name}: EDNS OPT passes through both ways`, async () => {
      await withForwarder({ servers: [serverOf(alpha)], timeoutMs: 2000 }, async (f) => {
        const withOpt = forwardQuery('foo.test', 'A', { edns: true });
        const resp = replyOf(await f.forward(withOpt.buf, withOpt.q, { tcp }));
        assert.ok(resp);
        const opt = dnsPacket.decode(resp).additionals?.find((a) => a.type === 'OPT');
        assert.ok(opt, 'an OPT record in the answer');

        const plain = forwardQuery('foo.test', 'A');
        const resp2 = replyOf(await f.forward(plain.buf, plain.q, { tcp }));
        assert.ok(resp2);
        assert.equal(dnsPacket.decode(resp2).additionals?.length ?? 0, 0, 'no OPT without one in the query');
      });
    });

    test(`${name}: a big TXT answer (> 512 bytes) comes back whole`, async () => {
      await withForwarder({ servers: [serverOf(alpha)], timeoutMs: 3000 }, async (f) => {
        const { buf, q } = forwardQuery('big.test', 'TXT');
        const resp = replyOf(await f.forward(buf, q, { tcp }));
        assert.ok(resp);
        assert.ok(resp.length > 512, `${resp.length} bytes`);
        const decoded = dnsPacket.decode(resp);
        assert.equal(decoded.flag_tc, false);
        const txt = decoded.answers?.[0];
        assert.equal(txt?.type, 'TXT');
        assert.equal((txt.data as Buffer[]).length, 6);
        // Over UDP dnsmasq answers TC without EDNS: the same server is asked again over TCP.
        assert.equal(f.stats().servers[0].queries, tcp ? 1 : 2);
      });
    });

    test(`${name}: failover from a dead server`, async () => {
      const dead = await deadAddress();
      await withForwarder({ servers: [dead, serverOf(alpha)], timeoutMs: 3000, rotate: false }, async (f) => {
        const { buf, q } = forwardQuery('foo.test', 'A');
        const started = Date.now();
        const resp = replyOf(await f.forward(buf, q, { tcp }));
        assert.ok(resp);
        assert.deepEqual(addresses(resp), ['10.1.0.1']);
        // ECONNREFUSED (ICMP on a connected UDP socket, RST on TCP) fails over without waiting.
        assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
        const [first, second] = f.stats().servers;
        assert.deepEqual([first.queries, first.failures, first.lastLatencyMs], [1, 1, null]);
        assert.deepEqual([second.queries, second.failures], [1, 0]);
        assert.ok(second.lastLatencyMs !== null && second.lastLatencyMs >= 0);
      });
    });

    test(`${name}: failover on REFUSED`, async () => {
      await withForwarder(
        { servers: [serverOf(alpha), serverOf(other)], timeoutMs: 2000, rotate: false },
        async (f) => {
          const { buf, q } = forwardQuery('x.other', 'A');
          const resp = replyOf(await f.forward(buf, q, { tcp }));
          assert.ok(resp);
          assert.deepEqual(addresses(resp), ['10.3.0.1']);
          assert.equal(f.stats().servers[0].failures, 1);
        },
      );
    });
  }

  // `off`: the silent server's try times out, then dnsmasq is asked. `auto` (the default): dnsmasq is
  // asked beside the silent try, which is still waiting when the answer comes (issue 14 item 1).
  for (const { hedge, failures, hedges } of [
    { hedge: 'off', failures: 1, hedges: { sent: 0, won: 0 } },
    { hedge: 'auto', failures: 0, hedges: { sent: 1, won: 1 } },
  ] as const) {
    test(`UDP: failover from a server that never answers (--upstream-hedge ${hedge})`, async () => {
      const silent = await startStubDns(() => 'drop', randomLoopback());
      try {
        await withForwarder(
          { servers: [silent, serverOf(alpha)], timeoutMs: 2000, rotate: false, hedge },
          async (f) => {
            const { buf, q } = forwardQuery('foo.test', 'A');
            const resp = replyOf(await f.forward(buf, q));
            assert.ok(resp);
            assert.deepEqual(addresses(resp), ['10.1.0.1']);
            assert.equal(f.stats().servers[0].failures, failures);
            assert.deepEqual(f.stats().hedges, hedges);
          },
        );
      } finally {
        await silent.close();
      }
    });
  }

  for (const { name, tcp } of TRANSPORTS) {
    test(`${name}: an IPv6 upstream on [::1]`, async (t) => {
      let v6: Dnsmasq;
      try {
        v6 = await startDnsmasq({ address: '::1', hosts: { 'six.test': ['10.6.0.1'] } });
      } catch (err) {
        t.skip(`no dnsmasq on ::1 here: ${(err as Error).message.split('\n')[0]}`);
        return;
      }
      try {
        await withForwarder({ servers: [serverOf(v6)], timeoutMs: 2000 }, async (f) => {
          const { buf, q } = forwardQuery('six.test', 'A');
          const resp = replyOf(await f.forward(buf, q, { tcp }));
          assert.ok(resp);
          assert.deepEqual(addresses(resp), ['10.6.0.1']);
          assert.equal(f.stats().servers[0].server, `[::1]:${v6.port}`);
        });
      } finally {
        await v6.stop();
      }
    });
  }

  test('rotation: successive forwards start at the next server', async () => {
    await withForwarder({ servers: [serverOf(alpha), serverOf(beta)], timeoutMs: 2000 }, async (f) => {
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { buf, q } = forwardQuery('rr.test', 'A');
        const resp = replyOf(await f.forward(buf, q));
        assert.ok(resp);
        seen.push(...addresses(resp));
      }
      assert.deepEqual(seen, ['10.2.0.1', '10.2.0.2', '10.2.0.1', '10.2.0.2']);
    });
  });

  test('query() builds a recursive query for a name', async () => {
    await withForwarder({ servers: [serverOf(alpha)], timeoutMs: 2000 }, async (f) => {
      const resp = replyOf(await f.query('Foo.Test.', 1));
      assert.ok(resp);
      const decoded = dnsPacket.decode(resp);
      assert.equal(decoded.flag_rd, true);
      assert.equal(decoded.questions?.[0].name, 'foo.test');
      assert.deepEqual(addresses(resp), ['10.1.0.1']);
      const missing = replyOf(await f.query('missing.test', 28));
      assert.ok(missing);
      assert.equal(rcodeOf(missing), NXDOMAIN);
    });
  });
});
