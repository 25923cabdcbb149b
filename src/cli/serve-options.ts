// `serve` flags of the cache, metrics, admin API, query log and the DNS server's exposure and limits
// (SPEC §10), and the effective configuration
// with where each value came from (/debug/config). Checked once here; the agent trusts them.
import { type Command, Option } from 'commander';
import type { AgentOptions } from '../agent/index.js';
import { DEFAULTS } from '../defaults.js';
import type { Registry } from '../metrics.js';
import { type Cidr, ClientAllowList, isLoopbackHost, parseCidr, type UdpIo } from '../server/index.js';
import type { HedgeMode } from '../upstream/index.js';
import { requireNetAdmin } from '../vip/capability.js';
import { VIP_DATAPLANES, type VipDataplaneKind } from '../vip/dataplane.js';
import { flagError, parseListen, parseMilliseconds, parsePositiveInt, parseSeconds } from './flags.js';

export interface ServeExtraFlags {
  adminListen: string;
  adminAllowRemote?: boolean;
  metrics: boolean;
  metricsEventloopResolution: string;
  cache: boolean;
  cacheSize: string;
  cacheMaxBytes: string;
  cacheMaxTtl: string;
  cacheMaxNegativeTtl: string;
  serveStale: boolean;
  staleMaxAge: string;
  prefetch: boolean;
  logQueries?: string | boolean;
  vipProxy?: boolean;
  vipDataplane: VipDataplaneKind;
  vipConnectTimeout: string;
  vipIdleTimeout: string;
  vipRelay: 'auto' | 'native' | 'node';
  dnsListen: string;
  allowFrom?: string[];
  tcpMaxConnections: string;
  tcpMaxInFlight: string;
  tcpMaxQueuedBytes: string;
  tcpIdleTimeout: string;
  upstreamMaxInFlight: string;
  upstreamMaxFails: string;
  upstreamHealthCheck: string;
  upstreamHedge: string;
  autopath: boolean;
  udpIo: UdpIo;
  udpRecvBuffer: string;
  udpSendBuffer: string;
  workers: string;
  /** `--snapshot-file`; the default depends on the command (snapshot-setup.ts). */
  snapshotFile?: string;
  /** false with `--no-snapshot`. */
  snapshot: boolean;
}

/** Inclusive ranges of the limit flags; timers are capped where Node's setTimeout would wrap (2^31-1 ms). */
const RANGES = {
  tcpMaxConnections: [1, 1_000_000],
  tcpMaxInFlight: [1, 65_535],
  tcpMaxQueuedBytes: [1024, 1 << 30],
  tcpIdleTimeout: [1, 2 ** 31 - 1],
  upstreamMaxInFlight: [1, 1_000_000],
  upstreamMaxFails: [0, 1_000_000],
  upstreamHealthCheck: [10, 2 ** 31 - 1],
  upstreamHedge: [0, 2 ** 31 - 1],
  // 0 keeps the system's size; setsockopt takes an int, and the kernel doubles what it is given.
  udpBuffer: [0, 2 ** 30],
  workers: [1, 1024],
  metricsEventloopResolution: [1, 1000],
} as const;

function parseIntIn(flag: string, value: string, [min, max]: readonly [number, number]): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw flagError(flag, value, `expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** Limits and exposure flags: `--allow-from` and the bounds a client can reach. */
function addLimitOptions(cmd: Command): Command {
  return cmd
    .option(
      '--allow-from <cidr...>',
      'clients answered (IPv4/IPv6 CIDRs); others get REFUSED. Required when --dns-listen is not loopback',
    )
    .option(
      '--tcp-max-connections <n>',
      'DNS TCP connections; at the cap the idlest is closed for a new one',
      String(DEFAULTS.tcpMaxConnections),
    )
    .option(
      '--tcp-max-in-flight <n>',
      'queries in flight per TCP connection before reading from it pauses',
      String(DEFAULTS.tcpMaxInFlightPerConnection),
    )
    .option(
      '--tcp-max-queued-bytes <bytes>',
      'unsent answer bytes per TCP connection before reading from it pauses',
      String(DEFAULTS.tcpMaxQueuedBytes),
    )
    .option(
      '--tcp-idle-timeout <ms>',
      'close a DNS TCP connection idle (or leaving its answers unread) this long',
      String(DEFAULTS.tcpIdleTimeoutMs),
    )
    .option(
      '--upstream-max-in-flight <n>',
      'upstream queries in flight; past it SERVFAIL at once',
      String(DEFAULTS.upstreamMaxInFlight),
    )
    .option(
      '--upstream-max-fails <n>',
      'failed tries in a row that mark an upstream server down (skipped until a probe gets a reply); 0: never',
      String(DEFAULTS.upstreamMaxFails),
    )
    .option(
      '--upstream-health-check <ms>',
      'how often a down upstream server is probed',
      String(DEFAULTS.upstreamHealthCheckMs),
    )
    .option(
      '--upstream-hedge <auto|off|ms>',
      'ask the next upstream server too when the one asked is slow: auto (after its recent p95, at least ' +
        `${DEFAULTS.upstreamHedge.minMs} ms), a fixed delay in ms (0: all servers at once), off (only after a failure)`,
      String(DEFAULTS.upstreamHedge.mode),
    );
}

/** The UDP socket (issue 12): the I/O path and the kernel's buffers. */
function addUdpOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--udp-io <path>',
        'UDP I/O: native (batches through recvmmsg/sendmmsg, the addon built at npm ci), dgram (node:dgram), ' +
          'auto (native where the addon loaded)',
      )
        .choices(['auto', 'native', 'dgram'])
        .default(DEFAULTS.udpIo),
    )
    .option(
      '--udp-recv-buffer <bytes>',
      'SO_RCVBUF of the DNS UDP socket (capped by net.core.rmem_max); 0: the system default',
      String(DEFAULTS.udpRecvBufferBytes),
    )
    .option(
      '--udp-send-buffer <bytes>',
      'SO_SNDBUF of the DNS UDP socket (capped by net.core.wmem_max); 0: the system default',
      String(DEFAULTS.udpSendBufferBytes),
    )
    .option(
      '--workers <n>',
      'threads answering UDP, each with its own socket on the DNS port (SO_REUSEPORT), table copy and ' +
        'cache share; default: 1 on 2 cores or fewer, else cores - 1',
      String(DEFAULTS.workers),
    );
}

export function addServeExtraOptions(cmd: Command): Command {
  return addUdpOptions(addLimitOptions(cmd))
    .option(
      '--admin-listen <addr:port>',
      'admin HTTP API: /metrics, /healthz/ready, /debug/*',
      DEFAULTS.adminListen,
    )
    .option('--admin-allow-remote', 'allow a non-loopback --admin-listen address')
    .option('--no-metrics', 'count nothing (for measuring what counting costs)')
    .option(
      '--metrics-eventloop-resolution <ms>',
      'tick of the event-loop monitor behind nodejs_eventloop_lag_*: a stall reads as up to this much ' +
        'longer than it was; 1 measures to the millisecond for about 2 % of a core',
      String(DEFAULTS.metricsEventLoopResolutionMs),
    )
    .option('--no-cache', 'forward every miss of the table, keep no answers')
    .option(
      '--cache-size <entries>',
      'most answers kept (least recently used go first, as CLOCK does)',
      String(DEFAULTS.cache.maxEntries),
    )
    .option('--cache-max-bytes <bytes>', 'most bytes the cache holds', String(DEFAULTS.cache.maxBytes))
    .option('--cache-max-ttl <seconds>', 'longest a positive answer is kept', String(DEFAULTS.cache.maxTtl))
    .option(
      '--cache-max-negative-ttl <seconds>',
      'longest an NXDOMAIN/NODATA answer is kept',
      String(DEFAULTS.cache.maxNegativeTtl),
    )
    .option('--no-serve-stale', 'never answer from expired entries when upstream fails (RFC 8767)')
    .option(
      '--stale-max-age <seconds>',
      'oldest expired answer still served when upstream fails',
      String(DEFAULTS.cache.staleMaxAge),
    )
    .option('--no-prefetch', 'do not refresh popular entries before they expire')
    .option(
      '--no-autopath',
      'forward <name>.<first search domain> as asked, instead of answering CNAME <name> and its records ' +
        'when <name> exists outside the mesh',
    )
    .option('--vip-proxy', 'proxy TCP connections to the VIPs to their backends (docs/behaviour.md §6)')
    .addOption(
      new Option(
        '--vip-dataplane <plane>',
        'how VIP connections reach their backends: proxy (user space, no capability needed) or nat ' +
          '(kernel DNAT rules like kube-proxy, needs NET_ADMIN); nat implies --vip-proxy',
      )
        .choices([...VIP_DATAPLANES])
        .default(DEFAULTS.vipDataplane),
    )
    .option(
      '--vip-connect-timeout <ms>',
      'give up connecting to a VIP backend after this long',
      String(DEFAULTS.vipConnectTimeoutMs),
    )
    .option(
      '--vip-idle-timeout <ms>',
      'close a VIP connection idle this long',
      String(DEFAULTS.vipIdleTimeoutMs),
    )
    .addOption(
      new Option(
        '--vip-relay <relay>',
        'how the VIP proxy moves bytes: native (accept, connect and splice(2) in C, the addon built at npm ci), ' +
          'node (node:net), auto (native where the addon loaded)',
      )
        .choices(['auto', 'native', 'node'])
        .default(DEFAULTS.vipRelay),
    )
    .option(
      '--snapshot-file <file>',
      'where the cache and name table are written on SIGTERM and read at start, for a restart with a warm ' +
        'cache (serve: beside the state file; agent: $TMPDIR/meshdns-<uid>/agent-<dns port>.snapshot.json)',
    )
    .option('--no-snapshot', 'write and read no snapshot (a restart starts cold)')
    .addOption(
      new Option(
        '--log-queries [share]',
        `log a sample of queries (default share ${DEFAULTS.logQueriesSample})`,
      ),
    );
}

function parseHedge(value: string): HedgeMode {
  if (value === 'auto' || value === 'off') return value;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > RANGES.upstreamHedge[1]) {
    throw flagError(
      '--upstream-hedge',
      value,
      `expected auto, off, or a delay in ms from 0 to ${RANGES.upstreamHedge[1]} (0: every upstream at once)`,
    );
  }
  return n;
}

function parseShare(value: string | boolean | undefined): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return DEFAULTS.logQueriesSample;
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw flagError('--log-queries', value, 'expected a share in (0, 1], e.g. 0.01');
  return n;
}

/**
 * SPEC §10: a non-loopback DNS listener needs an allow list, else it is an open resolver. Checked before
 * anything listens. With `--allow-from`, only those clients are answered, loopback ones included.
 */
function allowList(flags: ServeExtraFlags): ClientAllowList | undefined {
  const listen = parseListen('--dns-listen', flags.dnsListen);
  const values = flags.allowFrom ?? [];
  const cidrs = values.map((v): Cidr => {
    const c = parseCidr(v);
    if (typeof c === 'string') throw flagError('--allow-from', v, c);
    return c;
  });
  if (cidrs.length > 0) return new ClientAllowList(cidrs);
  if (isLoopbackHost(listen.host)) return undefined;
  throw flagError(
    '--dns-listen',
    flags.dnsListen,
    'not a loopback address: it would answer and forward for anyone who reaches it (an open resolver). ' +
      'Pass --allow-from CIDR... naming the clients (e.g. --allow-from 10.0.0.0/8 fd00::/8), or listen on 127.0.0.1',
  );
}

/**
 * The registry, with the process's own metrics. prom-client is loaded only when the agent calls this,
 * once its DNS listeners are up: it is not needed to answer (SPEC §4: forwarding from the first moment).
 */
async function metricsRegistry(resolutionMs: number): Promise<Registry> {
  const { processMetrics, Registry } = await import('../metrics.js');
  return processMetrics(new Registry(), resolutionMs);
}

/** How the agent makes its registry; undefined with `--no-metrics` (the resolution is checked either way). */
function metricsFor(flags: ServeExtraFlags): (() => Promise<Registry>) | undefined {
  const flag = '--metrics-eventloop-resolution';
  const resolutionMs = parseIntIn(flag, flags.metricsEventloopResolution, RANGES.metricsEventloopResolution);
  return flags.metrics ? () => metricsRegistry(resolutionMs) : undefined;
}

/** SPEC §6: VIP routing, refused before anything listens when nat lacks its capability. */
function vipOptions(flags: ServeExtraFlags): AgentOptions['vipProxy'] {
  const dataplane = flags.vipDataplane ?? DEFAULTS.vipDataplane;
  if (!flags.vipProxy && dataplane !== 'nat') return undefined;
  if (dataplane === 'nat') requireNetAdmin('--vip-dataplane');
  return {
    connectTimeoutMs: parseMilliseconds('--vip-connect-timeout', flags.vipConnectTimeout),
    idleTimeoutMs: parseMilliseconds('--vip-idle-timeout', flags.vipIdleTimeout),
    dataplane,
    relay: flags.vipRelay ?? DEFAULTS.vipRelay,
  };
}

/** The agent options these flags decide. */
export function agentExtraOptions(flags: ServeExtraFlags): Partial<AgentOptions> {
  const admin = parseListen('--admin-listen', flags.adminListen);
  return {
    allowFrom: allowList(flags),
    tcp: {
      maxConnections: parseIntIn('--tcp-max-connections', flags.tcpMaxConnections, RANGES.tcpMaxConnections),
      maxInFlightPerConnection: parseIntIn(
        '--tcp-max-in-flight',
        flags.tcpMaxInFlight,
        RANGES.tcpMaxInFlight,
      ),
      maxQueuedBytes: parseIntIn('--tcp-max-queued-bytes', flags.tcpMaxQueuedBytes, RANGES.tcpMaxQueuedBytes),
      idleTimeoutMs: parseIntIn('--tcp-idle-timeout', flags.tcpIdleTimeout, RANGES.tcpIdleTimeout),
    },
    upstreamMaxInFlight: parseIntIn(
      '--upstream-max-in-flight',
      flags.upstreamMaxInFlight,
      RANGES.upstreamMaxInFlight,
    ),
    upstreamMaxFails: parseIntIn('--upstream-max-fails', flags.upstreamMaxFails, RANGES.upstreamMaxFails),
    upstreamHealthCheckMs: parseIntIn(
      '--upstream-health-check',
      flags.upstreamHealthCheck,
      RANGES.upstreamHealthCheck,
    ),
    upstreamHedge: parseHedge(flags.upstreamHedge),
    autopath: flags.autopath !== false,
    udp: {
      io: flags.udpIo,
      recvBufferBytes: parseIntIn('--udp-recv-buffer', flags.udpRecvBuffer, RANGES.udpBuffer),
      sendBufferBytes: parseIntIn('--udp-send-buffer', flags.udpSendBuffer, RANGES.udpBuffer),
    },
    workers: parseIntIn('--workers', flags.workers, RANGES.workers),
    admin: { ...admin, allowRemote: flags.adminAllowRemote === true },
    registry: metricsFor(flags),
    logQueries: parseShare(flags.logQueries),
    vipProxy: vipOptions(flags),
    cache: flags.cache && {
      maxEntries: parsePositiveInt('--cache-size', flags.cacheSize),
      maxBytes: parsePositiveInt('--cache-max-bytes', flags.cacheMaxBytes),
      maxTtl: parseSeconds('--cache-max-ttl', flags.cacheMaxTtl),
      maxNegativeTtl: parseSeconds('--cache-max-negative-ttl', flags.cacheMaxNegativeTtl),
      serveStale: flags.serveStale,
      staleMaxAge: parseSeconds('--stale-max-age', flags.staleMaxAge),
      prefetch: flags.prefetch,
    },
  };
}

/** Every flag's value and where it came from ("flag" or "default"), for /debug/config. */
export function flagSources(cmd: Command): Record<string, { value: unknown; source: string }> {
  const out: Record<string, { value: unknown; source: string }> = {};
  for (const [key, value] of Object.entries(cmd.opts())) {
    const source = cmd.getOptionValueSource(key);
    out[key] = { value, source: source === 'cli' ? 'flag' : (source ?? 'default') };
  }
  return out;
}
