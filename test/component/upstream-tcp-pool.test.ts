// The forwarder's TCP connections to upstream (issue 12 item 4, RFC 7766 §6.2): queries pipelined on a
// shared connection and matched by ID and question in any order, a connection closed by the server
// between queries crossed transparently, forged frames dropped and counted.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { forwardQuery, withForwarder } from '../helpers/forwarder.js';
import { randomLoopback } from '../helpers/ports.js';
import { addressOf, answerFor as answer, eachFramedQuery } from '../helpers/stub-dns.js';

type Script = (query: Buffer, send: (reply: Buffer) => void, socket: net.Socket) => void;

/** A TCP upstream that hands every framed query to `script`; counts its connections. */
async function startTcpUpstream(script: Script) {
  const host = randomLoopback();
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    eachFramedQuery(s, (query) =>
      script(
        query,
        (reply) => s.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length]), reply])),
        s,
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const nameNumber = (query: Buffer) => Number(/q(\d+)/.exec(dnsPacket.decode(query).questions![0].name)?.[1]);

describe('Forwarder: upstream TCP connections reused and pipelined', () => {
  test('30 queries at once on one connection, answered in reverse order: each gets its own reply', async () => {
    const held: (() => void)[] = [];
    let answerAtOnce = false;
    const up = await startTcpUpstream((query, send) => {
      if (answerAtOnce) return send(answer(query, '192.0.2.77'));
      held.push(() => send(answer(query, `192.0.2.${nameNumber(query)}`)));
      if (held.length === 30) for (const go of held.reverse()) go();
    });
    try {
      await withForwarder({ servers: [up], timeoutMs: 3000 }, async (f) => {
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, i) => {
            const { buf, q } = forwardQuery(`q${i}.tcp.test`, 'A', { id: i });
            return f.forward(buf, q, { tcp: true });
          }),
        );
        for (const [i, r] of results.entries()) {
          assert.equal(r.kind, 'answered', `query ${i}`);
          if (r.kind === 'answered') assert.equal(addressOf(r.reply), `192.0.2.${i}`);
        }
        // One more after them: the same connection again (answered at once from here on).
        held.length = 0;
        answerAtOnce = true;
        const { buf, q } = forwardQuery('q77.tcp.test', 'A');
        assert.equal((await f.forward(buf, q, { tcp: true })).kind, 'answered');
      });
      assert.equal(up.connections(), 1);
    } finally {
      await up.close();
    }
  });

  test('a server that closes the connection after each answer: every query still answered', async () => {
    const up = await startTcpUpstream((query, send, socket) => {
      send(answer(query, '192.0.2.1'));
      socket.end();
    });
    try {
      await withForwarder({ servers: [up], timeoutMs: 3000, attempts: 1 }, async (f) => {
        for (let i = 0; i < 5; i++) {
          const { buf, q } = forwardQuery(`c${i}.tcp.test`, 'A');
          assert.equal((await f.forward(buf, q, { tcp: true })).kind, 'answered', `query ${i}`);
        }
        assert.equal(f.stats().servers[0].failures, 0);
      });
    } finally {
      await up.close();
    }
  });

  test('forged frames before the answer are dropped and counted; the answer wins', async () => {
    const up = await startTcpUpstream((query, send) => {
      const forged = answer(query, '6.6.6.6');
      forged.writeUInt16BE(forged.readUInt16BE(0) ^ 0x5a5a, 0);
      send(forged);
      send(answer(query, '192.0.2.3'));
    });
    try {
      await withForwarder({ servers: [up], timeoutMs: 3000 }, async (f) => {
        const { buf, q } = forwardQuery('forged.tcp.test', 'A');
        const r = await f.forward(buf, q, { tcp: true });
        assert.equal(r.kind, 'answered');
        if (r.kind === 'answered') assert.equal(addressOf(r.reply), '192.0.2.3');
        assert.equal(f.stats().rejected.id, 1);
      });
    } finally {
      await up.close();
    }
  });

  test('an OPT in the reply to a query without one is removed (RFC 6891 §7; dnsmasq on a reused connection)', async () => {
    const up = await startTcpUpstream((query, send) => {
      const p = dnsPacket.decode(answer(query, '192.0.2.4'));
      p.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as never];
      send(dnsPacket.encode(p));
    });
    try {
      await withForwarder({ servers: [up], timeoutMs: 3000 }, async (f) => {
        const { buf, q } = forwardQuery('opt.tcp.test', 'A');
        const r = await f.forward(buf, q, { tcp: true });
        assert.equal(r.kind, 'answered');
        if (r.kind !== 'answered') return;
        assert.equal(addressOf(r.reply), '192.0.2.4');
        assert.equal(dnsPacket.decode(r.reply).additionals?.length ?? 0, 0);
        assert.equal(r.reply.readUInt16BE(10), 0);
      });
    } finally {
      await up.close();
    }
  });
});
