// The UDP flood (issue 11 item 3a): dnsperf sends unique random names as fast as meshdns answers them,
// every one a cache miss for an upstream that takes `upstreamDelayMs` to answer, while a second dnsperf
// asks a table name at a fixed rate. The same table client runs alone first: its idle rate.
import path from 'node:path';
import { writeQueryFile } from '../fixtures/files.js';
import { fetchDebug, scrapeSamples } from '../lib/admin-api.js';
import type { FloodConfig } from '../lib/config.js';
import { type DnsperfResult, runDnsperf } from '../lib/dnsperf.js';
import { type NetCounters, netCountersSince, readNetCounters } from '../lib/net-counters.js';
import { freeDnsPort } from '../lib/ports.js';
import { seededRandom } from '../lib/random.js';
import { RssSampler } from '../lib/rss-sampler.js';
import { startSyntheticUpstream } from '../servers/synthetic-upstream.js';
import { startFloodTarget, TABLE_NAME } from './flood-target.js';
import type { ScenarioContext } from './scenario.js';

const HOSTS = { upstream: '127.0.5.71', meshdns: '127.0.5.72' };
/** Far more than --upstream-max-in-flight (1024): the bound is reached and the overflow path measured. */
const FLOOD_OUTSTANDING = 4096;
const FLOOD_CLIENTS = 8;
/**
 * The table client's dnsperf -t: a table answer later than this counts as lost. Its window (-q) is its
 * rate times this, so it keeps offering its rate however slow the answers get, and is never held back
 * by its own window.
 */
const TABLE_TIMEOUT_S = 1;
const SCRAPE_TIMEOUT_MS = 2000;
/**
 * The RSS meshdns must stay under during and after the flood: its idle size (~160 MiB on examples/: two
 * V8 isolates, the table builder's worker beside the event loop), plus the cache's byte bound (32 MiB,
 * DEFAULTS.cache.maxBytes) and 128 MiB for V8's heap under ~20,000 queries/s of garbage (semi-spaces,
 * old-space slack), 1,024 upstream sockets in flight and socket buffers. Measured: ~270 MiB, flat.
 */
export const UDP_FLOOD_RSS_BOUND_MIB = 320;

export interface TableRate {
  offeredQps: number;
  answeredQps: number;
  sent: number;
  lost: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
}

export interface UdpFloodResult {
  table: { idle: TableRate; flood: TableRate; ratio: number };
  flooder: Pick<DnsperfResult, 'qps' | 'sent' | 'completed' | 'lost' | 'rcodes'>;
  rss: {
    idleMiB: number;
    maxMiB: number;
    endMiB: number;
    afterMiB: number;
    boundMiB: number;
    /** One sample a second over the flood. */
    samples: number[];
  };
  upstream: {
    /** Largest `inFlight` of /debug/upstreams, read every second. */
    maxInFlight: number;
    /** Counters of /metrics over the flood: forwards, and forwards failed by reason. */
    forwarded: number;
    failures: Record<string, number>;
    answersBySource: Record<string, number>;
  };
  /** Kernel drops over the flood (system-wide). */
  kernel: NetCounters;
}

function tableRate(r: DnsperfResult, offeredQps: number): TableRate {
  return {
    offeredQps,
    answeredQps: r.completed / r.runSeconds,
    sent: r.sent,
    lost: r.lost,
    avgLatencyMs: r.avgLatencyMs,
    maxLatencyMs: r.maxLatencyMs,
  };
}

/** `{prefix}{label="value"}` samples of a counter as value → count, differences between two scrapes. */
function byLabel(
  before: Map<string, number>,
  after: Map<string, number>,
  prefix: string,
  label: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`${label}="([^"]*)"`);
  for (const [key, value] of after) {
    if (!key.startsWith(`${prefix}{`)) continue;
    const name = re.exec(key)?.[1];
    if (name === undefined) continue;
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) out[name] = (out[name] ?? 0) + delta;
  }
  return out;
}

/** 1,000,000 (by default) distinct names under flood.test, in a seeded order: every one a cache miss. */
async function writeFloodNames(file: string, count: number): Promise<string> {
  const random = seededRandom(11);
  const names = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const tag = Math.floor(random() * 0x100000000).toString(36);
    names[i] = `f${i.toString(36)}-${tag}.flood.test`;
  }
  return writeQueryFile(file, names);
}

export async function runUdpFlood(ctx: ScenarioContext, fc: FloodConfig): Promise<UdpFloodResult> {
  const { group, config, log, workDir } = ctx;
  const floodFile = await writeFloodNames(path.join(workDir, 'flood-names.txt'), fc.names);
  const tableFile = await writeQueryFile(path.join(workDir, 'table-name.txt'), [TABLE_NAME]);
  const upstream = await startSyntheticUpstream(group, {
    listen: { host: HOSTS.upstream, port: await freeDnsPort(HOSTS.upstream) },
    delayMs: fc.upstreamDelayMs,
    ttl: 300,
    cpu: config.clientCpu,
  });
  const target = await startFloodTarget(ctx, 'meshdns-udp', HOSTS.meshdns, upstream.address);
  const tableRun = (seconds: number) =>
    runDnsperf(group, {
      server: target.server.address,
      queryFile: tableFile,
      length: seconds,
      clients: 1,
      threads: 1,
      outstanding: fc.tableQps * TABLE_TIMEOUT_S,
      timeoutSeconds: TABLE_TIMEOUT_S,
      qps: fc.tableQps,
      cpu: config.clientCpu,
    });

  log(`  udp: the table client alone for ${fc.idleSeconds} s at ${fc.tableQps} qps`);
  const idle = await tableRun(fc.idleSeconds);
  const idleRss = new RssSampler(target.pid).sample();

  log(
    `  udp: ${fc.seconds} s of ${fc.names.toLocaleString('en-US')} unique names (upstream answers after ` +
      `${fc.upstreamDelayMs} ms), the table client beside it`,
  );
  const before = await scrapeSamples(target.admin, SCRAPE_TIMEOUT_MS);
  const netBefore = readNetCounters();
  const rss = new RssSampler(target.pid).start();
  let maxInFlight = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const up = (await fetchDebug(target.admin, 'upstreams', SCRAPE_TIMEOUT_MS)) as { inFlight?: number };
      maxInFlight = Math.max(maxInFlight, up?.inFlight ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  const [flood, underFlood] = await Promise.all([
    runDnsperf(group, {
      server: target.server.address,
      queryFile: floodFile,
      length: fc.seconds,
      clients: FLOOD_CLIENTS,
      threads: 1,
      outstanding: FLOOD_OUTSTANDING,
      timeoutSeconds: 2,
      cpu: config.clientCpu,
    }),
    tableRun(fc.seconds),
  ]);
  const kernel = netCountersSince(netBefore);
  polling = false;
  await poll;
  rss.stop();
  const during = rss.summary();
  const after = await scrapeSamples(target.admin, SCRAPE_TIMEOUT_MS);
  // Answers still in flight upstream settle within the forward budget; then the resting size.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const afterRss = rss.sample();
  await Promise.all([target.server.proc.stop(), upstream.proc.stop()]);

  const idleRate = tableRate(idle, fc.tableQps);
  const floodRate = tableRate(underFlood, fc.tableQps);
  const counter = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  return {
    table: { idle: idleRate, flood: floodRate, ratio: floodRate.answeredQps / idleRate.answeredQps },
    flooder: {
      qps: flood.qps,
      sent: flood.sent,
      completed: flood.completed,
      lost: flood.lost,
      rcodes: flood.rcodes,
    },
    rss: {
      idleMiB: idleRss,
      maxMiB: during.max,
      endMiB: during.last,
      afterMiB: afterRss,
      boundMiB: UDP_FLOOD_RSS_BOUND_MIB,
      samples: rss.samples.map((x) => Math.round(x.mib)),
    },
    upstream: {
      maxInFlight,
      forwarded: counter('dns_upstream_requests_total'),
      failures: byLabel(before, after, 'meshdns_upstream_failures_total', 'reason'),
      answersBySource: byLabel(before, after, 'meshdns_responses_total', 'source'),
    },
    kernel,
  };
}
