// The TCP flood (issue 11 item 3b): one client opens 10,000 connections to `meshdns serve` (defaults:
// --tcp-max-connections 1000, idle timeout 10 s) and holds them, asking on each every few seconds so
// none is idle for the timeout; a good client asks a table name over UDP and over fresh TCP connections
// before, during and after. The cap must close the idlest held connections to admit the good ones.
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import { scrapeSamples } from '../lib/admin-api.js';
import type { FloodConfig } from '../lib/config.js';
import { GoodQueries, type LatencySummary, summarize } from '../lib/good-queries.js';
import { type NetCounters, netCountersSince, readNetCounters } from '../lib/net-counters.js';
import { freeDnsPort } from '../lib/ports.js';
import { RssSampler } from '../lib/rss-sampler.js';
import { type HolderReport, holderReports, startTcpHolder } from '../lib/tcp-holder.js';
import { startSyntheticUpstream } from '../servers/synthetic-upstream.js';
import { startFloodTarget, TABLE_ADDRESS, TABLE_NAME } from './flood-target.js';
import type { ScenarioContext } from './scenario.js';

const HOSTS = { upstream: '127.0.5.73', meshdns: '127.0.5.74' };
/** Below the default idle timeout (10 s): the held connections stay busy enough to be kept. */
const KEEPALIVE_MS = 5000;
const GOOD_INTERVAL_MS = 20;
const QUIET_SECONDS = 5;
const SCRAPE_TIMEOUT_MS = 2000;
/** Fds the holder needs besides its connections (stdio, the event loop's own). */
const HOLDER_SPARE_FDS = 256;
/**
 * RSS bound under the TCP flood: the idle size plus 1,000 connections (the cap) with their 64 KiB
 * queued-bytes bound each (64 MiB if none read; these do read) and Node's per-socket objects.
 */
export const TCP_FLOOD_RSS_BOUND_MIB = 256;

export interface TcpFloodResult {
  limits: { holderNofile: number; fileMax: number; nrOpen: number; meshdnsNofile: number };
  holder: HolderReport[];
  /** Largest meshdns_tcp_connections seen, and the cap reached (idlest closed) over the flood. */
  serverMaxConnections: number;
  idlestClosed: number;
  good: Record<'before' | 'during' | 'after', { udp: LatencySummary; tcp: LatencySummary }>;
  rss: { beforeMiB: number; maxDuringMiB: number; afterMiB: number; boundMiB: number };
  /** Kernel drops while the holder ran (system-wide): a full accept queue delays a good client's SYN by 1 s. */
  kernel: NetCounters;
}

const procNumber = (file: string) => Number(readFileSync(file, 'utf8').trim());

function nofileOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3]);
}

const sleep = (s: number) => new Promise((resolve) => setTimeout(resolve, s * 1000));

export async function runTcpFlood(ctx: ScenarioContext, fc: FloodConfig): Promise<TcpFloodResult> {
  const { group, config, log } = ctx;
  const upstream = await startSyntheticUpstream(group, {
    listen: { host: HOSTS.upstream, port: await freeDnsPort(HOSTS.upstream) },
    delayMs: 0,
    ttl: 300,
    cpu: config.clientCpu,
  });
  const target = await startFloodTarget(ctx, 'meshdns-tcp', HOSTS.meshdns, upstream.address);
  const fileMax = procNumber('/proc/sys/fs/file-max');
  const nrOpen = procNumber('/proc/sys/fs/nr_open');
  const good = new GoodQueries(target.server.address, TABLE_NAME, TABLE_ADDRESS);
  const rss = new RssSampler(target.pid).start();
  const marks = { start: performance.now(), flood: 0, floodEnd: 0, end: 0 };
  good.start(GOOD_INTERVAL_MS);
  await sleep(QUIET_SECONDS);
  const rssBefore = rss.sample();

  log(
    `  tcp: ${fc.tcpConnections.toLocaleString('en-US')} connections held for ${fc.tcpSeconds} s ` +
      `(a query on each every ${KEEPALIVE_MS / 1000} s), good UDP and TCP queries every ${GOOD_INTERVAL_MS} ms`,
  );
  const before = await scrapeSamples(target.admin, SCRAPE_TIMEOUT_MS);
  marks.flood = performance.now();
  const netBefore = readNetCounters();
  const query = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: TABLE_NAME, type: 'A' }] });
  const holder = startTcpHolder(group, {
    host: target.server.address.host,
    port: target.server.address.port,
    connections: fc.tcpConnections,
    seconds: fc.tcpSeconds,
    keepaliveMs: KEEPALIVE_MS,
    query,
    nofile: Math.min(nrOpen, fc.tcpConnections + HOLDER_SPARE_FDS),
    cpu: config.clientCpu,
  });
  let serverMax = 0;
  while (holder.running) {
    const s = await scrapeSamples(target.admin, SCRAPE_TIMEOUT_MS);
    serverMax = Math.max(serverMax, s.get('meshdns_tcp_connections') ?? 0);
    await sleep(1);
  }
  marks.floodEnd = performance.now();
  const kernel = netCountersSince(netBefore);
  const after = await scrapeSamples(target.admin, SCRAPE_TIMEOUT_MS);
  const maxDuring = rss.summary((marks.flood - marks.start) / 1000).max;
  await sleep(QUIET_SECONDS);
  marks.end = performance.now();
  await good.stop();
  rss.stop();
  const rssAfter = rss.sample();
  const meshdnsNofile = nofileOf(target.pid);
  await Promise.all([target.server.proc.stop(), upstream.proc.stop()]);
  const reports = holderReports(holder);
  if (reports.length === 0) throw new Error(`the TCP holder reported nothing:\n${holder.stderr}`);

  const phase = (from: number, to: number) => ({
    udp: summarize(good.results, 'udp', from, to),
    tcp: summarize(good.results, 'tcp', from, to),
  });
  const key = 'meshdns_limit_reached_total{limit="tcp_connections"}';
  return {
    limits: { holderNofile: reports[0].nofile, fileMax, nrOpen, meshdnsNofile },
    holder: reports,
    serverMaxConnections: serverMax,
    idlestClosed: (after.get(key) ?? 0) - (before.get(key) ?? 0),
    good: {
      before: phase(marks.start, marks.flood),
      during: phase(marks.flood, marks.floodEnd),
      after: phase(marks.floodEnd, marks.end),
    },
    rss: {
      beforeMiB: rssBefore,
      maxDuringMiB: maxDuring,
      afterMiB: rssAfter,
      boundMiB: TCP_FLOOD_RSS_BOUND_MIB,
    },
    kernel,
  };
}
