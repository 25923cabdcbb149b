// The cache end to end: a real dnsmasq upstream, real dig as the client, the agent in-process with a
// fake clock, so TTLs count down without sleeping. dnsmasq is stopped mid-test: answers it gave
// before are then served stale (RFC 8767) with TTL 30; names never asked get SERVFAIL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { Registry } from '../../src/metrics.js';
import { NameTable } from '../../src/nametable/index.js';
import { DIG_MISSING, dig, haveDig } from '../helpers/dig.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, startDnsmasq } from '../helpers/dnsmasq.js';
import { FakeClock } from '../helpers/fake-upstream.js';

const why = !dnsmasqPath() ? DNSMASQ_MISSING : !(await haveDig()) ? DIG_MISSING : undefined;

describe('cache with a real dnsmasq upstream', { skip: why }, () => {
  let upstream: Dnsmasq;
  let agent: Agent;
  let registry: Registry;
  const clock = new FakeClock();

  before(async () => {
    upstream = await startDnsmasq({
      hosts: { 'www.test': ['198.51.100.7'], 'api.test': ['198.51.100.8'] },
      extra: ['--local-ttl=60'],
    });
    registry = new Registry();
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [{ host: upstream.address, port: upstream.port }],
      upstreamTimeoutMs: 1000,
      logger: pino({ level: 'silent' }),
      registry,
      now: clock.now,
    });
    await agent.start();
    agent.setTable(NameTable.empty());
  });

  after(async () => {
    await agent?.close();
    await upstream?.stop();
  });

  const q = (name: string, ...extra: string[]) => dig('127.0.0.1', agent.port, name, 'A', extra);

  // Steps run in order against one agent: [what, seconds the clock moves first, query, status, TTL, data].
  const steps: [string, number, string, string, number | undefined, string | undefined][] = [
    ['first query goes upstream', 0, 'www.test', 'NOERROR', 60, '198.51.100.7'],
    ['then from the cache, TTL counted down', 15, 'www.test', 'NOERROR', 45, '198.51.100.7'],
    ['mixed case shares the entry', 5, 'WWW.Test', 'NOERROR', 40, '198.51.100.7'],
    ['another name, cached too', 0, 'api.test', 'NOERROR', 60, '198.51.100.8'],
  ];
  for (const [what, wait, name, status, ttl, data] of steps) {
    it(what, async () => {
      clock.advance(wait);
      const r = await q(name);
      assert.equal(r.status, status, r.output);
      assert.equal(r.answers[0]?.ttl, ttl);
      assert.equal(r.answers[0]?.data, data);
    });
  }

  it('after dnsmasq stops: expired answers are served stale with TTL 30, over UDP and TCP', async () => {
    await upstream.stop();
    clock.advance(3600);
    for (const extra of [[], ['+tcp']]) {
      const r = await q('www.test', ...extra);
      assert.equal(r.status, 'NOERROR', r.output);
      assert.equal(r.answers[0].ttl, 30);
      assert.equal(r.answers[0].data, '198.51.100.7');
    }
  });

  it('a name never cached gets SERVFAIL', async () => {
    assert.equal((await q('new.test')).status, 'SERVFAIL');
  });

  it('past staleMaxAge nothing is served', async () => {
    clock.advance(86_400);
    assert.equal((await q('api.test')).status, 'SERVFAIL');
  });

  it('counts it all', async () => {
    const text = await registry.metrics();
    assert.match(text, /meshdns_responses_total\{source="stale",rcode="NOERROR"\} 2/);
    assert.match(text, /meshdns_responses_total\{source="cache",rcode="NOERROR"\} 2/);
    assert.match(text, /meshdns_cache_stale_answers_total 2/);
  });
});
