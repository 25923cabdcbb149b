// Log lines that must stay few: one per burst of upstream failures, and a sample of queries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BurstLog } from '../../src/agent/burst-log.js';
import { readQuery } from '../../src/dns/index.js';
import { Registry } from '../../src/metrics.js';
import type { Request } from '../../src/server/index.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { encodeQuery } from '../helpers/dns-client.js';
import { FakeClock } from '../helpers/fake-upstream.js';
import { captureLogs } from '../helpers/log-capture.js';

const settle = () => new Promise((r) => setImmediate(r));

describe('upstream failure log', () => {
  it('logs the first failure of a burst, then one line per interval with the count', async () => {
    const { logger, lines } = captureLogs();
    const clock = new FakeClock();
    const log = new BurstLog(logger, clock.now, 10_000, 'upstream failed', () => ({
      upstreams: ['127.0.0.2:53'],
    }));
    for (let i = 0; i < 5; i++) log.hit();
    clock.advance(11);
    log.hit();
    await settle();
    assert.equal(lines.length, 2);
    assert.equal(lines[0].sinceLastLine, 1);
    assert.equal(lines[1].sinceLastLine, 5);
    assert.deepEqual(lines[1].upstreams, ['127.0.0.2:53']);
  });
});

describe('query log (--log-queries)', () => {
  const request = (): Request => {
    const msg = encodeQuery('www.example.org', 'AAAA');
    const q = readQuery(msg);
    if (typeof q === 'string') throw new Error(q);
    return { msg, q, transport: 'udp', limit: 512, source: undefined };
  };
  const cases = [
    { name: 'off by default', sample: 0, draws: [0, 0, 0], logged: 0 },
    {
      name: 'a sample: draws below the share are logged',
      sample: 0.5,
      draws: [0.1, 0.9, 0.4, 0.6],
      logged: 2,
    },
    { name: 'everything with share 1', sample: 1, draws: [0.99, 0.5], logged: 2 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { logger, lines } = captureLogs();
      const draws = [...c.draws];
      const metrics = new ServerMetrics(new Registry(), {
        logQueries: { sample: c.sample, logger, random: () => draws.shift() ?? 0 },
      });
      const answer = Buffer.alloc(12);
      answer[3] = 3;
      for (let i = 0; i < c.draws.length; i++) metrics.answered(request(), 'upstream', answer);
      await settle();
      assert.equal(lines.length, c.logged);
      if (c.logged > 0) {
        assert.deepEqual(
          { qname: lines[0].qname, qtype: lines[0].qtype, source: lines[0].source, rcode: lines[0].rcode },
          { qname: 'www.example.org.', qtype: 'AAAA', source: 'upstream', rcode: 'NXDOMAIN' },
        );
      }
    });
  }
});
