// SPEC §4 request handling rules on the wire: FORMERR/NOTIMP/drop, TCP framing, pipelining and
// the idle timeout. The server must keep serving after every bad input.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { type DnsServer, UdpListener } from '../../src/server/index.js';
import { ask, encodeQuery, framed, rcodeOf, sendTcp, sendUdp } from '../helpers/dns-client.js';
import { startTableServer, tablePipeline } from '../helpers/table-server.js';
import { UDP_PATHS } from '../helpers/udp-io.js';

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

for (const io of UDP_PATHS)
  describe(`server protocol over udp (${io})`, () => {
    let server: DnsServer;
    before(async () => {
      server = await startTableServer({ udpIo: io });
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

    // No real socket sends from port 0: the dgram path's batch is fed by hand (the native path checks the same).
    it('UDP: a datagram from source port 0 is dropped (nothing can answer it), and serving goes on', async () => {
      // Found by hand: one raw packet with source port 0 made dgram's send() throw ERR_SOCKET_BAD_PORT
      // out of the answer loop and killed the process.
      const listener = new UdpListener(tablePipeline(), undefined, undefined, { io: 'dgram' });
      await listener.start('127.0.0.1', 0);
      try {
        const query = encodeQuery(NAME, 'A', { id: 7 });
        assert.doesNotThrow(() => listener.answerBatch([{ msg: query, address: '127.0.0.1', port: 0 }]));
      } finally {
        await listener.close();
      }
      const good = await ask('udp', server.port, NAME, 'A');
      assert.equal(good.answers?.length, 1);
    });
  });

describe('server protocol over tcp', () => {
  let server: DnsServer;
  before(async () => {
    server = await startTableServer({ tcp: { idleTimeoutMs: 300 } });
  });
  after(() => server.close());

  it('TCP: pipelined queries on one connection each get their answer', async () => {
    const names = [NAME, 'reviews.default.svc.cluster.local', 'api.partner.com', NAME];
    const msgs = names.map((n, i) => encodeQuery(n, 'A', { id: 100 + i }));
    const replies = await sendTcp(server.port, msgs);
    assert.deepEqual(replies.map((r) => r.readUInt16BE(0)).sort(), [100, 101, 102, 103]);
  });

  // The frame is cut where the server must hold a partial frame: inside the length prefix, right
  // after it, inside the header, one byte short. The first write ends with a complete query whose
  // answer must come back before the rest is sent, so the server provably read the cut frame in two
  // reads (RFC 7766 §8: a message may arrive in any number of segments).
  const cuts = [
    { name: 'inside the length prefix', at: () => 1 },
    { name: 'after the length prefix', at: () => 2 },
    { name: 'inside the header', at: () => 7 },
    { name: 'one byte short', at: (len: number) => len - 1 },
  ];
  for (const cut of cuts) {
    it(`TCP: a query split ${cut.name} is reassembled from two reads`, async () => {
      const first = framed(encodeQuery(NAME, 'A', { id: 8 }));
      const split = framed(encodeQuery(NAME, 'A', { id: 9 }));
      const at = cut.at(split.length);
      const s = net.connect(server.port, '127.0.0.1');
      try {
        s.setNoDelay(true);
        const replies = tcpReplies(s);
        await new Promise<void>((resolve) => s.once('connect', () => resolve()));
        s.write(Buffer.concat([first, split.subarray(0, at)]));
        const answered = await replies.next();
        assert.equal(answered.readUInt16BE(0), 8, 'the complete query is answered first');
        assert.equal(replies.buffered(), 0, 'nothing answered for the partial frame');
        // Another tick, after the server has answered what it read: the rest is a later read.
        await new Promise((resolve) => setImmediate(resolve));
        s.write(split.subarray(at));
        const reply = await replies.next();
        assert.equal(reply.readUInt16BE(0), 9);
        assert.equal(rcodeOf(reply), 0);
        assert.equal(dnsPacket.decode(reply).answers?.length, 1);
      } finally {
        s.destroy();
      }
    });
  }

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

/** Reads 2-byte-length-framed replies off `s` one at a time; fails if the connection ends first. */
function tcpReplies(s: net.Socket): { next(): Promise<Buffer>; buffered(): number } {
  let pending = Buffer.alloc(0);
  let waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  const take = (): Buffer | undefined => {
    if (pending.length < 2 || pending.length < 2 + pending.readUInt16BE(0)) return undefined;
    const len = pending.readUInt16BE(0);
    const msg = pending.subarray(2, 2 + len);
    pending = pending.subarray(2 + len);
    return msg;
  };
  const deliver = () => {
    if (!waiter) return;
    const msg = take();
    if (!msg) return;
    const w = waiter;
    waiter = undefined;
    w.resolve(msg);
  };
  s.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    deliver();
  });
  s.on('error', (e) => waiter?.reject(e));
  s.on('close', () => waiter?.reject(new Error('connection closed before the reply')));
  return {
    next: () =>
      new Promise<Buffer>((resolve, reject) => {
        waiter = { resolve, reject };
        deliver();
      }),
    buffered: () => pending.length,
  };
}
