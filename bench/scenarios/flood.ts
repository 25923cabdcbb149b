// Scenario "flood" (issue 11 item 3): what a flood leaves to good clients, and what it costs in memory.
// UDP: unique random names against a slow upstream, table answers at a fixed rate beside it (flood-udp.ts).
// TCP: 10,000 connections held by one client, good queries beside them (flood-tcp.ts). Each phase has
// its target, checked: a miss is a warning in the printed result.
import { floodConfigFromEnv } from '../lib/config.js';
import type { LatencySummary } from '../lib/good-queries.js';
import { runTcpFlood, type TcpFloodResult } from './flood-tcp.js';
import { runUdpFlood, type UdpFloodResult } from './flood-udp.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

/** Issue 11: table answers under the flood at no less than half their idle rate. */
const TABLE_RATIO_TARGET = 0.5;

interface FloodResult extends ScenarioResult {
  udp: UdpFloodResult;
  tcp: TcpFloodResult;
}

const mib = (n: number) => `${n.toFixed(1)} MiB`;
const qps = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`;
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '-');

function checks(udp: UdpFloodResult, tcp: TcpFloodResult): string[] {
  const w: string[] = [];
  if (!(udp.table.ratio >= TABLE_RATIO_TARGET))
    w.push(`udp: table answers under flood at ${(udp.table.ratio * 100).toFixed(0)}% of idle, target ≥ 50%`);
  if (!(udp.rss.maxMiB <= udp.rss.boundMiB))
    w.push(`udp: RSS peaked at ${mib(udp.rss.maxMiB)}, over the bound of ${mib(udp.rss.boundMiB)}`);
  if ((udp.upstream.failures.overflow ?? 0) === 0)
    w.push('udp: --upstream-max-in-flight was never reached: the flood was not a flood');
  if (!(tcp.rss.maxDuringMiB <= tcp.rss.boundMiB))
    w.push(`tcp: RSS peaked at ${mib(tcp.rss.maxDuringMiB)}, over the bound of ${mib(tcp.rss.boundMiB)}`);
  if (tcp.idlestClosed === 0) w.push('tcp: the connection cap was never reached');
  for (const [phase, p] of Object.entries(tcp.good))
    for (const [proto, s] of Object.entries(p) as [string, LatencySummary][])
      if (s.answered < s.asked)
        w.push(
          `tcp: ${s.asked - s.answered} of ${s.asked} good ${proto} queries unanswered ${phase} (${s.problems.join('; ')})`,
        );
  return w;
}

async function run(ctx: ScenarioContext): Promise<FloodResult> {
  const fc = floodConfigFromEnv(process.env);
  const udp = await runUdpFlood(ctx, fc);
  const tcp = await runTcpFlood(ctx, fc);
  return {
    scenario: floodScenario.name,
    description: floodScenario.description,
    setup: {
      ...fc,
      pinning:
        ctx.config.serverCpu === undefined ? 'none' : 'meshdns on CPU 0, clients and upstream on CPU 1',
    },
    udp,
    tcp,
    warnings: checks(udp, tcp),
  };
}

function latencyLine(label: string, s: LatencySummary): string {
  return `      ${label.padEnd(4)} ${String(s.answered).padStart(6)}/${String(s.asked).padEnd(6)} answered  p50 ${ms(s.p50Ms)}  p99 ${ms(s.p99Ms)}  max ${ms(s.maxMs)}`;
}

function format(r: FloodResult): string {
  const { udp, tcp } = r;
  const t = udp.table;
  const holderLast = tcp.holder.at(-1)!;
  const openTimeline = tcp.holder.map((h) => h.open).join(' ');
  return [
    `${r.scenario}: ${r.description}`,
    `  udp flood: ${r.setup.names} unique names, upstream answers after ${r.setup.upstreamDelayMs} ms, ${r.setup.seconds} s`,
    `    flooder (dnsperf -c 8 -q 4096): ${qps(udp.flooder.qps)} answered, ${udp.flooder.sent.toLocaleString('en-US')} sent, ${udp.flooder.lost} lost, rcodes ${JSON.stringify(udp.flooder.rcodes)}`,
    `    table answers (offered ${qps(t.idle.offeredQps)}): idle ${qps(t.idle.answeredQps)} (avg ${ms(t.idle.avgLatencyMs)}, max ${ms(t.idle.maxLatencyMs)}, ${t.idle.lost} lost)` +
      `, under flood ${qps(t.flood.answeredQps)} (avg ${ms(t.flood.avgLatencyMs)}, max ${ms(t.flood.maxLatencyMs)}, ${t.flood.lost} lost): ${(t.ratio * 100).toFixed(0)}% of idle (target ≥ 50%)`,
    `    meshdns RSS: idle ${mib(udp.rss.idleMiB)}, max ${mib(udp.rss.maxMiB)}, end ${mib(udp.rss.endMiB)}, 5 s after ${mib(udp.rss.afterMiB)} (bound ${mib(udp.rss.boundMiB)})`,
    `    RSS each second (MiB): ${udp.rss.samples.join(' ')}`,
    `    upstream: max in flight ${udp.upstream.maxInFlight} (bound 1024); forward attempts ${udp.upstream.forwarded.toLocaleString('en-US')} (dns_upstream_requests_total counts the overflowed ones too), sent upstream ${(udp.upstream.forwarded - (udp.upstream.failures.overflow ?? 0)).toLocaleString('en-US')}, failures ${JSON.stringify(udp.upstream.failures)}`,
    `    answers by source: ${JSON.stringify(udp.upstream.answersBySource)}`,
    `    kernel (system-wide): ${udp.kernel.udpRcvbufErrors} UDP datagrams dropped on full receive buffers`,
    `  tcp flood: ${r.setup.tcpConnections} connections held for ${r.setup.tcpSeconds} s by one client`,
    `    limits: holder RLIMIT_NOFILE ${tcp.limits.holderNofile}, meshdns ${tcp.limits.meshdnsNofile}, fs.file-max ${tcp.limits.fileMax}, fs.nr_open ${tcp.limits.nrOpen}`,
    `    holder: ${holderLast.opened} established, ${holderLast.failed} failed, ${holderLast.closedByServer} closed by the server, ${holderLast.open} open at the end, ${holderLast.answers} keep-alive answers`,
    `    holder's open connections, each second: ${openTimeline}`,
    `    kernel (system-wide): accept queue overflows ${tcp.kernel.listenOverflows}, listen drops ${tcp.kernel.listenDrops}`,
    `    meshdns: at most ${tcp.serverMaxConnections} connections, idlest closed ${tcp.idlestClosed} times (--tcp-max-connections 1000)`,
    '    good queries (UDP; TCP on a fresh connection each):',
    ...(['before', 'during', 'after'] as const).flatMap((p) => [
      `     ${p}:`,
      latencyLine('udp', tcp.good[p].udp),
      latencyLine('tcp', tcp.good[p].tcp),
    ]),
    `    meshdns RSS: before ${mib(tcp.rss.beforeMiB)}, max during ${mib(tcp.rss.maxDuringMiB)}, after ${mib(tcp.rss.afterMiB)} (bound ${mib(tcp.rss.boundMiB)})`,
    ...(r.warnings.length > 0
      ? ['  WARNINGS:', ...r.warnings.map((w) => `    ${w}`)]
      : ['  all targets met']),
  ].join('\n');
}

export const floodScenario: Scenario<FloodResult> = {
  name: 'flood',
  description:
    'floods: unique names against a slow upstream (table answers beside it), and 10,000 held TCP connections',
  tools: [
    { bin: 'dnsperf', pkg: 'dnsperf' },
    { bin: 'taskset', pkg: 'util-linux' },
  ],
  run,
  format,
};
