// The forwarder's UDP socket pool (issue 12 item 4) against hand-made upstreams on loopback: replies
// matched by (socket, ID, question) when many queries share a socket, source ports that keep moving
// (sockets retired after a number of queries, RFC 5452 §9.2), late replies told apart from forged ones.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { batchSocketSupport } from '../../src/netio/index.js';
import { nativeLink } from '../../src/server/index.js';
import { type DatagramLinkFactory, dgramLink } from '../../src/upstream/index.js';
import { forwardQuery, withForwarder } from '../helpers/forwarder.js';
import { randomLoopback } from '../helpers/ports.js';
import { addressOf, answerFor as answer, startRawDns } from '../helpers/stub-dns.js';

const native = batchSocketSupport();
const LINKS: [string, DatagramLinkFactory, string | undefined][] = [
  ['node:dgram', dgramLink, undefined],
  [
    'the native batch socket',
    nativeLink,
    native.available ? undefined : `no native batch socket: ${native.reason}`,
  ],
];

for (const [label, link, skip] of LINKS)
  describe(`Forwarder: the UDP socket pool on ${label}`, { skip }, () => {
    test('60 queries at once over 2 sockets, answered in reverse order: each gets its own reply', async () => {
      const held: (() => void)[] = [];
      const ports = new Set<number>();
      const up = await startRawDns((query, reply, from) => {
        ports.add(from.port);
        const n = Number(/q(\d+)/.exec(dnsPacket.decode(query).questions![0].name)?.[1]);
        held.push(() => reply(answer(query, `192.0.2.${n}`)));
        if (held.length === 60) for (const send of held.reverse()) send();
      }, randomLoopback());
      try {
        await withForwarder({ servers: [up], timeoutMs: 3000, udpPool: { sockets: 2, link } }, async (f) => {
          const results = await Promise.all(
            Array.from({ length: 60 }, (_, i) => {
              const { buf, q } = forwardQuery(`q${i}.pool.test`, 'A', { id: i });
              return f.forward(buf, q);
            }),
          );
          for (const [i, r] of results.entries()) {
            assert.equal(r.kind, 'answered', `query ${i}`);
            if (r.kind !== 'answered') continue;
            assert.equal(r.reply.readUInt16BE(0), i, 'the client ID back');
            assert.equal(addressOf(r.reply), `192.0.2.${i}`);
          }
          assert.equal(ports.size, 2, 'two sockets, so two source ports');
          assert.deepEqual(f.stats().rejected, {
            source: 0,
            short: 0,
            id: 0,
            'not-response': 0,
            question: 0,
          });
        });
      } finally {
        await up.close();
      }
    });

    test('a socket is retired after maxQueries: one after the other, 12 queries come from 4 ports', async () => {
      const ports: number[] = [];
      const up = await startRawDns((query, reply, from) => {
        ports.push(from.port);
        reply(answer(query, '192.0.2.1'));
      }, randomLoopback());
      try {
        const pool = { sockets: 1, maxQueries: 3, link };
        await withForwarder({ servers: [up], timeoutMs: 3000, udpPool: pool }, async (f) => {
          for (let i = 0; i < 12; i++) {
            const { buf, q } = forwardQuery(`r${i}.pool.test`, 'A');
            assert.equal((await f.forward(buf, q)).kind, 'answered');
          }
        });
        const runs = [0, 3, 6, 9].map((at) => new Set(ports.slice(at, at + 3)).size);
        assert.deepEqual(runs, [1, 1, 1, 1], `ports ${ports}`);
        assert.equal(new Set(ports).size, 4, `ports ${ports}`);
      } finally {
        await up.close();
      }
    });

    test('forged IDs and questions racing the answer are dropped and counted; the answer wins', async () => {
      const up = await startRawDns((query, reply) => {
        const wrongId = answer(query, '6.6.6.6');
        wrongId.writeUInt16BE(wrongId.readUInt16BE(0) ^ 0x5a5a, 0);
        const wrongName = answer(query, '6.6.6.7');
        wrongName[13] ^= 0x01;
        reply(wrongId);
        reply(wrongName);
        reply(answer(query, '192.0.2.9'));
      }, randomLoopback());
      try {
        await withForwarder({ servers: [up], timeoutMs: 3000, udpPool: { sockets: 1, link } }, async (f) => {
          const { buf, q } = forwardQuery('forged.pool.test', 'A');
          const r = await f.forward(buf, q);
          assert.equal(r.kind, 'answered');
          if (r.kind === 'answered') assert.equal(addressOf(r.reply), '192.0.2.9');
          const { id, question } = f.stats().rejected;
          assert.deepEqual({ id, question }, { id: 1, question: 1 });
        });
      } finally {
        await up.close();
      }
    });

    test('a reply after its try timed out is dropped without being counted as a forgery', async () => {
      let first = true;
      const up = await startRawDns((query, reply) => {
        // The first try is answered after it timed out (and the second try is under way); the second at once.
        if (first) setTimeout(() => reply(answer(query, '192.0.2.7')), 250);
        else reply(answer(query, '192.0.2.8'));
        first = false;
      }, randomLoopback());
      try {
        const opts = { servers: [up], timeoutMs: 3000, perTryTimeoutMs: 150, udpPool: { sockets: 1, link } };
        await withForwarder(opts, async (f) => {
          const { buf, q } = forwardQuery('late.pool.test', 'A');
          const r = await f.forward(buf, q);
          assert.equal(r.kind, 'answered');
          if (r.kind === 'answered') assert.equal(addressOf(r.reply), '192.0.2.8');
          // Wait for the late reply to arrive on the pooled socket, still open, by asking once more.
          await new Promise((resolve) => setTimeout(resolve, 200));
          const again = forwardQuery('late2.pool.test', 'A');
          assert.equal((await f.forward(again.buf, again.q)).kind, 'answered');
          assert.equal(f.stats().rejected.id, 0);
        });
      } finally {
        await up.close();
      }
    });

    test('a server with nothing listening: the query fails with ECONNREFUSED, not after its timeout', async () => {
      const probe = await startRawDns(() => {}, randomLoopback());
      const server = { host: probe.host, port: probe.port };
      await probe.close();
      const opts = {
        servers: [server],
        timeoutMs: 3000,
        attempts: 1,
        maxFails: 0,
        udpPool: { sockets: 1, link },
      };
      await withForwarder(opts, async (f) => {
        const { buf, q } = forwardQuery('refused.pool.test', 'A');
        const r = await f.forward(buf, q);
        assert.equal(r.kind, 'refused', JSON.stringify(r));
        assert.match(JSON.stringify(r), /ECONNREFUSED/);
      });
    });
  });
