// Scenario "search-path": how many queries reach the cluster's DNS for a realistic workload, and how
// long each lookup takes, without meshdns, with meshdns --no-autopath (before issue 14 item 2) and with
// meshdns (autopath on). The client is real glibc (getaddrinfo: A and AAAA) with Kubernetes'
// resolv.conf (ndots:5, three search domains), in a mount namespace whose /etc/resolv.conf is ours.
// The cluster DNS is unbound with static zones that answer like CoreDNS (TTL 5 and an SOA with
// MINIMUM 5 for cluster.local); a counting proxy in front of it counts.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GeneratedService, service, writeManifests } from '../fixtures/services.js';
import { CountingProxy } from '../lib/counting-proxy.js';
import { freeDnsPort } from '../lib/ports.js';
import { seededRandom } from '../lib/random.js';
import { formatRows, warningLines } from '../lib/report.js';
import { startMeshdns } from '../servers/meshdns.js';
import { startUnboundZones, type Zone } from '../servers/unbound.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

const SEARCH = ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
const LOOKUPS = 600;
const PACE_MS = 50;
/** Issue 14 item 2 measures with 60% external names (BENCH_SEARCH_EXTERNAL_SHARE). */
const EXTERNAL_SHARE_DEFAULT = 0.6;
const LOOKUP_SCRIPT = fileURLToPath(new URL('../lib/glibc-lookups.js', import.meta.url));
const HOSTS = { proxy: '127.0.5.51', clusterDns: '127.0.5.52', meshdns: '127.0.5.63' };

const MESH: GeneratedService[] = [
  service('productpage', 'default', '10.96.0.10'),
  service('reviews', 'default', '10.96.0.11'),
  service('ratings', 'default', '10.96.0.12'),
  service('details', 'default', '10.96.0.13'),
  service('checkout', 'payments', '10.96.1.10'),
  service('ledger', 'payments', '10.96.1.11'),
  service('cart', 'shop', '10.96.2.10'),
  service('search', 'shop', '10.96.2.11'),
];
/** The names as applications write them: short, name.ns, name.ns.svc, and full. */
const MESH_NAMES = [
  'productpage',
  'reviews',
  'ratings.default',
  'details.default.svc.cluster.local',
  'checkout.payments',
  'ledger.payments.svc',
  'cart.shop',
  'search.shop.svc.cluster.local',
];
/** 40 external names in three zones: a workload talks to more of the internet than five hosts. */
const EXTERNAL: [string, string][] = Array.from({ length: 40 }, (_, i): [string, string] => [
  `${['www', 'api', 'cdn', 'login', 'db'][i % 5]}${Math.floor(i / 5)}.example.${['com', 'net', 'org'][i % 3]}`,
  `198.51.100.${i + 1}`,
]);

/** BENCH_SEARCH_UPSTREAM_DELAY_MS: each query to the cluster DNS waits this long (a hop away); default 0. */
function upstreamDelayMs(): number {
  const text = process.env.BENCH_SEARCH_UPSTREAM_DELAY_MS;
  if (text === undefined || text === '') return 0;
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 0))
    throw new Error(`BENCH_SEARCH_UPSTREAM_DELAY_MS="${text}": expected whole ms >= 0`);
  return n;
}

function externalShare(): number {
  const text = process.env.BENCH_SEARCH_EXTERNAL_SHARE;
  if (text === undefined || text === '') return EXTERNAL_SHARE_DEFAULT;
  const n = Number(text);
  if (!(n >= 0 && n <= 1))
    throw new Error(`BENCH_SEARCH_EXTERNAL_SHARE="${text}": expected a share in [0, 1]`);
  return n;
}

function zones(): Zone[] {
  const external = ['example.com', 'example.net', 'example.org'].map((name) => ({
    name,
    ttl: 300,
    negativeTtl: 900,
    records: EXTERNAL.filter(([n]) => n.endsWith(name)),
  }));
  const cluster: Zone = {
    name: 'cluster.local',
    ttl: 5,
    negativeTtl: 5,
    records: MESH.map((s): [string, string] => [s.fqdn, s.clusterIP]),
  };
  return [cluster, ...external];
}

function workload(external: number): string[] {
  const random = seededRandom(11);
  return Array.from({ length: LOOKUPS }, () =>
    random() >= external
      ? MESH_NAMES[Math.floor(random() * MESH_NAMES.length)]
      : EXTERNAL[Math.floor(random() * EXTERNAL.length)][0],
  );
}

interface Lookups {
  failed: number;
  /** Each lookup's time in ms (A and AAAA, the whole search path). */
  ms: number[];
}

/** Runs the lookups through glibc with our resolv.conf bind-mounted, each timed. */
async function runGlibc(ctx: ScenarioContext, nameserver: string, namesFile: string): Promise<Lookups> {
  const rc = path.join(ctx.workDir, `resolv-${nameserver}.conf`);
  await writeFile(
    rc,
    `nameserver ${nameserver}\nsearch ${SEARCH.join(' ')}\noptions ndots:5 timeout:2 attempts:1\n`,
  );
  const script = [
    `mount --bind ${rc} /etc/resolv.conf`,
    `exec ${process.execPath} ${LOOKUP_SCRIPT} ${namesFile} ${PACE_MS}`,
  ].join('\n');
  const proc = ctx.group.spawn('glibc', ctx.tools.get('unshare')!, ['-m', 'sh', '-c', script], {
    cpu: ctx.config.clientCpu,
  });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`glibc workload failed (${code}): ${proc.stderr}`);
  return JSON.parse(proc.stdout) as Lookups;
}

interface Latency {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

function latency(ms: readonly number[]): Latency {
  const sorted = [...ms].sort((x, y) => x - y);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? Number.NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: ms.reduce((x, y) => x + y, 0) / ms.length };
}

type Counts = Record<string, number>;

/** "name type" lines → counts by kind: search-path expansions (NXDOMAIN tries) vs the name itself. */
function breakdown(seen: string[]): Counts {
  const out: Counts = { total: seen.length, 'search-path tries': 0, 'final names': 0 };
  const finals = new Set([...MESH.map((s) => `${s.fqdn}.`), ...EXTERNAL.map(([n]) => `${n}.`)]);
  for (const line of seen) out[finals.has(line.split(' ')[0]) ? 'final names' : 'search-path tries']++;
  return out;
}

const RUNS = ['without meshdns', 'meshdns --no-autopath', 'meshdns'] as const;
type RunName = (typeof RUNS)[number];

interface RunCounts {
  failed: number;
  upstream: Counts;
  latency: Latency;
}

interface SearchPathResult extends ScenarioResult {
  counts: Record<RunName, RunCounts>;
  /** Share of the upstream queries meshdns saves, without autopath and with it. */
  reduction: { before: number; after: number };
}

async function run(ctx: ScenarioContext): Promise<SearchPathResult> {
  const { group, tools, workDir, log } = ctx;
  const external = externalShare();
  const names = workload(external);
  const namesFile = path.join(workDir, 'lookups.txt');
  await writeFile(namesFile, `${names.join('\n')}\n`);
  const clusterDns = await startUnboundZones(group, {
    bin: tools.get('unbound')!,
    listen: { host: HOSTS.clusterDns, port: await freeDnsPort(HOSTS.clusterDns) },
    workDir,
    probeName: MESH[0].fqdn,
    zones: zones(),
  });
  // resolv.conf has no port: the counting proxy and meshdns listen on 53 of their own loopback address.
  const delayMs = upstreamDelayMs();
  const proxy = new CountingProxy({ host: HOSTS.proxy, port: 53 }, clusterDns.address, delayMs);
  await proxy.start();
  const manifests = await writeManifests(path.join(workDir, 'manifests'), MESH);
  const counts = {} as Record<RunName, RunCounts>;
  const measured = (lookups: Lookups): RunCounts => ({
    failed: lookups.failed,
    upstream: breakdown(proxy.seen),
    latency: latency(lookups.ms),
  });
  try {
    log(`  without meshdns: ${LOOKUPS} lookups, one every ${PACE_MS} ms`);
    counts['without meshdns'] = measured(await runGlibc(ctx, HOSTS.proxy, namesFile));
    for (const run of ['meshdns --no-autopath', 'meshdns'] as const) {
      // A fresh meshdns (cold cache) per run, on the same address.
      const meshdns = await startMeshdns(group, {
        manifestsDir: manifests,
        listen: { host: HOSTS.meshdns, port: 53 },
        upstreams: [{ host: HOSTS.proxy, port: 53 }],
        searchDomains: SEARCH,
        upstreamTimeoutMs: 2000,
        cpu: ctx.config.serverCpu,
        probeName: MESH[0].fqdn,
        extraArgs: run === 'meshdns' ? [] : ['--no-autopath'],
      });
      // Whatever meshdns sent upstream while starting is not the workload's.
      proxy.reset();
      log(`  ${run} in front`);
      counts[run] = measured(await runGlibc(ctx, HOSTS.meshdns, namesFile));
      await meshdns.proc.stop();
    }
  } finally {
    await proxy.close();
    await clusterDns.proc.stop();
  }
  return {
    scenario: searchPathScenario.name,
    description: searchPathScenario.description,
    setup: {
      client: `glibc getaddrinfo (AF_UNSPEC: A+AAAA) through node:dns lookup, resolv.conf ndots:5, search ${SEARCH.join(' ')}`,
      lookups: `${LOOKUPS}, one every ${PACE_MS} ms, ${Math.round((1 - external) * 100)}% mesh names (${MESH_NAMES.length} forms), ${Math.round(external * 100)}% external (${EXTERNAL.length} names)`,
      clusterDns:
        'unbound static zones: cluster.local TTL 5 / SOA MINIMUM 5 (CoreDNS defaults), external TTL 300 / MINIMUM 900' +
        (delayMs > 0
          ? `, each query delayed ${delayMs} ms by the counting proxy`
          : ', on loopback (no delay)'),
    },
    counts,
    reduction: {
      before: 1 - counts['meshdns --no-autopath'].upstream.total / counts['without meshdns'].upstream.total,
      after: 1 - counts.meshdns.upstream.total / counts['without meshdns'].upstream.total,
    },
    warnings: RUNS.filter((r) => counts[r].failed > 0).map((r) => `${r}: ${counts[r].failed} lookups failed`),
  };
}

function format(r: SearchPathResult): string {
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  const rows = [
    ['', 'upstream', 'search-path tries', 'final names', 'lookup p50', 'p90', 'p99', 'mean', 'failed'],
    ...RUNS.map((run) => {
      const c = r.counts[run];
      return [
        run,
        String(c.upstream.total),
        String(c.upstream['search-path tries']),
        String(c.upstream['final names']),
        ms(c.latency.p50),
        ms(c.latency.p90),
        ms(c.latency.p99),
        ms(c.latency.mean),
        String(c.failed),
      ];
    }),
  ];
  const total = (run: RunName) => r.counts[run].upstream.total;
  return [
    `${r.scenario}: ${r.description}`,
    ...Object.entries(r.setup).map(([k, v]) => `  ${k}: ${String(v)}`),
    ...formatRows(rows, { lastLeft: false }).map((l) => `  ${l}`),
    `  upstream queries saved: --no-autopath ${(r.reduction.before * 100).toFixed(1)}% (${total('without meshdns')} → ${total('meshdns --no-autopath')}), ` +
      `autopath ${(r.reduction.after * 100).toFixed(1)}% (→ ${total('meshdns')})`,
    ...warningLines(r),
  ].join('\n');
}

export const searchPathScenario: Scenario<SearchPathResult> = {
  name: 'search-path',
  description:
    'upstream queries and lookup latency of a glibc search-path workload (ndots:5, 3 search domains): ' +
    'without meshdns, meshdns --no-autopath, meshdns',
  tools: [
    { bin: 'unbound', pkg: 'unbound' },
    { bin: 'unshare', pkg: 'util-linux' },
  ],
  needsRoot: 'glibc reads /etc/resolv.conf, bind-mounted in a mount namespace',
  run,
  format,
};
