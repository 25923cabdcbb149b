// The failure table (src/server/failures.ts): every way a query fails gets its rcode, one log line
// per burst naming the reason, and a count under its label; a stage that throws is never silent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent } from '../../src/agent/index.js';
import { readQuery } from '../../src/dns/index.js';
import { Registry } from '../../src/metrics.js';
import { type FailureKind, PASS, Pipeline, type Stage } from '../../src/server/index.js';
import { ask, encodeQuery, rcodeOf } from '../helpers/dns-client.js';
import { a, FakeClock } from '../helpers/fake-upstream.js';
import { captureLogs } from '../helpers/log-capture.js';
import { deadAddress, type StubDns, startStubDns } from '../helpers/stub-dns.js';

const SERVFAIL = 2;

async function metric(agent: Agent, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${agent.adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('a stage that throws', () => {
  const heard: { kind: FailureKind; stage?: string; detail: string }[] = [];
  const answering: Stage = { name: 'answer', handle: (req) => Buffer.from(req.msg) };
  const pipeline = (throwing: Stage) =>
    new Pipeline([throwing, answering], undefined, (kind, fields) => heard.push({ kind, ...fields }));

  it('synchronously: SERVFAIL, reported with the stage and the error', () => {
    heard.length = 0;
    const p = pipeline({
      name: 'boom',
      handle: (req) => {
        if (req.q.qkey.startsWith('\x03bad')) throw new TypeError('no such thing');
        return PASS;
      },
    });
    const out = p.answer(encodeQuery('bad.test', 'A'), 'udp');
    assert.ok(out instanceof Buffer);
    assert.equal(rcodeOf(out), SERVFAIL);
    assert.deepEqual(heard, [{ kind: 'stage', stage: 'boom', detail: 'no such thing' }]);
    // The next query goes through the same pipeline as before.
    const good = encodeQuery('good.test', 'A');
    const next = p.answer(good, 'udp');
    assert.ok(next instanceof Buffer && next.equals(good));
    assert.equal(heard.length, 1);
  });

  it('asynchronously: SERVFAIL, reported', async () => {
    heard.length = 0;
    const p = pipeline({ name: 'later', handle: async () => Promise.reject(new Error('lost')) });
    const msg = encodeQuery('x.test', 'A');
    const out = await p.answer(msg, 'tcp');
    assert.ok(out instanceof Buffer);
    assert.equal(rcodeOf(out), SERVFAIL);
    assert.equal(out.readUInt16BE(0), msg.readUInt16BE(0));
    assert.deepEqual(heard, [{ kind: 'stage', stage: 'later', detail: 'lost' }]);
    assert.equal(typeof readQuery(msg), 'object');
  });
});

describe('upstream failures through the agent', () => {
  let stub: StubDns;
  const logs = captureLogs();
  let silent: Agent;
  let dead: Agent;
  const clock = new FakeClock();

  before(async () => {
    stub = await startStubDns((q) => (q.name === 'www.test' ? { answers: [a('www.test', 300)] } : 'drop'));
    const common = {
      listen: { host: '127.0.0.1', port: 0 },
      upstreamTimeoutMs: 300,
      logger: logs.logger,
      admin: { host: '127.0.0.1', port: 0 },
      now: clock.now,
      cache: false as const,
    };
    silent = new Agent({ ...common, upstreams: [stub], registry: new Registry() });
    dead = new Agent({ ...common, upstreams: [await deadAddress()], registry: new Registry() });
    await Promise.all([silent.start(), dead.start()]);
  });

  after(async () => {
    await Promise.all([silent?.close(), dead?.close()]);
    await stub?.close();
  });

  it('a silent upstream: SERVFAIL, one line with reason timeout, counted as timeout', async () => {
    const before = logs.lines.length;
    for (let i = 0; i < 3; i++)
      assert.equal(rcodeOf((await ask('udp', silent.port, 'gone.test', 'A')).raw), SERVFAIL);
    const lines = logs.lines.slice(before).filter((l) => l.reason === 'timeout');
    assert.equal(lines.length, 1, 'one line per burst');
    assert.match(String(lines[0].msg), /no server answered within the budget/);
    assert.match(String(lines[0].detail), new RegExp(`${stub.host}:${stub.port} timeout`));
    assert.equal(await metric(silent, 'meshdns_upstream_failures_total{reason="timeout"}'), 3);
    assert.equal(await metric(silent, 'meshdns_upstream_failures_total{reason="refused"}'), 0);
    assert.equal(await metric(silent, 'dns_upstream_failures_total'), 3);
  });

  it('answers are counted by kind of reply', async () => {
    assert.equal(rcodeOf((await ask('udp', silent.port, 'www.test', 'A')).raw), 0);
    assert.equal(await metric(silent, 'meshdns_upstream_replies_total{class="success"}'), 1);
  });

  it('a dead upstream: SERVFAIL, reason refused, counted as refused', async () => {
    const before = logs.lines.length;
    assert.equal(rcodeOf((await ask('udp', dead.port, 'www.test', 'A')).raw), SERVFAIL);
    const lines = logs.lines.slice(before).filter((l) => l.reason === 'refused');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0].detail), /ECONNREFUSED/);
    assert.equal(await metric(dead, 'meshdns_upstream_failures_total{reason="refused"}'), 1);
  });
});
