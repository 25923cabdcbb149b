// Scenario "cache": forward-with-cache. An upstream dnsmasq holds 10,000 names; meshdns, dnsmasq and
// unbound each sit in front of it as a caching forwarder, started cold for every run, and dnsperf sends
// one pass of 100,000 queries of which 90% repeat a name already asked (10% go upstream).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../test/helpers/ports.js';
import { type Address, compareAlternating, type PerfComparison, runPerf } from '../lib/cache-dnsperf.js';
import { benchAddress, repeatStream, writeQueryFile, writeUpstreamHosts } from '../lib/cache-fixtures.js';
import type { BenchTool, CacheScenarioContext } from '../lib/cache-harness.js';
import {
  expectAddresses,
  startDnsmasqForwarder,
  startDnsmasqUpstream,
  startMeshdns,
  startUnboundForwarder,
} from '../lib/cache-servers.js';

const NAMES = 10_000;
const REPEAT_SHARE = 0.9;
/** Names of another zone for a warm-up pass after each cold start (V8's JIT, socket buffers). */
const WARM_NAMES = 1000;
const WARM_QUERIES = 20_000;
const TTL = 3600;
const HOSTS = { upstream: '127.0.5.31', meshdns: '127.0.5.32', dnsmasq: '127.0.5.33', unbound: '127.0.5.34' };

export interface CacheScenarioResult extends PerfComparison {
  scenario: string;
  description: string;
  setup: Record<string, unknown>;
  /** Steady state: every name cached. */
  hot: Pick<PerfComparison, 'contenders' | 'ratios'>;
  text: string[];
}

async function run(ctx: CacheScenarioContext): Promise<CacheScenarioResult> {
  const { config, group, log, tools, workDir } = ctx;
  const at = async (host: string): Promise<Address> => ({ host, port: await freePort(host) });
  const bench = await writeUpstreamHosts(workDir, 'bench.test', NAMES);
  const warm = await writeUpstreamHosts(workDir, 'warm.test', WARM_NAMES, 'warm-hosts');
  const stream = repeatStream(bench.names, REPEAT_SHARE, 5);
  const queryFile = await writeQueryFile(path.join(workDir, 'cache-queries.txt'), stream);
  const warmFile = await writeQueryFile(
    path.join(workDir, 'warm-queries.txt'),
    repeatStream(warm.names, 1 - WARM_NAMES / WARM_QUERIES, 6),
  );
  const emptyManifests = path.join(workDir, 'no-manifests');
  await mkdir(emptyManifests, { recursive: true });

  // The upstream shares dnsperf's CPU: it sees only the misses, and the server under test keeps its own.
  const upstream = await startDnsmasqUpstream(group, tools.get('dnsmasq')!, {
    listen: await at(HOSTS.upstream),
    hostsFiles: [bench.hostsFile, warm.hostsFile],
    zones: ['bench.test', 'warm.test'],
    ttl: TTL,
    cpu: config.clientCpu,
    probeName: bench.names[0],
  });
  const probeName = warm.names[0];
  const cpu = config.serverCpu;
  const up = upstream.address;
  const ratios: [string, string][] = [
    ['meshdns', 'dnsmasq'],
    ['meshdns', 'unbound'],
  ];
  const contenders = [
    {
      label: 'meshdns',
      start: async () =>
        startMeshdns(group, {
          manifestsDir: emptyManifests,
          listen: await at(HOSTS.meshdns),
          upstream: up,
          search: ['x.invalid'],
          extraArgs: ['--cache-size', String(2 * NAMES)],
          cpu,
          probeName,
        }),
    },
    {
      label: 'dnsmasq',
      start: async () =>
        startDnsmasqForwarder(group, tools.get('dnsmasq')!, {
          listen: await at(HOSTS.dnsmasq),
          upstream: up,
          cacheSize: 2 * NAMES,
          cpu,
          probeName,
        }),
    },
    {
      label: 'unbound',
      start: async () =>
        startUnboundForwarder(group, tools.get('unbound')!, {
          listen: await at(HOSTS.unbound),
          upstream: up,
          workDir,
          cpu,
          probeName,
        }),
    },
  ];
  const check = (address: Address) =>
    expectAddresses(
      address,
      `${address.host}:${address.port}`,
      [0, 1, WARM_NAMES - 1].map((i): [string, string] => [warm.names[i], benchAddress(i)]),
    );
  log('  cold: each run starts the forwarder afresh and sends one pass of the query stream');
  const comparison = await compareAlternating({
    config,
    group,
    log,
    freshEachRun: true,
    ratios,
    contenders,
    warmUp: async (address) => {
      await runPerf(group, config, { server: address, queryFile: warmFile, onePass: true });
      await check(address);
    },
    measure: (address) => runPerf(group, config, { server: address, queryFile, onePass: true }),
  });
  // Steady state: the same stream once to fill the cache, then timed runs that are all hits.
  log(`  hot: every name cached, timed runs of ${config.seconds} s`);
  const hot = await compareAlternating({
    config,
    group,
    log,
    freshEachRun: false,
    ratios,
    contenders,
    warmUp: async (address) => {
      await runPerf(group, config, { server: address, queryFile, onePass: true });
      await check(address);
    },
    measure: (address) => runPerf(group, config, { server: address, queryFile }),
  });
  await upstream.proc.stop();
  return {
    scenario: 'cache',
    description: cacheScenario.description,
    setup: {
      upstreamNames: NAMES,
      queries: stream.length,
      repeatShare: REPEAT_SHARE,
      upstreamTtl: TTL,
      warmUp: `${WARM_QUERIES} queries over ${WARM_NAMES} other names after each cold start`,
      dnsperf: `-n 1 -c ${config.clients} -T ${config.threads} -q ${config.outstanding}`,
      pinning:
        cpu === undefined
          ? 'none'
          : `servers on CPU ${cpu}; dnsperf and the upstream on CPU ${config.clientCpu}`,
    },
    ...comparison,
    warnings: [...comparison.warnings, ...hot.warnings.map((w) => `hot: ${w}`)],
    hot: { contenders: hot.contenders, ratios: hot.ratios },
    text: [
      'hot (all hits):',
      ...hot.contenders.map(
        (c) =>
          `  ${c.label.padEnd(18)} median ${Math.round(c.medianQps)} qps (runs: ${c.runs.map((r) => Math.round(r.qps)).join(', ')})`,
      ),
      ...hot.ratios.map((r) => `  ${r.label.padEnd(34)} ${r.value.toFixed(2)}`),
    ],
  };
}

const TOOLS: BenchTool[] = [
  { bin: 'dnsperf', pkg: 'dnsperf' },
  { bin: 'dnsmasq', pkg: 'dnsmasq-base' },
  { bin: 'unbound', pkg: 'unbound' },
  { bin: 'taskset', pkg: 'util-linux' },
];

export const cacheScenario = {
  name: 'cache',
  description: `forward-with-cache: ${NAMES} upstream names, ${REPEAT_SHARE * 100}% repeats, cold start each run: meshdns vs dnsmasq vs unbound`,
  tools: TOOLS,
  run,
};
