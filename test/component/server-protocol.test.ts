// SPEC §4 request handling rules on the wire: FORMERR/NOTIMP/drop, TCP framing, pipelining and
// the idle timeout. The server must keep serving after every bad input.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { DnsServer } from '../../src/server/index.js';
import { ask, encodeQuery, rcodeOf, sendTcp, sendUdp } from '../helpers/dns-client.js';
import { startTableServer } from '../helpers/table-server.js';

const NAME = 'productpage.default.svc.cluster.local';

function variant(edit: (m: Buffer) => void): Buffer {
  const m = Buffer.from(encodeQuery(NAME, 'A', { id: 0x1234 }));
  edit(m);
  return m;
}

const bad: { name: string; msg: Buffer; rcode: number | 'none' }[] = [
  { name: 'QR set → FORMERR', msg: variant((m) => m.writeUInt16BE(0x8100, 2)), rcode: 1 },
  { name: 'two questions → FORMERR', msg: variant((m) => m.writeUInt16BE(2, 4)), rcode: 1 },
  { name: 'no question → FORMERR', msg: variant((m) => m.writeUInt16BE(0, 4)), rcode: 1 },
  { name: 'opcode NOTIFY → NOTIMP', msg: variant((m) => m.writeUInt16BE(4 << 11, 2)), rcode: 4 },
  { name: 'question cut short → dropped', msg: variant(() => {}).subarray(0, 20), rcode: 'none' },
  { name: 'three bytes → dropped', msg: Buffer.from([1, 2, 3]), rcode: 'none' },
];

describe('server protocol', () => {
  let server: DnsServer;
  before(async () => {
    server = await startTableServer({ tcp: { idleTimeoutMs: 300 } });
  });
  after(() => server.close());

  for (const c of bad) {
    it(`UDP: ${c.name}, then keeps serving`, async () => {
      if (c.rcode === 'none') {
        await assert.rejects(sendUdp(server.port, c.msg, { timeoutMs: 300 }), /no UDP answer/);
      } else {
        const reply = await sendUdp(server.port, c.msg);
        assert.equal(reply.readUInt16BE(0), 0x1234);
        assert.ok(reply.readUInt16BE(2) & 0x8000, 'QR set in the reply');
        assert.equal(rcodeOf(reply), c.rcode);
      }
      const good = await ask('udp', server.port, NAME, 'A');
      assert.equal(good.answers?.length, 1);
    });
  }

  it('TCP: pipelined queries on one connection each get their answer', async () => {
    const names = [NAME, 'reviews.default.svc.cluster.local', 'api.partner.com', NAME];
    const msgs = names.map((n, i) => encodeQuery(n, 'A', { id: 100 + i }));
    const replies = await sendTcp(server.port, msgs);
    assert.deepEqual(replies.map((r) => r.readUInt16BE(0)).sort(), [100, 101, 102, 103]);
  });

  it('TCP: a query split across segments is reassembled', async () => {
    const msg = encodeQuery(NAME, 'A', { id: 9 });
    const framed = Buffer.concat([Buffer.from([0, msg.length]), msg]);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(server.port, '127.0.0.1', async () => {
        s.write(framed.subarray(0, 1));
        await new Promise((r) => setTimeout(r, 30));
        s.write(framed.subarray(1, 10));
        await new Promise((r) => setTimeout(r, 30));
        s.write(framed.subarray(10));
      });
      s.on('data', (d) => {
        s.destroy();
        resolve(d.subarray(2));
      });
      s.on('error', reject);
    });
    assert.equal(reply.readUInt16BE(0), 9);
    assert.equal(rcodeOf(reply), 0);
  });

  it('TCP: an idle connection is closed by the server', async () => {
    const closedBy = await new Promise<string>((resolve) => {
      const s = net.connect(server.port, '127.0.0.1');
      const guard = setTimeout(() => {
        s.destroy();
        resolve('test timeout');
      }, 3000);
      s.on('close', () => {
        clearTimeout(guard);
        resolve('server');
      });
      s.on('error', () => {});
    });
    assert.equal(closedBy, 'server');
  });
});
