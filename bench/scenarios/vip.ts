// Scenario "vip": TCP to one backend directly, through meshdns' two VIP data planes (the user-space
// proxy, and kernel DNAT rules when run as root) and through haproxy (mode tcp, one thread like Node's
// event loop): bulk throughput both ways with iperf3, then new connections per second with wrk against
// nginx. Each proxy shares the server CPU with the backend. As root the whole scenario runs in a network
// namespace of its own (lib/netns.ts), so every path sees the same rules and connection tracking.
import { spawnSync } from 'node:child_process';
import { nativeRelaySupport } from '../../src/vip/index.js';
import type { BenchConfig } from '../lib/config.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import { iperf3Args, runIperf3 } from '../lib/iperf3.js';
import { inBenchNetns } from '../lib/netns.js';
import { comparePaths, type MetricComparison, type MetricSpec, type TcpPath } from '../lib/path-compare.js';
import { formatPaths, type PathsResult } from '../lib/path-report.js';
import { freeTcpPort } from '../lib/ports.js';
import { httpGet } from '../lib/tcp-probe.js';
import { runWrk, wrkArgs } from '../lib/wrk.js';
import type { TcpServer } from '../servers/server.js';
import { NGINX_BODY, startIperf3Server, startNginx } from '../servers/tcp-backends.js';
import { haproxyConfig, startHaproxy, startVipProxy } from '../servers/tcp-proxies.js';
import type { Scenario, ScenarioContext } from './scenario.js';

// One loopback address each, so no path can reach the backend by another's listener by mistake.
const HOSTS = {
  vip: '127.0.0.41',
  haproxy: '127.0.0.42',
  backend: '127.0.0.43',
  nat: '127.0.0.44',
  natBackend: '127.0.0.45',
} as const;
/** wrk connections open at once: enough to keep a single-threaded proxy busy. */
const WRK_CONNECTIONS = 50;
const RATIOS = [
  { subject: 'meshdns proxy', baseline: 'direct' },
  { subject: 'meshdns proxy', baseline: 'haproxy' },
  { subject: 'meshdns nat', baseline: 'direct' },
  { subject: 'haproxy', baseline: 'direct' },
];

/**
 * The proxy path's relay: BENCH_VIP_RELAY (native or node), else the proxy's default (native where the
 * addon is built). The label says which.
 */
function proxyRelay(): { relay?: 'native' | 'node'; label: string } {
  const asked = process.env.BENCH_VIP_RELAY;
  if (asked !== undefined && asked !== '' && asked !== 'native' && asked !== 'node')
    throw new Error(`BENCH_VIP_RELAY=${asked}: expected native or node`);
  if (asked === 'native' || asked === 'node') return { relay: asked, label: asked };
  const native = nativeRelaySupport();
  return { label: native.available ? 'native' : `node (native relay unavailable: ${native.reason})` };
}

/** The NAT data plane writes iptables rules: only as root, in the scenario's own namespace. */
function natPlane(): string | undefined {
  if (process.getuid?.() !== 0) return 'the nat data plane needs root (NET_ADMIN): left out';
  if (!inBenchNetns())
    return "the nat data plane runs only in the scenario's own network namespace: left out";
  return undefined;
}

/**
 * Three measurements per path and run (upload, download, connections) of BENCH_SECONDS/2 each:
 * a path gets BENCH_SECONDS of bulk traffic per run, and the default run stays under 3 minutes.
 */
const measureSeconds = (config: BenchConfig) => Math.max(1, Math.round(config.seconds / 2));

const tcpAddress = async (host: string): Promise<ServerAddress> => ({ host, port: await freeTcpPort(host) });

interface Paths {
  paths: TcpPath[];
  servers: TcpServer[];
}

/** The backend alone, then both proxies in front of it; all on the server CPU. */
/**
 * `natBackend`: the backend's second address, which the nat path DNATs to. On the backend's first one,
 * a new nat connection's reply tuple (backend → 127.0.0.1:port) would clash with the conntrack entries
 * the direct path left in TIME_WAIT (120 s), and the kernel would have to find it another source port
 * (measured: the nat rate fell run after run, 5,100 → 2,000 → 1,100 conn/s, direct's did not).
 */
async function startPaths(
  ctx: ScenarioContext,
  backend: TcpServer,
  nodeFlags: string[],
  natBackend: ServerAddress = backend.address,
): Promise<Paths> {
  const { config, group, log } = ctx;
  const { relay } = proxyRelay();
  const meshdns = await startVipProxy(group, {
    listen: await tcpAddress(HOSTS.vip),
    backend: backend.address,
    cpu: config.serverCpu,
    nodeFlags,
    dataplane: 'proxy',
    ...(relay ? { relay } : {}),
  });
  const nat =
    natPlane() === undefined
      ? await startVipProxy(group, {
          listen: await tcpAddress(HOSTS.nat),
          backend: natBackend,
          cpu: config.serverCpu,
          nodeFlags,
          dataplane: 'nat',
        })
      : undefined;
  const haproxy = await startHaproxy(group, {
    bin: ctx.tools.get('haproxy')!,
    workDir: ctx.workDir,
    listen: await tcpAddress(HOSTS.haproxy),
    backend: backend.address,
    cpu: config.serverCpu,
  });
  const at = (s: TcpServer) => `${s.address.host}:${s.address.port}`;
  log(
    `  ${backend.label} ${backend.version} on ${at(backend)}; meshdns VIP proxy (relay ${proxyRelay().label}) on ${at(meshdns)}; ` +
      `${nat ? `meshdns NAT rules for ${at(nat)}; ` : ''}haproxy on ${at(haproxy)}`,
  );
  const through = (s: TcpServer): TcpPath => ({
    label: s.label,
    address: s.address,
    proxy: s.proc,
    backend: backend.proc,
  });
  return {
    paths: [
      { label: 'direct', address: backend.address, backend: backend.proc },
      through(meshdns),
      // No process on the nat path: the kernel's work shows in the server and client cores.
      ...(nat ? [{ label: nat.label, address: nat.address, backend: backend.proc }] : []),
      through(haproxy),
    ],
    servers: [backend, meshdns, ...(nat ? [nat] : []), haproxy],
  };
}

async function stopAll(servers: TcpServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.proc.stop()));
}

function iperf3Spec(ctx: ScenarioContext, reverse: boolean): MetricSpec {
  return {
    metric: reverse ? 'download' : 'upload',
    what: `backend ${reverse ? '→' : '←'} client, one TCP stream, iperf3${reverse ? ' -R' : ''}`,
    unit: 'Gbit/s',
    measure: async (path, seconds) => {
      const r = await runIperf3(ctx.group, {
        bin: ctx.tools.get('iperf3')!,
        server: path.address,
        seconds,
        reverse,
        cpu: ctx.config.clientCpu,
      });
      return { value: r.bitsPerSecond / 1e9, seconds: r.seconds, details: {}, problems: [] };
    },
  };
}

function wrkSpec(ctx: ScenarioContext): MetricSpec {
  return {
    metric: 'connections',
    what: `wrk, ${WRK_CONNECTIONS} at a time, each one GET then closed (Connection: close), nginx answering`,
    unit: 'conn/s',
    measure: async (path, seconds) => {
      const r = await runWrk(ctx.group, {
        bin: ctx.tools.get('wrk')!,
        server: path.address,
        seconds,
        connections: WRK_CONNECTIONS,
        cpu: ctx.config.clientCpu,
      });
      const problems = [
        ...(r.socketErrors > 0 ? [`${r.socketErrors} socket errors of ${r.requests} requests`] : []),
        ...(r.badStatus > 0 ? [`${r.badStatus} answers not 2xx/3xx`] : []),
      ];
      const details = { avgLatencyMs: r.avgLatencyMs, p99LatencyMs: r.p99LatencyMs };
      return { value: r.requestsPerSecond, seconds: r.seconds, details, problems };
    },
  };
}

async function bulkPhase(ctx: ScenarioContext, seconds: number, nodeFlags: string[]) {
  const backend = await startIperf3Server(ctx.group, {
    bin: ctx.tools.get('iperf3')!,
    listen: await tcpAddress(HOSTS.backend),
    workDir: ctx.workDir,
    cpu: ctx.config.serverCpu,
  });
  const { paths, servers } = await startPaths(ctx, backend, nodeFlags);
  try {
    const opts = { config: ctx.config, seconds, ratios: RATIOS, log: ctx.log };
    const metrics: MetricComparison[] = [];
    for (const reverse of [false, true])
      metrics.push(await comparePaths(paths, iperf3Spec(ctx, reverse), opts));
    return { metrics, servers };
  } finally {
    await stopAll(servers);
  }
}

/** Every path must give nginx's own answer, else the rates compare different work. */
async function checkHttp(paths: TcpPath[]): Promise<void> {
  const problems: string[] = [];
  for (const path of paths) {
    const got = await httpGet(path.address).catch((err: Error) => `error: ${err.message}`);
    if (!got.startsWith('HTTP/1.1 200 ') || !got.endsWith(`\r\n\r\n${NGINX_BODY}`))
      problems.push(`${path.label}: ${JSON.stringify(got.slice(0, 200))}`);
  }
  if (problems.length > 0) throw new Error(`wrong answers before measuring:\n  ${problems.join('\n  ')}`);
}

async function connectionPhase(ctx: ScenarioContext, seconds: number, nodeFlags: string[]) {
  const listen = await tcpAddress(HOSTS.backend);
  const backend = await startNginx(ctx.group, {
    bin: ctx.tools.get('nginx')!,
    listen,
    alsoListen: [HOSTS.natBackend],
    workDir: ctx.workDir,
    cpu: ctx.config.serverCpu,
  });
  const natBackend = { host: HOSTS.natBackend, port: listen.port };
  const { paths, servers } = await startPaths(ctx, backend, nodeFlags, natBackend);
  try {
    await checkHttp(paths);
    const opts = { config: ctx.config, seconds, ratios: RATIOS, log: ctx.log };
    return { metrics: [await comparePaths(paths, wrkSpec(ctx), opts)], servers };
  } finally {
    await stopAll(servers);
  }
}

function pinning(config: BenchConfig): string {
  if (config.serverCpu === undefined) return 'nothing (BENCH_PIN=0 or fewer than 2 CPUs)';
  return (
    `backend (iperf3 -s, nginx) and proxy (meshdns VIP proxy runner, haproxy) on CPU ${config.serverCpu}; ` +
    `client (iperf3 -c, wrk) on CPU ${config.clientCpu} (taskset)`
  );
}

function wrkVersion(bin: string): string {
  // `wrk -v` prints its banner and exits 1.
  const banner = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stdout ?? '';
  return /^wrk (\S+)/.exec(banner)?.[1] ?? 'unknown';
}

async function run(ctx: ScenarioContext): Promise<PathsResult> {
  const { config, log } = ctx;
  const seconds = measureSeconds(config);
  const nodeFlags = process.env.BENCH_MESHDNS_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  log(`  pinned: ${pinning(config)}`);
  const noNat = natPlane();
  if (noNat) log(`  ${noNat}`);
  log(`  ${seconds} s per measurement: bulk with iperf3 first, then connections with wrk`);
  const bulk = await bulkPhase(ctx, seconds, nodeFlags);
  const connections = await connectionPhase(ctx, seconds, nodeFlags);
  const metrics = [...bulk.metrics, ...connections.metrics];
  const versions = Object.fromEntries(
    [...bulk.servers, ...connections.servers].map((s) => [s.label, s.version]),
  );
  const placeholder = { host: '<path>', port: 0 };
  return {
    scenario: vipScenario.name,
    description: vipScenario.description,
    pinning: pinning(config),
    setup: {
      hosts: HOSTS,
      secondsPerMeasurement: seconds,
      iperf3Args: iperf3Args({ server: placeholder, seconds, reverse: false }),
      wrkArgs: wrkArgs({ server: placeholder, seconds, connections: WRK_CONNECTIONS }),
      haproxyConfig: haproxyConfig({ listen: placeholder, backend: placeholder }),
      versions: { ...versions, wrk: wrkVersion(ctx.tools.get('wrk')!), node: process.version },
      meshdnsNodeFlags: nodeFlags,
      netns: inBenchNetns() ?? null,
      natLeftOut: noNat ?? null,
    },
    metrics,
    warnings: metrics.flatMap((m) => m.warnings),
  };
}

export const vipScenario: Scenario<PathsResult> = {
  name: 'vip',
  description:
    "TCP to one backend: direct, through meshdns' VIP proxy and NAT rules, through haproxy (mode tcp, 1 thread)",
  ownNetns: 'the nat path writes iptables rules and switches conntrack on, which must not touch the machine',
  tools: [
    { bin: 'iperf3', pkg: 'iperf3' },
    { bin: 'wrk', pkg: 'wrk' },
    { bin: 'nginx', pkg: 'nginx-light' },
    { bin: 'haproxy', pkg: 'haproxy' },
    { bin: 'taskset', pkg: 'util-linux' },
  ],
  run,
  format: formatPaths,
};
