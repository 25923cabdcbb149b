// Hedged upstream tries (issue 14 item 1) against two scripted upstreams on loopback: one that loses
// some queries, one that answers. Without hedging a lost query waits out its try's timeout before the
// healthy server is asked; with hedging the healthy server is asked while the lost try still waits, and
// its answer is the one the client gets. No timing is asserted: the order of events says it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { type Forwarder, type HedgeMode, replyOf } from '../../src/upstream/index.js';
import { upstreamMetrics } from '../../src/upstream/metrics.js';
import { forwardQuery, withForwarder } from '../helpers/forwarder.js';
import { randomLoopback } from '../helpers/ports.js';
import { addressOf, type StubDns, startStubDns } from '../helpers/stub-dns.js';

const a = (name: string, data: string) => ({ answers: [{ name, type: 'A' as const, ttl: 60, data }] });

/** Loses every query for a name starting with "lost", answers the rest with 192.0.2.1. */
const lossy = (q: { name: string }) => (q.name.startsWith('lost') ? 'drop' : a(q.name, '192.0.2.1'));
const healthy = (q: { name: string }) => a(q.name, '192.0.2.2');

let lossyServer: StubDns;
let healthyServer: StubDns;

before(async () => {
  lossyServer = await startStubDns(lossy, randomLoopback());
  healthyServer = await startStubDns(healthy, randomLoopback());
});
after(async () => {
  await Promise.all([lossyServer.close(), healthyServer.close()]);
});

function forwarder(hedge: HedgeMode, use: (f: Forwarder) => Promise<void>): Promise<void> {
  // No rotation: every query goes to the lossy server first. 800 ms budget, 4 tries: 200 ms per try.
  return withForwarder({ servers: [lossyServer, healthyServer], rotate: false, timeoutMs: 800, hedge }, use);
}

async function ask(f: Forwarder, name: string): Promise<string | undefined> {
  const { buf, q } = forwardQuery(name, 'A');
  const result = await f.forward(buf, q);
  assert.equal(result.kind, 'answered', `${name}: ${result.kind !== 'answered' && result.detail}`);
  return addressOf(replyOf(result)!);
}

describe('hedged upstream tries: one upstream loses a query', () => {
  const cases: {
    hedge: HedgeMode;
    /** The lost try had ended (timed out) before the client got its answer. */
    waitedForLoss: boolean;
    hedges: { sent: number; won: number };
  }[] = [
    { hedge: 'off', waitedForLoss: true, hedges: { sent: 0, won: 0 } },
    { hedge: 'auto', waitedForLoss: false, hedges: { sent: 1, won: 1 } },
    { hedge: 20, waitedForLoss: false, hedges: { sent: 1, won: 1 } },
    { hedge: 0, waitedForLoss: false, hedges: { sent: 1, won: 1 } },
  ];
  for (const c of cases) {
    test(`--upstream-hedge ${c.hedge}: ${c.waitedForLoss ? 'waits for the timeout' : 'the next server answers while the lost try waits'}`, async () => {
      await forwarder(c.hedge, async (f) => {
        // Warm-up: the lossy server answers these, so `auto` knows its p95.
        for (let i = 0; i < 10; i++) await ask(f, `warm${i}.test`);
        const warm = f.stats().hedges;
        // A warm-up try that a loaded machine held past its 200 ms counts as a failure too: only this
        // query's are compared.
        const failedBefore = f.stats().servers[0]!.failures;
        assert.equal(await ask(f, 'lost.test'), '192.0.2.2', 'the healthy server answered');
        const [lost] = f.stats().servers;
        assert.equal(
          lost!.failures - failedBefore,
          c.waitedForLoss ? 1 : 0,
          'the lost try had ended before the answer',
        );
        const { hedges } = f.stats();
        assert.deepEqual({ sent: hedges.sent - warm.sent, won: hedges.won - warm.won }, c.hedges);
      });
    });
  }

  test('auto: replies within the p95 are never hedged, and the p95 is reported per server', async () => {
    await forwarder('auto', async (f) => {
      for (let i = 0; i < 12; i++) await ask(f, `quick${i}.test`);
      const { servers } = f.stats();
      assert.ok(servers[0]!.p95LatencyMs !== null && servers[0]!.p95LatencyMs >= 0);
      assert.equal(servers[1]!.p95LatencyMs, null, 'the second server was never needed');
      assert.equal(
        healthyServer.queries.filter((q) => q.name.startsWith('quick')).length,
        f.stats().hedges.sent,
      );
    });
  });

  test('0 (parallel): every query goes to both servers; the first answer wins', async () => {
    const before = healthyServer.queries.length;
    await forwarder(0, async (f) => {
      const answers = new Set<string | undefined>();
      for (let i = 0; i < 5; i++) answers.add(await ask(f, `both${i}.test`));
      // Both copies were asked; whichever reply came second was dropped, not counted as forged.
      assert.equal(f.stats().hedges.sent, 5);
      assert.ok(
        [...answers].every((x) => x === '192.0.2.1' || x === '192.0.2.2'),
        [...answers].join(),
      );
      assert.deepEqual(f.stats().rejected, { source: 0, short: 0, id: 0, 'not-response': 0, question: 0 });
    });
    assert.equal(healthyServer.queries.length - before, 5);
  });

  test('both servers lose the query: timeout within the budget, every try named', async () => {
    const lossy2 = await startStubDns(lossy, randomLoopback());
    try {
      await withForwarder(
        { servers: [lossyServer, lossy2], rotate: false, timeoutMs: 600, hedge: 'auto' },
        async (f) => {
          const { buf, q } = forwardQuery('lost-everywhere.test', 'A');
          const result = await f.forward(buf, q);
          assert.equal(result.kind, 'timeout');
          assert.match(result.kind === 'timeout' ? result.detail : '', new RegExp(`${lossy2.port} timeout`));
          assert.equal(f.stats().inFlight, 0);
        },
      );
    } finally {
      await lossy2.close();
    }
  });

  test('the hedge counters are on the metrics registry', async () => {
    await forwarder(0, async (f) => {
      const registry = new Registry();
      upstreamMetrics(registry, () => f.stats());
      await ask(f, 'lost-metric.test');
      const text = await registry.metrics();
      assert.match(text, /^meshdns_upstream_hedges_total 1$/m);
      assert.match(text, /^meshdns_upstream_hedges_won_total 1$/m);
    });
  });
});
