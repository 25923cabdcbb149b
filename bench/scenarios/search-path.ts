// Scenario "search-path": how many queries reach the cluster's DNS for a realistic workload, with
// and without meshdns in front. The client is real glibc (`getent ahosts`: A and AAAA) with
// Kubernetes' resolv.conf (ndots:5, three search domains), in a mount namespace whose
// /etc/resolv.conf is ours. The cluster DNS is unbound with static zones that answer like CoreDNS
// (TTL 5 and an SOA with MINIMUM 5 for cluster.local); a counting proxy in front of it counts.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type GeneratedService, service, writeManifests } from '../fixtures/services.js';
import { CountingProxy } from '../lib/counting-proxy.js';
import { freeDnsPort } from '../lib/ports.js';
import { seededRandom } from '../lib/random.js';
import { warningLines } from '../lib/report.js';
import { startMeshdns } from '../servers/meshdns.js';
import { startUnboundZones, type Zone } from '../servers/unbound.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

const SEARCH = ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
const LOOKUPS = 600;
const PACE_MS = 50;
const MESH_SHARE = 0.6;
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
const EXTERNAL: [string, string][] = [
  ['www.example.com', '198.51.100.1'],
  ['api.example.com', '198.51.100.2'],
  ['cdn.example.net', '198.51.100.3'],
  ['login.example.org', '198.51.100.4'],
  ['db.example.net', '198.51.100.5'],
];

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

function workload(): string[] {
  const random = seededRandom(11);
  return Array.from({ length: LOOKUPS }, () =>
    random() < MESH_SHARE
      ? MESH_NAMES[Math.floor(random() * MESH_NAMES.length)]
      : EXTERNAL[Math.floor(random() * EXTERNAL.length)][0],
  );
}

/** Runs the lookups through glibc with our resolv.conf bind-mounted; returns how many failed. */
async function runGlibc(ctx: ScenarioContext, nameserver: string, namesFile: string): Promise<number> {
  const rc = path.join(ctx.workDir, `resolv-${nameserver}.conf`);
  await writeFile(
    rc,
    `nameserver ${nameserver}\nsearch ${SEARCH.join(' ')}\noptions ndots:5 timeout:2 attempts:1\n`,
  );
  const script = [
    `mount --bind ${rc} /etc/resolv.conf`,
    'failed=0',
    `while read -r n; do getent ahosts "$n" >/dev/null || failed=$((failed+1)); sleep ${PACE_MS / 1000}; done < ${namesFile}`,
    'echo "failed=$failed"',
  ].join('\n');
  const proc = ctx.group.spawn('glibc', ctx.tools.get('unshare')!, ['-m', 'sh', '-c', script], {
    cpu: ctx.config.clientCpu,
  });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`glibc workload failed (${code}): ${proc.stderr}`);
  return Number(/failed=(\d+)/.exec(proc.stdout)?.[1] ?? Number.NaN);
}

type Counts = Record<string, number>;

/** "name type" lines → counts by kind: search-path expansions (NXDOMAIN tries) vs the name itself. */
function breakdown(seen: string[]): Counts {
  const out: Counts = { total: seen.length, 'search-path tries': 0, 'final names': 0 };
  const finals = new Set([...MESH.map((s) => `${s.fqdn}.`), ...EXTERNAL.map(([n]) => `${n}.`)]);
  for (const line of seen) out[finals.has(line.split(' ')[0]) ? 'final names' : 'search-path tries']++;
  return out;
}

interface SearchPathResult extends ScenarioResult {
  counts: Record<'without' | 'with', { failed: number; upstream: Counts }>;
  /** Share of the upstream queries meshdns saves. */
  reduction: number;
}

async function run(ctx: ScenarioContext): Promise<SearchPathResult> {
  const { group, tools, workDir, log } = ctx;
  const names = workload();
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
  const proxy = new CountingProxy({ host: HOSTS.proxy, port: 53 }, clusterDns.address);
  await proxy.start();
  const manifests = await writeManifests(path.join(workDir, 'manifests'), MESH);
  let without: SearchPathResult['counts']['without'];
  let withMeshdns: SearchPathResult['counts']['with'];
  try {
    log(`  without meshdns: ${LOOKUPS} lookups, one every ${PACE_MS} ms`);
    without = { failed: await runGlibc(ctx, HOSTS.proxy, namesFile), upstream: breakdown(proxy.seen) };
    proxy.reset();
    const meshdns = await startMeshdns(group, {
      manifestsDir: manifests,
      listen: { host: HOSTS.meshdns, port: 53 },
      upstreams: [{ host: HOSTS.proxy, port: 53 }],
      searchDomains: SEARCH,
      upstreamTimeoutMs: 2000,
      cpu: ctx.config.serverCpu,
      probeName: MESH[0].fqdn,
    });
    // Whatever meshdns sent upstream while starting is not the workload's.
    proxy.reset();
    log('  with meshdns in front');
    withMeshdns = { failed: await runGlibc(ctx, HOSTS.meshdns, namesFile), upstream: breakdown(proxy.seen) };
    await meshdns.proc.stop();
  } finally {
    await proxy.close();
    await clusterDns.proc.stop();
  }
  return {
    scenario: searchPathScenario.name,
    description: searchPathScenario.description,
    setup: {
      client: `glibc getent ahosts (A+AAAA), resolv.conf ndots:5, search ${SEARCH.join(' ')}`,
      lookups: `${LOOKUPS}, one every ${PACE_MS} ms, ${MESH_SHARE * 100}% mesh names (${MESH_NAMES.length} forms), ${(1 - MESH_SHARE) * 100}% external (${EXTERNAL.length})`,
      clusterDns:
        'unbound static zones: cluster.local TTL 5 / SOA MINIMUM 5 (CoreDNS defaults), external TTL 300 / MINIMUM 900',
    },
    counts: { without, with: withMeshdns },
    reduction: 1 - withMeshdns.upstream.total / without.upstream.total,
    warnings: [],
  };
}

function format(r: SearchPathResult): string {
  const { without, with: withMeshdns } = r.counts;
  return [
    `${r.scenario}: ${r.description}`,
    ...Object.entries(r.setup).map(([k, v]) => `  ${k}: ${String(v)}`),
    `  upstream queries without meshdns: ${JSON.stringify(without.upstream)}, failed lookups ${without.failed}`,
    `  upstream queries with meshdns:    ${JSON.stringify(withMeshdns.upstream)}, failed lookups ${withMeshdns.failed}`,
    `  reduction: ${(r.reduction * 100).toFixed(1)}% (${without.upstream.total} → ${withMeshdns.upstream.total})`,
    ...warningLines(r),
  ].join('\n');
}

export const searchPathScenario: Scenario<SearchPathResult> = {
  name: 'search-path',
  description:
    'upstream queries of a glibc search-path workload (ndots:5, 3 search domains) with and without meshdns',
  tools: [
    { bin: 'unbound', pkg: 'unbound' },
    { bin: 'getent', pkg: 'libc-bin' },
    { bin: 'unshare', pkg: 'util-linux' },
  ],
  needsRoot: 'glibc reads /etc/resolv.conf, bind-mounted in a mount namespace',
  run,
  format,
};
