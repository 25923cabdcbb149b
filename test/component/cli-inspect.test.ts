// `meshdns lookup` and `meshdns explain` against a running `meshdns serve`, as an operator uses them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { a } from '../helpers/fake-upstream.js';
import { tempFolder } from '../helpers/manifests.js';
import { type Running, runCli, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

const S = 'default.svc.cluster.local';
/** The examples, with an upstream nobody answers on. */
const SERVE_NO_UPSTREAM = ['serve', '--manifests', 'examples', '--upstream', '127.0.0.1:9', '--search', S];

async function waitReady(adminPort: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${adminPort}/healthz/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`admin API on ${adminPort} not ready within ${timeoutMs} ms`);
}

describe('meshdns lookup and explain', () => {
  // Each serve its own state file: one serve per state file at a time (and not the checkout's own).
  const tmp = tempFolder('meshdns-inspect-');
  let stub: StubDns;
  let agent: Running;
  let dns: string;
  let admin: string;

  before(async () => {
    stub = await startStubDns((q) =>
      q.name === 'www.test'
        ? {
            answers: [
              { name: 'www.test', type: 'CNAME', ttl: 300, data: 'web.test' },
              a('web.test', 300, '198.51.100.7'),
            ],
          }
        : { flags: 3 },
    );
    const port = await freePort('127.0.0.1');
    const adminPort = await freePort('127.0.0.1');
    dns = `127.0.0.1:${port}`;
    admin = `127.0.0.1:${adminPort}`;
    agent = startCli([
      'serve',
      '--manifests',
      'examples',
      '--upstream',
      `${stub.host}:${stub.port}`,
      '--search',
      S,
      '--dns-listen',
      dns,
      '--admin-listen',
      admin,
      '--state-file',
      join(tmp(), 'serve.json'),
    ]);
    await waitForDns('127.0.0.1', port);
    await waitReady(adminPort);
  });

  after(async () => {
    await agent?.stop();
    await stub?.close();
  });

  it('lookup prints the answer like dig +short', async () => {
    const r = await runCli(['lookup', 'www.test', '--server', dns]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'web.test.\n198.51.100.7\n');
  });

  it('lookup --output json, over TCP', async () => {
    const r = await runCli(['lookup', `productpage.${S}`, '--server', dns, '--tcp', '--output', 'json']);
    const out = JSON.parse(r.stdout);
    assert.equal(out.rcode, 'NOERROR');
    assert.deepEqual(out.flags.includes('aa'), true);
    assert.equal(out.answers[0].ttl, 30);
  });

  it('lookup of a missing name: nothing on stdout, the rcode on stderr', async () => {
    const r = await runCli(['lookup', 'nope.test', '--server', dns]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /NXDOMAIN/);
  });

  it('explain: a table name, with its resource and rule', async () => {
    const r = await runCli(['explain', 'productpage', '--admin', admin]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^productpage\. A: answered from table/);
    assert.match(r.stdout, /rule: alias name\. /);
    assert.match(r.stdout, /resource: Service default\/productpage/);
  });

  it('explain --output json: cached after a lookup', async () => {
    const r = await runCli(['explain', 'www.test', '--admin', admin, '--output', 'json']);
    const out = JSON.parse(r.stdout);
    assert.equal(out.source, 'cache');
    assert.equal(out.answer.answers[1].data, '198.51.100.7');
  });

  it('explain: an unreachable admin API is a one-line error', async () => {
    const r = await runCli(['explain', 'www.test', '--admin', `127.0.0.1:${await freePort('127.0.0.1')}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /MESHDNS_NO_ANSWER: cannot reach the admin API/);
  });

  it("/metrics has the process's figures, the longest event-loop stall among them", async () => {
    const res = await fetch(`http://${admin}/metrics`);
    const text = await res.text();
    // prom-client's standard names; the stall is the max of monitorEventLoopDelay since the last scrape.
    for (const name of [
      'nodejs_eventloop_lag_max_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]) {
      assert.match(text, new RegExp(`^${name} \\d`, 'm'), `${name} missing from /metrics`);
    }
  });

  it('serve refuses a non-loopback admin address without --admin-allow-remote', async () => {
    const r = await runCli([
      ...SERVE_NO_UPSTREAM,
      '--admin-listen',
      '0.0.0.0:0',
      '--dns-listen',
      '127.0.0.1:0',
      '--state-file',
      join(tmp(), 'refused.json'),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /MESHDNS_ADMIN_REMOTE/);
  });
});

describe('meshdns serve: switching the cache and metrics off, logging queries', () => {
  it('--no-cache --no-metrics --log-queries 1', async () => {
    const port = await freePort('127.0.0.1');
    const adminPort = await freePort('127.0.0.1');
    const agent = startCli([
      ...SERVE_NO_UPSTREAM,
      '--dns-listen',
      `127.0.0.1:${port}`,
      '--admin-listen',
      `127.0.0.1:${adminPort}`,
      '--no-cache',
      '--no-metrics',
      '--log-queries',
      '1',
    ]);
    try {
      await waitReady(adminPort);
      const get = (path: string) => fetch(`http://127.0.0.1:${adminPort}${path}`);
      assert.deepEqual(await (await get('/debug/cache')).json(), { enabled: false });
      const metrics = await get('/metrics');
      await metrics.text();
      assert.equal(metrics.status, 404);
      const config = (await (await get('/debug/config')).json()) as {
        pipeline: string[];
        flags: Record<string, { value: unknown; source: string }>;
      };
      assert.deepEqual(config.pipeline, ['table', 'autopath', 'upstream']);
      assert.deepEqual(config.flags.cache, { value: false, source: 'flag' });
      assert.deepEqual(config.flags.cacheSize.source, 'default');
      const r = await runCli(['lookup', 'productpage', '--server', `127.0.0.1:${port}`]);
      assert.equal(r.stdout, '10.96.0.10\n');
      const deadline = Date.now() + 5000;
      while (!/"msg":"query"/.test(agent.output()) && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 50));
      assert.match(
        agent.output(),
        /"qname":"productpage\.","qtype":"A","protocol":"udp","source":"table","rcode":"NOERROR"/,
      );
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
