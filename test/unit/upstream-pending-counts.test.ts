// Queries forwarded before the metrics registry exists (serve registers it once its listeners are up)
// come out in Istio's upstream metrics exactly as if they had been counted live.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from '../../src/metrics.js';
import { PendingUpstreamCounts } from '../../src/upstream/index.js';
import { upstreamMetrics } from '../../src/upstream/metrics.js';

const stats = () => ({
  servers: [],
  rejected: { source: 0, short: 0, id: 0, 'not-response': 0, question: 0 },
  overflows: 0,
  inFlight: 0,
  replies: { success: 0, nxdomain: 0, nodata: 0, referral: 0, error: 0 },
  hedges: { sent: 0, won: 0 },
});

/** The dns_upstream_* lines of a registry's exposition, values rounded (sums are float additions). */
async function upstreamLines(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith('dns_upstream_'))
    .map((l) => l.replace(/ ([\d.e-]+)$/, (_, v: string) => ` ${Number(v).toFixed(9)}`));
}

describe('upstream counts before the registry', () => {
  const cases: { name: string; observations: [number, boolean][] }[] = [
    { name: 'none', observations: [] },
    { name: 'one answered', observations: [[0.0004, true]] },
    {
      name: 'every bucket, failures among them, bucket edges included',
      observations: [
        [0.001, true],
        [0.0012, true],
        [0.003, false],
        [0.005, true],
        [0.02, true],
        [0.09, true],
        [0.5, false],
        [1, true],
        [4.9, false],
        [5.2, false],
        [0.0001, true],
      ],
    },
  ];
  for (const { name, observations } of cases) {
    it(`${name}: replayed equals counted live`, async () => {
      const live = new Registry();
      const countLive = upstreamMetrics(live, stats);
      for (const [s, ok] of observations) countLive(s, ok);

      const pending = new PendingUpstreamCounts();
      for (const [s, ok] of observations) pending.observe(s, ok);
      const late = new Registry();
      pending.replay(upstreamMetrics(late, stats));

      assert.deepEqual(await upstreamLines(late), await upstreamLines(live));
    });
  }
});
