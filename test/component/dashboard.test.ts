// The Grafana dashboard in deploy/ may only use metrics a running agent really exports, and must
// cover what the issue asks of it (answers by source and rcode, upstream, cache, table size).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { Registry } from '../../src/metrics.js';
import { NameTable } from '../../src/nametable/index.js';
import { ask } from '../helpers/dns-client.js';
import { ROOT } from '../helpers/meshdns.js';
import { type StubDns, startStubDns } from '../helpers/stub-dns.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

/** Metric names in a PromQL expression: ours and Istio's all start with meshdns_ or dns_. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:meshdns|dns)_[a-z0-9_]+)\b/g)].map((m) => m[1]);
}

/** Sample names in Prometheus text: counters, gauges, and a histogram's _bucket/_sum/_count. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

describe('Grafana dashboard (deploy/grafana/meshdns.json)', () => {
  let stub: StubDns;
  let agent: Agent;
  let dashboard: { panels: Panel[] };

  before(async () => {
    dashboard = JSON.parse(await readFile(`${ROOT}deploy/grafana/meshdns.json`, 'utf8'));
    stub = await startStubDns(() => ({ answers: [] }));
    agent = new Agent({
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: [{ host: stub.host, port: stub.port }],
      upstreamTimeoutMs: 500,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      admin: { host: '127.0.0.1', port: 0 },
    });
    await agent.start();
    agent.setTable(NameTable.empty());
    await ask('udp', agent.port, 'x.test', 'A');
  });

  after(async () => {
    await agent?.close();
    await stub?.close();
  });

  it('uses only metric names the agent exports on /metrics', async () => {
    const res = await fetch(`http://127.0.0.1:${agent.adminPort}/metrics`);
    const names = exported(await res.text());
    const used = dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr)));
    assert.ok(used.length > 10);
    const unknown = [...new Set(used)].filter((n) => !names.has(n));
    assert.deepEqual(unknown, [], `not exported: ${unknown.join(', ')}`);
  });

  it('covers answers by source and rcode, upstream latency and failures, cache hit ratio, table size', () => {
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const needed of [
      /by \(source\)[^\n]*meshdns_responses_total/,
      /by \(rcode\)[^\n]*meshdns_responses_total/,
      /dns_upstream_request_duration_seconds_bucket/,
      /dns_upstream_failures_total/,
      /meshdns_cache_hits_total[^\n]*meshdns_cache_misses_total/,
      /meshdns_table_names/,
    ]) {
      assert.match(exprs, needed);
    }
  });
});
