// Scenario "cache": forward-with-cache. An upstream dnsmasq holds 10,000 names; meshdns (on both UDP
// I/O paths), dnsmasq and unbound each sit in front of it as a caching forwarder. Cold: each is started
// afresh for every run and dnsperf sends one pass of 100,000 queries of which 90% repeat a name already
// asked (10% go upstream). Hot: the same stream once to fill the caches, then timed runs that are all
// hits, with dnsdist's packet cache beside them.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeQueryFile } from '../fixtures/files.js';
import { benchAddress, repeatStream, writeUpstreamHosts } from '../fixtures/upstream-names.js';
import { type Comparison, compareServers } from '../lib/compare.js';
import { checkAnswers, type ServerAddress } from '../lib/dns-probe.js';
import { type DnsperfOptions, dnsperfLoad, runDnsperf } from '../lib/dnsperf.js';
import { freeDnsPort } from '../lib/ports.js';
import { comparisonLines, warningLines } from '../lib/report.js';
import { startDnsdistCache } from '../servers/dnsdist.js';
import { startDnsmasq } from '../servers/dnsmasq.js';
import { startMeshdns } from '../servers/meshdns.js';
import type { DnsServer } from '../servers/server.js';
import { startUnboundForwarder } from '../servers/unbound.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

const NAMES = 10_000;
const REPEAT_SHARE = 0.9;
/**
 * A warm-up pass after each cold start, on names of another zone and of the measured pass's shape (as
 * many names, as many queries), so that the pass meets a process in its steady state (V8's optimized
 * code for the miss path too, socket buffers) and only its cache is cold, as for an agent that has run
 * a while and meets new names. With 1,000 names and 20,000 queries, meshdns still spent about a
 * quarter of the pass's CPU on V8's compiler threads.
 */
const WARM_NAMES = NAMES;
const WARM_QUERIES = Math.round(NAMES / (1 - REPEAT_SHARE));
/** Room for the warm-up's names and the pass's, twice over: nothing is evicted in either phase. */
const CACHE_ENTRIES = 2 * (NAMES + WARM_NAMES);
const TTL = 3600;
/**
 * dnsperf -t: a one-pass run ends when the last query is answered or given up, so a query lost near
 * the end adds up to this much to the run's time (and takes it off its qps).
 */
const QUERY_TIMEOUT_S = 2;
const HOSTS = {
  upstream: '127.0.5.31',
  meshdns: '127.0.5.32',
  dnsmasq: '127.0.5.33',
  unbound: '127.0.5.34',
  dnsdist: '127.0.5.35',
  'meshdns dgram': '127.0.5.36',
  'meshdns before': '127.0.5.37',
};
/** BENCH_BASELINE_ROOT: another built checkout, run as `meshdns before` with its own defaults. */
const BASELINE = process.env.BENCH_BASELINE_ROOT;
const RATIOS = [
  { subject: 'meshdns', baseline: 'dnsmasq' },
  { subject: 'meshdns', baseline: 'unbound' },
  { subject: 'meshdns dgram', baseline: 'unbound' },
  { subject: 'meshdns', baseline: 'meshdns dgram' },
];
/** Cache hits only: dnsdist's packet cache has no cold start worth comparing (issue 12 item 6). */
const HOT_RATIOS = [
  ...RATIOS,
  { subject: 'meshdns', baseline: 'dnsdist' },
  ...(BASELINE ? [{ subject: 'meshdns', baseline: 'meshdns before' }] : []),
];

type Phase = Omit<Comparison, 'warnings'>;

interface CacheResult extends ScenarioResult {
  /** A fresh start before every run: one pass of the stream, its first asks are misses. */
  cold: Phase;
  /** Steady state: every name cached. */
  hot: Phase;
}

async function run(ctx: ScenarioContext): Promise<CacheResult> {
  const { config, group, log, tools, workDir } = ctx;
  const at = async (host: string): Promise<ServerAddress> => ({ host, port: await freeDnsPort(host) });
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
  const upstream = await startDnsmasq(group, {
    bin: tools.get('dnsmasq')!,
    label: 'dnsmasq-upstream',
    listen: await at(HOSTS.upstream),
    hostsFiles: [bench.hostsFile, warm.hostsFile],
    localDomains: ['bench.test', 'warm.test'],
    localTtl: TTL,
    cpu: config.clientCpu,
    probeName: bench.names[0],
  });
  const probeName = warm.names[0];
  const cpu = config.serverCpu;
  const meshdns = async (label: 'meshdns' | 'meshdns dgram' | 'meshdns before') =>
    startMeshdns(group, {
      label,
      manifestsDir: emptyManifests,
      listen: await at(HOSTS[label]),
      upstreams: [upstream.address],
      searchDomains: ['x.invalid'],
      upstreamTimeoutMs: 2000,
      root: label === 'meshdns before' ? BASELINE : undefined,
      extraArgs: [
        '--cache-size',
        String(CACHE_ENTRIES),
        ...(label === 'meshdns before' ? [] : ['--udp-io', label === 'meshdns' ? 'native' : 'dgram']),
      ],
      nodeFlags: process.env.BENCH_MESHDNS_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [],
      cpu,
      probeName,
    });
  const starters: Record<string, () => Promise<DnsServer>> = {
    meshdns: () => meshdns('meshdns'),
    'meshdns dgram': () => meshdns('meshdns dgram'),
    ...(BASELINE ? { 'meshdns before': () => meshdns('meshdns before') } : {}),
    dnsmasq: async () =>
      startDnsmasq(group, {
        bin: tools.get('dnsmasq')!,
        listen: await at(HOSTS.dnsmasq),
        upstream: upstream.address,
        cacheSize: CACHE_ENTRIES,
        cpu,
        probeName,
      }),
    unbound: async () =>
      startUnboundForwarder(group, {
        bin: tools.get('unbound')!,
        listen: await at(HOSTS.unbound),
        upstream: upstream.address,
        workDir,
        cpu,
        probeName,
      }),
  };
  const startAll = async (withDnsdist = false) => {
    const servers: DnsServer[] = [];
    for (const start of Object.values(starters)) servers.push(await start());
    if (withDnsdist) {
      servers.push(
        await startDnsdistCache(group, {
          bin: tools.get('dnsdist')!,
          listen: await at(HOSTS.dnsdist),
          upstream: upstream.address,
          workDir,
          cacheSize: CACHE_ENTRIES,
          probeName,
          cpu,
        }),
      );
    }
    return servers;
  };
  const onePass = (server: DnsServer, file: string): DnsperfOptions => ({
    server: server.address,
    queryFile: file,
    length: 'once',
    timeoutSeconds: QUERY_TIMEOUT_S,
    ...dnsperfLoad(config),
  });
  // Each forwarder must give the upstream's addresses, else the figures compare different work.
  const expected = [0, 1, WARM_NAMES - 1].map((i) => ({ name: warm.names[i], address: benchAddress(i) }));
  const check = async (server: DnsServer) => {
    const problems = await checkAnswers(server.address, expected);
    if (problems.length > 0) throw new Error(`${server.label} answers wrong:\n  ${problems.join('\n  ')}`);
  };
  const ratios = [...RATIOS, ...(BASELINE ? [{ subject: 'meshdns', baseline: 'meshdns before' }] : [])];
  const compare = { group, queryFile, config, ratios, log, timeoutSeconds: QUERY_TIMEOUT_S };

  const coldServers = await startAll();
  log(
    `  ${coldServers.map((s) => `${s.label} ${s.version}`).join(', ')} as caching forwarders in front of ` +
      `dnsmasq ${upstream.version} on ${upstream.address.host}:${upstream.address.port}`,
  );
  log('  cold: each run starts the forwarder afresh and sends one pass of the query stream');
  const cold = await compareServers(group, {
    ...compare,
    servers: coldServers,
    onePass: true,
    restart: (stopped) => starters[stopped.label](),
    warmUp: async (server) => {
      await runDnsperf(group, onePass(server, warmFile));
      await check(server);
    },
  });
  log(`  hot: every name cached, timed runs of ${config.seconds} s`);
  const hotServers = await startAll(true);
  const hot = await compareServers(group, {
    ...compare,
    ratios: HOT_RATIOS,
    servers: hotServers,
    warmUp: async (server) => {
      await runDnsperf(group, onePass(server, queryFile));
      await check(server);
    },
  });
  await Promise.all([...hotServers, upstream].map((s) => s.proc.stop()));
  return {
    scenario: cacheScenario.name,
    description: cacheScenario.description,
    setup: {
      upstreamNames: NAMES,
      queries: stream.length,
      repeatShare: REPEAT_SHARE,
      upstreamTtl: TTL,
      warmUp: `${WARM_QUERIES} queries over ${WARM_NAMES} other names after each cold start`,
      dnsperf: `-n 1 (cold) / -l ${config.seconds} (hot) -c ${config.clients} -T ${config.threads} -q ${config.outstanding} -t ${QUERY_TIMEOUT_S}`,
      pinning:
        cpu === undefined
          ? 'none'
          : `servers on CPU ${cpu}; dnsperf and the upstream on CPU ${config.clientCpu}`,
      versions: Object.fromEntries([...hotServers, upstream].map((s) => [s.label, s.version])),
    },
    cold: { contenders: cold.contenders, ratios: cold.ratios },
    hot: { contenders: hot.contenders, ratios: hot.ratios },
    warnings: [...cold.warnings.map((w) => `cold: ${w}`), ...hot.warnings.map((w) => `hot: ${w}`)],
  };
}

function format(result: CacheResult): string {
  const queries = Number(result.setup.queries).toLocaleString('en-US');
  return [
    `${result.scenario}: ${result.description}`,
    `  cold: each run a fresh start, ${WARM_QUERIES.toLocaleString('en-US')} warm-up queries on other names, then one pass of ${queries} queries`,
    ...comparisonLines(result.cold, '    '),
    '  hot (all hits): the stream once to fill the cache, then timed runs',
    ...comparisonLines(result.hot, '    '),
    ...warningLines(result),
  ].join('\n');
}

export const cacheScenario: Scenario<CacheResult> = {
  name: 'cache',
  description: `forward-with-cache: ${NAMES} upstream names, ${REPEAT_SHARE * 100}% repeats, cold start each run: meshdns (native and dgram) vs dnsmasq vs unbound; all hits also vs dnsdist`,
  tools: [
    { bin: 'dnsperf', pkg: 'dnsperf' },
    { bin: 'dnsmasq', pkg: 'dnsmasq-base' },
    { bin: 'unbound', pkg: 'unbound' },
    { bin: 'dnsdist', pkg: 'dnsdist' },
    { bin: 'taskset', pkg: 'util-linux' },
  ],
  run,
  format,
};
