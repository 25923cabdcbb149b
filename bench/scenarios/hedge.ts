// Scenario "hedge" (issue 14 item 1): two upstreams, one losing a share of its UDP queries. meshdns
// forwards to them sequentially (Istio's default, `--upstream-hedge off`), in parallel (Istio's
// DNS_FORWARD_PARALLEL, `--upstream-hedge 0`) and hedged (`--upstream-hedge auto`); beside them meshdns
// with the healthy upstream alone, the reference. Per contender: p50/p99 of the client's latency and
// the upstream queries sent per client query, runs alternated, medians reported.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { scrapeSamples } from '../lib/admin-api.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import { askUdp } from '../lib/good-queries.js';
import { freeDnsPort, freeTcpPort } from '../lib/ports.js';
import { formatRows } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { startMeshdns } from '../servers/meshdns.js';
import { startSyntheticUpstream, syntheticAddress } from '../servers/synthetic-upstream.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

/** Issue 14: hedged p99 within 2× the healthy upstream's, at most 1.1 upstream queries per query. */
const P99_RATIO_TARGET = 2;
const LOAD_TARGET = 1.1;

export interface HedgeConfig {
  /** Client queries per contender per run (unique names, so none is a cache hit). */
  queries: number;
  /** Client queries in flight at once. */
  concurrency: number;
  /** Each upstream's delay before it answers (a resolver some ms away, not loopback's 0.1 ms). */
  upstreamDelayMs: number;
  /** Share of UDP queries the lossy upstream drops. */
  loss: number;
}

function intFromEnv(key: string, fallback: number, min: number): number {
  const text = process.env[key];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${key}="${text}": expected a whole number >= ${min}`);
  return n;
}

export function hedgeConfigFromEnv(): HedgeConfig {
  const lossText = process.env.BENCH_HEDGE_LOSS;
  const loss = lossText ? Number(lossText) : 0.05;
  if (!(loss >= 0 && loss < 1)) throw new Error(`BENCH_HEDGE_LOSS="${lossText}": expected a share in [0, 1)`);
  return {
    queries: intFromEnv('BENCH_HEDGE_QUERIES', 4000, 100),
    concurrency: intFromEnv('BENCH_HEDGE_CONCURRENCY', 20, 1),
    upstreamDelayMs: intFromEnv('BENCH_HEDGE_DELAY_MS', 10, 0),
    loss,
  };
}

interface Contender {
  label: string;
  flags: string[];
  /** Only the healthy upstream. */
  healthyOnly?: boolean;
}

const CONTENDERS: readonly Contender[] = [
  { label: 'healthy only', flags: ['--upstream-hedge', 'off'], healthyOnly: true },
  { label: 'sequential', flags: ['--upstream-hedge', 'off'] },
  { label: 'parallel', flags: ['--upstream-hedge', '0'] },
  { label: 'hedged', flags: ['--upstream-hedge', 'auto'] },
];

interface RunFigures {
  p50Ms: number;
  p99Ms: number;
  /** Upstream exchanges (every try, both servers) per client query. */
  upstreamPerQuery: number;
  /** Client queries without the right address (SERVFAIL, timeout). */
  failed: number;
  hedges: number;
  hedgesWon: number;
}

interface ContenderResult {
  label: string;
  flags: string[];
  runs: RunFigures[];
  median: RunFigures;
}

interface HedgeResult extends ScenarioResult {
  contenders: ContenderResult[];
}

interface Running {
  contender: Contender;
  dns: ServerAddress;
  admin: ServerAddress;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!;
}

async function counters(admin: ServerAddress): Promise<{ exchanges: number; hedges: number; won: number }> {
  const samples = await scrapeSamples(admin, 5000);
  let exchanges = 0;
  for (const [key, value] of samples)
    if (key.startsWith('meshdns_upstream_exchanges_total{')) exchanges += value;
  return {
    exchanges,
    hedges: samples.get('meshdns_upstream_hedges_total') ?? Number.NaN,
    won: samples.get('meshdns_upstream_hedges_won_total') ?? Number.NaN,
  };
}

/** `count` unique names asked with `concurrency` in flight; every answer timed and checked. */
async function load(
  dns: ServerAddress,
  prefix: string,
  count: number,
  concurrency: number,
): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const name = `q${i}.${prefix}.hedge.test`;
      const id = i & 0xffff;
      const query = dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name, type: 'A', class: 'IN' }],
      });
      const at = performance.now();
      // Longer than meshdns' 5 s budget: a query it gives up on comes back as SERVFAIL, not as a loss.
      const reply = await askUdp(dns, query, 7000);
      latencies.push(performance.now() - at);
      const ok =
        typeof reply !== 'string' &&
        (dnsPacket.decode(reply).answers ?? []).some(
          (a) => a.type === 'A' && a.data === syntheticAddress(name),
        );
      if (!ok) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies: latencies.sort((a, b) => a - b), failed };
}

async function measure(r: Running, prefix: string, hc: HedgeConfig): Promise<RunFigures> {
  const before = await counters(r.admin);
  const { latencies, failed } = await load(r.dns, prefix, hc.queries, hc.concurrency);
  const after = await counters(r.admin);
  return {
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    upstreamPerQuery: (after.exchanges - before.exchanges) / hc.queries,
    failed,
    hedges: after.hedges - before.hedges,
    hedgesWon: after.won - before.won,
  };
}

function medianOf(runs: RunFigures[]): RunFigures {
  const pick = (f: (r: RunFigures) => number) => median(runs.map(f));
  return {
    p50Ms: pick((r) => r.p50Ms),
    p99Ms: pick((r) => r.p99Ms),
    upstreamPerQuery: pick((r) => r.upstreamPerQuery),
    failed: pick((r) => r.failed),
    hedges: pick((r) => r.hedges),
    hedgesWon: pick((r) => r.hedgesWon),
  };
}

async function run(ctx: ScenarioContext): Promise<HedgeResult> {
  const hc = hedgeConfigFromEnv();
  const { config, group, log } = ctx;
  const healthy = { host: '127.0.14.1', port: await freeDnsPort('127.0.14.1') };
  const lossy = { host: '127.0.14.2', port: await freeDnsPort('127.0.14.2') };
  const upstreamCpu = config.clientCpu;
  await startSyntheticUpstream(group, {
    label: 'healthy upstream',
    listen: healthy,
    delayMs: hc.upstreamDelayMs,
    ttl: 60,
    cpu: upstreamCpu,
  });
  await startSyntheticUpstream(group, {
    label: 'lossy upstream',
    listen: lossy,
    delayMs: hc.upstreamDelayMs,
    ttl: 60,
    loss: hc.loss,
    cpu: upstreamCpu,
  });
  const manifestsDir = path.join(ctx.workDir, 'manifests');
  await mkdir(manifestsDir, { recursive: true });
  const running: Running[] = [];
  for (const [i, contender] of CONTENDERS.entries()) {
    const host = `127.0.14.${10 + i}`;
    const admin = { host, port: await freeTcpPort(host) };
    const server = await startMeshdns(group, {
      label: contender.label,
      manifestsDir,
      listen: { host, port: await freeDnsPort(host) },
      upstreams: contender.healthyOnly ? [healthy] : [lossy, healthy],
      searchDomains: ['default.svc.cluster.local'],
      probeName: 'probe.hedge.test',
      cpu: config.serverCpu,
      // Every name is asked once: the cache would only cost memory. Its own admin port for /metrics.
      extraArgs: [...contender.flags, '--no-cache', '--admin-listen', `${admin.host}:${admin.port}`],
    });
    running.push({ contender, dns: server.address, admin });
  }
  // Warm-up: the JIT, the socket pools, and `auto`'s p95 of each upstream.
  for (const r of running) await load(r.dns, `warm-${running.indexOf(r)}`, 500, hc.concurrency);
  const runs = new Map<Running, RunFigures[]>(running.map((r) => [r, []]));
  for (let n = 0; n < config.runs; n++) {
    for (const [i, r] of running.entries()) {
      const figures = await measure(r, `run${n}-c${i}`, hc);
      runs.get(r)!.push(figures);
      log(
        `hedge: run ${n + 1}/${config.runs} ${r.contender.label}: p50 ${figures.p50Ms.toFixed(1)} ms, ` +
          `p99 ${figures.p99Ms.toFixed(1)} ms, ${figures.upstreamPerQuery.toFixed(3)} upstream/query`,
      );
    }
  }
  const contenders = running.map((r): ContenderResult => {
    const all = runs.get(r)!;
    return { label: r.contender.label, flags: r.contender.flags, runs: all, median: medianOf(all) };
  });
  return {
    scenario: hedgeScenario.name,
    description: hedgeScenario.description,
    setup: {
      ...hc,
      runs: config.runs,
      upstreams: 'synthetic (bench/servers/synthetic-upstream.ts), one per process; meshdns --no-cache',
      pinning: config.serverCpu === undefined ? 'none' : 'meshdns on CPU 0, client and upstreams on CPU 1',
    },
    contenders,
    warnings: checks(contenders),
  };
}

function checks(contenders: ContenderResult[]): string[] {
  const by = (label: string) => contenders.find((c) => c.label === label)!.median;
  const healthy = by('healthy only');
  const hedged = by('hedged');
  const w: string[] = [];
  const ratio = hedged.p99Ms / healthy.p99Ms;
  if (!(ratio <= P99_RATIO_TARGET))
    w.push(`hedged p99 is ${ratio.toFixed(2)}× the healthy upstream's, target ≤ ${P99_RATIO_TARGET}×`);
  if (!(hedged.upstreamPerQuery <= LOAD_TARGET))
    w.push(
      `hedged sends ${hedged.upstreamPerQuery.toFixed(3)} upstream queries per query, target ≤ ${LOAD_TARGET}`,
    );
  for (const c of contenders)
    if (c.median.failed > 0)
      w.push(`${c.label}: median ${c.median.failed} queries per run unanswered or wrong`);
  return w;
}

function format(result: HedgeResult): string {
  const healthy = result.contenders.find((c) => c.label === 'healthy only')!.median;
  const rows = [
    ['meshdns', 'p50', 'p99', 'p99 / healthy', 'upstream/query', 'hedges (won)', 'failed', 'flags'],
    ...result.contenders.map((c) => [
      c.label,
      `${c.median.p50Ms.toFixed(1)} ms`,
      `${c.median.p99Ms.toFixed(1)} ms`,
      `${(c.median.p99Ms / healthy.p99Ms).toFixed(2)}×`,
      c.median.upstreamPerQuery.toFixed(3),
      `${Math.round(c.median.hedges)} (${Math.round(c.median.hedgesWon)})`,
      String(c.median.failed),
      c.flags.join(' '),
    ]),
  ];
  const s = result.setup as unknown as HedgeConfig & { runs: number };
  return [
    `${result.scenario}: ${result.description}`,
    `  ${s.queries} queries per run, ${s.concurrency} in flight, upstream delay ${s.upstreamDelayMs} ms, ` +
      `loss ${(s.loss * 100).toFixed(1)}% on one upstream; medians of ${s.runs} alternated runs`,
    ...formatRows(rows).map((l) => `  ${l}`),
    ...result.warnings.map((w) => `  warning: ${w}`),
  ].join('\n');
}

export const hedgeScenario: Scenario<HedgeResult> = {
  name: 'hedge',
  description: 'two upstreams, one lossy: sequential vs parallel vs hedged forwarding (issue 14 item 1)',
  tools: [],
  run,
  format,
};
