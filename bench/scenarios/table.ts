// Scenario "table": names answered from the in-memory table (the hot path), against dnsmasq answering
// the same names from a hosts file and unbound from local-data. No query is forwarded by any. Then the
// same over TCP, each dnsperf client one connection with its queries pipelined (RFC 7766 §6.2.1.1).

import { batchSocketSupport } from '../../src/netio/index.js';
import { type ServiceFixture, writeServiceFixture } from '../fixtures/services.js';
import { type Comparison, compareServers, equalRate } from '../lib/compare.js';
import { checkAnswers, type ServerAddress } from '../lib/dns-probe.js';
import { dnsperfArgs, dnsperfLoad } from '../lib/dnsperf.js';
import { freeDnsPort } from '../lib/ports.js';
import { comparisonLines, warningLines } from '../lib/report.js';
import { startDnsmasq } from '../servers/dnsmasq.js';
import { startMeshdns } from '../servers/meshdns.js';
import type { DnsServer } from '../servers/server.js';
import { startUnboundZones } from '../servers/unbound.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

/** Also table-metrics' names. */
export const TABLE_FIXTURE = {
  count: 1000,
  namespaces: 10,
  clusterDomain: 'cluster.local',
  seed: 1,
} as const;

// One loopback address per server, so neither can answer for the other by mistake.
const MESHDNS_HOST = '127.0.0.21';
/** meshdns on node:dgram (`--udp-io dgram`), beside the native batch path (issue 12). */
const MESHDNS_DGRAM_HOST = '127.0.0.24';
/** BENCH_BASELINE_ROOT: another built checkout (e.g. the commit before a change), run as `meshdns before`. */
const MESHDNS_BEFORE_HOST = '127.0.0.25';
const DNSMASQ_HOST = '127.0.0.22';
const UNBOUND_HOST = '127.0.0.26';
/** meshdns's upstream: a free port nobody listens on, so a forwarded query would show as an error. */
const BLACKHOLE_HOST = '127.0.0.23';

/** Names checked on each server before measuring: every 50th, so all namespaces are covered. */
const CHECK_EVERY = 50;

type TableResult = ScenarioResult &
  Comparison & {
    /** The same servers (node:dgram aside) at one offered rate: CPU per query at an equal load. */
    equal?: Omit<Comparison, 'warnings'> & { qps: number };
    tcp: Omit<Comparison, 'warnings'>;
  };

/**
 * Same names, same addresses on every server, and dnsmasq answers from its hosts file (aa bit),
 * else the figures compare different work.
 */
export async function checkTableAnswers(fixture: ServiceFixture, servers: DnsServer[]): Promise<void> {
  const sample = fixture.services
    .filter((_, i) => i % CHECK_EVERY === 0)
    .map((s) => ({ name: s.fqdn, address: s.clusterIP }));
  const problems: string[] = [];
  for (const server of servers) {
    const authoritative = server.label === 'dnsmasq';
    problems.push(
      ...(await checkAnswers(server.address, sample, { authoritative })).map((p) => `${server.label}: ${p}`),
    );
  }
  if (problems.length > 0) throw new Error(`wrong answers before measuring:\n  ${problems.join('\n  ')}`);
}

async function run(ctx: ScenarioContext): Promise<TableResult> {
  const { config, group, log } = ctx;
  const fixture = await writeServiceFixture(ctx.workDir, TABLE_FIXTURE);
  const probeName = fixture.services[0].fqdn;
  const address = async (host: string): Promise<ServerAddress> => ({ host, port: await freeDnsPort(host) });

  const upstream = await address(BLACKHOLE_HOST);
  const nodeFlags = process.env.BENCH_MESHDNS_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  // Both UDP I/O paths of meshdns, same flags otherwise: `meshdns` is the native batch path where the
  // addon is built, `meshdns dgram` is node:dgram.
  const native = batchSocketSupport();
  if (!native.available) log(`  meshdns native batch I/O unavailable (${native.reason}): dgram only`);
  const baseline = process.env.BENCH_BASELINE_ROOT;
  const startOne = async (label: string, host: string, io: 'native' | 'dgram' | 'before') => {
    const server = await startMeshdns(group, {
      label,
      manifestsDir: fixture.manifestsDir,
      listen: await address(host),
      upstreams: [upstream],
      // A search domain nothing matches: no expansion of the queried names, and resolv.conf is not read.
      searchDomains: ['x.invalid'],
      upstreamTimeoutMs: 1000,
      probeName,
      cpu: config.serverCpu,
      nodeFlags,
      // The baseline may predate --udp-io: it runs with its own defaults.
      extraArgs: io === 'before' ? [] : ['--udp-io', io],
      root: io === 'before' ? baseline : undefined,
    });
    log(
      `  ${label} ${server.version} (--udp-io ${io}) answering on ${server.address.host}:${server.address.port}`,
    );
    return server;
  };
  const meshdnsServers = [
    ...(native.available ? [await startOne('meshdns', MESHDNS_HOST, 'native')] : []),
    await startOne('meshdns dgram', MESHDNS_DGRAM_HOST, 'dgram'),
    ...(baseline ? [await startOne('meshdns before', MESHDNS_BEFORE_HOST, 'before')] : []),
  ];
  const dnsmasq = await startDnsmasq(group, {
    bin: ctx.tools.get('dnsmasq')!,
    listen: await address(DNSMASQ_HOST),
    hostsFiles: [fixture.hostsFile],
    localDomains: [TABLE_FIXTURE.clusterDomain],
    cacheSize: 10000,
    localTtl: 30,
    probeName,
    cpu: config.serverCpu,
  });
  log(`  dnsmasq ${dnsmasq.version} answering on ${dnsmasq.address.host}:${dnsmasq.address.port}`);
  const unbound = await startUnboundZones(group, {
    bin: ctx.tools.get('unbound')!,
    listen: await address(UNBOUND_HOST),
    workDir: ctx.workDir,
    probeName,
    cpu: config.serverCpu,
    zones: [
      {
        name: TABLE_FIXTURE.clusterDomain,
        negativeTtl: 30,
        ttl: 30,
        records: fixture.services.map((x): [string, string] => [x.fqdn, x.clusterIP]),
      },
    ],
  });
  unbound.label = 'unbound';
  log(`  unbound ${unbound.version} answering on ${unbound.address.host}:${unbound.address.port}`);
  const servers = [...meshdnsServers, dnsmasq, unbound];
  log(
    `  dnsperf -c ${config.clients} -T ${config.threads} -q ${config.outstanding}, ${config.seconds} s per run`,
  );

  await checkTableAnswers(fixture, servers);

  // The headline ratios are of the native path where it is built, else of node:dgram's.
  const main = native.available ? 'meshdns' : 'meshdns dgram';
  const headline = [
    { subject: main, baseline: 'dnsmasq' },
    { subject: main, baseline: 'unbound' },
  ];
  const comparison = await compareServers(group, {
    servers,
    queryFile: fixture.queryFile,
    config,
    ratios: [
      ...headline,
      ...(native.available
        ? [
            { subject: 'meshdns dgram', baseline: 'dnsmasq' },
            { subject: 'meshdns', baseline: 'meshdns dgram' },
          ]
        : []),
      ...(baseline
        ? [
            { subject: 'meshdns dgram', baseline: 'meshdns before' },
            ...(native.available ? [{ subject: 'meshdns', baseline: 'meshdns before' }] : []),
          ]
        : []),
    ],
    log,
  });
  // CPU per query at one offered rate that every server answers (equalRate); node:dgram's path, far
  // slower, would set that rate for all, so it is left out beside the native one.
  const steady = native.available ? servers.filter((s) => s.label !== 'meshdns dgram') : servers;
  const rate = equalRate(
    comparison,
    steady.map((s) => s.label),
  );
  log(`  at an equal offered rate: ${rate} queries/s to each (dnsperf -Q), CPU per query compared`);
  const equal = await compareServers(group, {
    servers: steady,
    queryFile: fixture.queryFile,
    config,
    qps: rate,
    ratios: [...headline, ...(baseline ? [{ subject: main, baseline: 'meshdns before' }] : [])],
    log,
  });
  // TCP is the same code on both UDP paths: one meshdns. dnsmasq is left out: it forks a process per
  // connection and drops pipelined queries, and dnsperf can exit on the connections it closes.
  const [first] = meshdnsServers;
  log('  over TCP: each dnsperf client one connection, its queries pipelined (dnsmasq left out)');
  const tcp = await compareServers(group, {
    servers: [first, unbound],
    queryFile: fixture.queryFile,
    config,
    mode: 'tcp',
    ratios: [{ subject: first.label, baseline: 'unbound' }],
    log,
  });
  await Promise.all(servers.map((s) => s.proc.stop()));
  return {
    scenario: tableScenario.name,
    description: tableScenario.description,
    setup: {
      names: fixture.services.length,
      namespaces: TABLE_FIXTURE.namespaces,
      queryType: 'A',
      transport: 'udp',
      dnsperfArgs: dnsperfArgs({
        server: { host: '<server>', port: 0 },
        queryFile: '<queries>',
        length: config.seconds,
        ...dnsperfLoad(config),
      }),
      meshdnsNodeFlags: nodeFlags,
    },
    ...comparison,
    equal: { qps: rate, contenders: equal.contenders, ratios: equal.ratios },
    tcp: { contenders: tcp.contenders, ratios: tcp.ratios },
    warnings: [
      ...comparison.warnings,
      ...equal.warnings.map((w) => `at ${rate} q/s: ${w}`),
      ...tcp.warnings.map((w) => `tcp: ${w}`),
    ],
  };
}

function format(result: TableResult): string {
  return [
    `${result.scenario}: ${result.description}`,
    '  over UDP',
    ...comparisonLines(result, '    '),
    ...(result.equal
      ? [
          `  over UDP at an equal offered rate, ${result.equal.qps} queries/s each: compare CPU per query (qps/server-CPU)`,
          ...comparisonLines(result.equal, '    '),
        ]
      : []),
    '  over TCP, pipelined',
    ...comparisonLines(result.tcp, '    '),
    ...warningLines(result),
  ].join('\n');
}

export const tableScenario: Scenario<TableResult> = {
  name: 'table',
  description: `${TABLE_FIXTURE.count} Service names (A, UDP, then TCP) from the name table vs dnsmasq from a hosts file and unbound from local-data`,
  tools: [
    { bin: 'dnsperf', pkg: 'dnsperf' },
    { bin: 'dnsmasq', pkg: 'dnsmasq-base' },
    { bin: 'unbound', pkg: 'unbound' },
    { bin: 'taskset', pkg: 'util-linux' },
  ],
  run,
  format,
};
