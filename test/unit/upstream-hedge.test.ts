// The hedge's parts without sockets: the p95 of a server's recent round trips, and the order in which
// tries start, end and win (runHedged) with scripted tries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runHedged } from '../../src/upstream/hedge.js';
import { LatencyWindow } from '../../src/upstream/index.js';

describe('LatencyWindow', () => {
  const cases: { name: string; samples: number[]; p95: number | undefined }[] = [
    { name: 'fewer than 8 replies: unknown', samples: [1, 2, 3, 4, 5, 6, 7], p95: undefined },
    { name: '100 replies 1..100: the 95th', samples: Array.from({ length: 100 }, (_, i) => i + 1), p95: 95 },
    { name: 'one slow reply in 20 is within the top 5%', samples: [...Array(19).fill(2), 50], p95: 2 },
    {
      name: 'only the last 128 count',
      samples: [...Array(200).fill(500), ...Array(128).fill(3)],
      p95: 3,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const w = new LatencyWindow();
      for (const s of c.samples) w.add(s);
      assert.equal(w.p95(), c.p95);
    });
  }
});

/** A try that ends after `ms` with `result`. */
const after = <R>(ms: number, result: R) =>
  new Promise<R>((resolve) => setTimeout(() => resolve(result), ms));

describe('runHedged', () => {
  it('a slow first try: the second starts beside it and its answer wins', async () => {
    const started: number[] = [];
    const end = await runHedged<string>({
      tries: 4,
      servers: 2,
      start: (t) => {
        started.push(t);
        return t === 0 ? after(300, 'slow answer') : after(1, 'fast answer');
      },
      answered: (r) => r.endsWith('answer'),
      delayMs: () => 10,
    });
    assert.deepEqual(started, [0, 1]);
    assert.equal(end.answer, 'fast answer');
    assert.deepEqual([end.hedges, end.wonByHedge], [1, true]);
  });

  it('a failure starts the next try at once; every try failing ends with all of them', async () => {
    const end = await runHedged<string>({
      tries: 4,
      servers: 2,
      start: () => after(1, 'failed'),
      answered: () => false,
      delayMs: () => 1000,
    });
    assert.equal(end.answer, undefined);
    assert.deepEqual(end.failures, ['failed', 'failed', 'failed', 'failed']);
    assert.equal(end.hedges, 0);
  });

  it('never two tries on one server at once, and no try past the budget', async () => {
    const inFlight = new Set<number>();
    let overlap = false;
    const end = await runHedged<string>({
      tries: 6,
      servers: 2,
      start: (t) => {
        if (t >= 3) return 'no-time';
        if (inFlight.has(t % 2)) overlap = true;
        inFlight.add(t % 2);
        return after(20, 'failed').finally(() => inFlight.delete(t % 2));
      },
      answered: () => false,
      delayMs: () => 0,
    });
    assert.equal(overlap, false);
    assert.equal(end.stopped, 'no-time');
    assert.equal(end.failures.length, 3);
  });
});
