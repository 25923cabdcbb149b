// Scenario "table-metrics": what counting costs on the hot path. table's 1,000 Service names answered
// from the name table by meshdns with metrics on and with --no-metrics, dnsmasq from a hosts file as
// the reference; the same timed dnsperf load on each, runs alternated.
import { writeServiceFixture } from '../fixtures/services.js';
import { type Comparison, compareServers } from '../lib/compare.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import { freeDnsPort } from '../lib/ports.js';
import { formatComparison } from '../lib/report.js';
import { startDnsmasq } from '../servers/dnsmasq.js';
import { startMeshdns } from '../servers/meshdns.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';
import { checkTableAnswers, TABLE_FIXTURE, tableScenario } from './table.js';

const HOSTS = { metrics: '127.0.5.41', none: '127.0.5.42', dnsmasq: '127.0.5.43', blackhole: '127.0.5.44' };
/** dnsperf -t. */
const QUERY_TIMEOUT_S = 2;

type TableMetricsResult = ScenarioResult & Comparison;

async function run(ctx: ScenarioContext): Promise<TableMetricsResult> {
  const { config, group, log, tools, workDir } = ctx;
  const at = async (host: string): Promise<ServerAddress> => ({ host, port: await freeDnsPort(host) });
  const fixture = await writeServiceFixture(workDir, TABLE_FIXTURE);
  const probeName = fixture.services[0].fqdn;
  // A forwarded query would go to a port nobody answers: it would show as SERVFAIL, never as speed.
  const upstream = await at(HOSTS.blackhole);
  const meshdns = async (label: string, host: string, extraArgs: string[]) =>
    startMeshdns(group, {
      label,
      manifestsDir: fixture.manifestsDir,
      listen: await at(host),
      upstreams: [upstream],
      searchDomains: ['x.invalid'],
      upstreamTimeoutMs: 2000,
      extraArgs,
      cpu: config.serverCpu,
      probeName,
    });
  const servers = [
    await meshdns('meshdns', HOSTS.metrics, []),
    await meshdns('meshdns --no-metrics', HOSTS.none, ['--no-metrics']),
    await startDnsmasq(group, {
      bin: tools.get('dnsmasq')!,
      listen: await at(HOSTS.dnsmasq),
      hostsFiles: [fixture.hostsFile],
      localDomains: [TABLE_FIXTURE.clusterDomain],
      localTtl: 30,
      cpu: config.serverCpu,
      probeName,
    }),
  ];
  log(`  ${servers.map((s) => `${s.label} ${s.version} on ${s.address.host}:${s.address.port}`).join('; ')}`);
  await checkTableAnswers(fixture, servers);
  const comparison = await compareServers(group, {
    servers,
    queryFile: fixture.queryFile,
    config,
    timeoutSeconds: QUERY_TIMEOUT_S,
    ratios: [
      { subject: 'meshdns', baseline: 'meshdns --no-metrics' },
      { subject: 'meshdns', baseline: 'dnsmasq' },
      { subject: 'meshdns --no-metrics', baseline: 'dnsmasq' },
    ],
    log,
  });
  await Promise.all(servers.map((s) => s.proc.stop()));
  return {
    scenario: tableMetricsScenario.name,
    description: tableMetricsScenario.description,
    setup: {
      names: fixture.services.length,
      dnsperf: `-l ${config.seconds} -c ${config.clients} -T ${config.threads} -q ${config.outstanding} -t ${QUERY_TIMEOUT_S}`,
      runs: config.runs,
      pinning:
        config.serverCpu === undefined
          ? 'none'
          : `servers on CPU ${config.serverCpu}, dnsperf on CPU ${config.clientCpu}`,
    },
    ...comparison,
  };
}

export const tableMetricsScenario: Scenario<TableMetricsResult> = {
  name: 'table-metrics',
  description: `${TABLE_FIXTURE.count} names from the table: meshdns with metrics vs --no-metrics (and dnsmasq from hosts)`,
  // dnsperf, dnsmasq, taskset.
  tools: tableScenario.tools,
  run,
  format: formatComparison,
};
