// Scenario "table-metrics": what counting costs on the hot path. 1,000 Service names answered from
// the name table by meshdns with metrics on and with --no-metrics, dnsmasq from a hosts file as the
// reference; the same timed dnsperf load on each, runs alternated.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../test/helpers/ports.js';
import { type Address, compareAlternating, runPerf } from '../lib/cache-dnsperf.js';
import {
  benchAddress,
  type ServiceSpec,
  seeded,
  serviceFqdn,
  shuffle,
  writeQueryFile,
  writeServices,
} from '../lib/cache-fixtures.js';
import type { BenchTool, CacheScenarioContext } from '../lib/cache-harness.js';
import { startDnsmasqUpstream, startMeshdns } from '../lib/cache-servers.js';

const SERVICES = 1000;
const HOSTS = { metrics: '127.0.5.41', none: '127.0.5.42', dnsmasq: '127.0.5.43', blackhole: '127.0.5.44' };

async function run(ctx: CacheScenarioContext) {
  const { config, group, log, tools, workDir } = ctx;
  const at = async (host: string): Promise<Address> => ({ host, port: await freePort(host) });
  const services: ServiceSpec[] = Array.from({ length: SERVICES }, (_, i) => ({
    name: `svc-${i}`,
    namespace: `ns-${i % 10}`,
    clusterIP: benchAddress(i),
  }));
  const manifests = await writeServices(path.join(workDir, 'manifests'), services);
  const hostsFile = path.join(workDir, 'hosts');
  await writeFile(hostsFile, services.map((s) => `${s.clusterIP} ${serviceFqdn(s)}\n`).join(''), {
    mode: 0o644,
  });
  const random = seeded(1);
  const order = shuffle(
    services.map((s) => serviceFqdn(s)),
    random,
  );
  const queryFile = await writeQueryFile(path.join(workDir, 'table-queries.txt'), order);
  const probeName = serviceFqdn(services[0]);
  // A forwarded query would go to a port nobody answers: it would show as SERVFAIL, never as speed.
  const upstream = await at(HOSTS.blackhole);
  const meshdns = (label: string, host: string, extraArgs: string[]) => ({
    label,
    start: async () =>
      startMeshdns(group, {
        label,
        manifestsDir: manifests,
        listen: await at(host),
        upstream,
        search: ['x.invalid'],
        extraArgs,
        cpu: config.serverCpu,
        probeName,
      }),
  });
  const comparison = await compareAlternating({
    config,
    group,
    log,
    freshEachRun: false,
    ratios: [
      ['meshdns', 'meshdns --no-metrics'],
      ['meshdns', 'dnsmasq'],
      ['meshdns --no-metrics', 'dnsmasq'],
    ],
    contenders: [
      meshdns('meshdns', HOSTS.metrics, []),
      meshdns('meshdns --no-metrics', HOSTS.none, ['--no-metrics']),
      {
        label: 'dnsmasq',
        start: async () =>
          startDnsmasqUpstream(group, tools.get('dnsmasq')!, {
            listen: await at(HOSTS.dnsmasq),
            hostsFiles: [hostsFile],
            zones: ['cluster.local'],
            ttl: 30,
            cpu: config.serverCpu,
            probeName,
          }),
      },
    ],
    warmUp: async (address) => {
      if (config.warmupSeconds > 0)
        await runPerf(group, config, { server: address, queryFile, seconds: config.warmupSeconds });
    },
    measure: (address) => runPerf(group, config, { server: address, queryFile }),
  });
  return {
    scenario: 'table-metrics',
    description: tableMetricsScenario.description,
    setup: {
      names: SERVICES,
      dnsperf: `-l ${config.seconds} -c ${config.clients} -T ${config.threads} -q ${config.outstanding}`,
      runs: config.runs,
      pinning:
        config.serverCpu === undefined
          ? 'none'
          : `servers on CPU ${config.serverCpu}, dnsperf on CPU ${config.clientCpu}`,
    },
    ...comparison,
  };
}

const TOOLS: BenchTool[] = [
  { bin: 'dnsperf', pkg: 'dnsperf' },
  { bin: 'dnsmasq', pkg: 'dnsmasq-base' },
  { bin: 'taskset', pkg: 'util-linux' },
];

export const tableMetricsScenario = {
  name: 'table-metrics',
  description: `${SERVICES} names from the table: meshdns with metrics vs --no-metrics (and dnsmasq from hosts)`,
  tools: TOOLS,
  run,
};
