// `serve` flags of the cache, metrics, admin API and query log, and the effective configuration
// with where each value came from (/debug/config). Checked once here; the agent trusts them.
import { type Command, Option } from 'commander';
import type { AgentOptions } from '../agent/index.js';
import { DEFAULTS } from '../defaults.js';
import { processMetrics, Registry } from '../metrics.js';
import { CACHE_DEFAULTS } from '../upstream/index.js';
import { flagError, parseListen, parsePositiveInt } from './flags.js';

export interface ServeExtraFlags {
  adminListen: string;
  adminAllowRemote?: boolean;
  metrics: boolean;
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
  vipConnectTimeout: string;
  vipIdleTimeout: string;
}

export function addServeExtraOptions(cmd: Command): Command {
  return cmd
    .option(
      '--admin-listen <addr:port>',
      'admin HTTP API: /metrics, /healthz/ready, /debug/*',
      DEFAULTS.adminListen,
    )
    .option('--admin-allow-remote', 'allow a non-loopback --admin-listen address')
    .option('--no-metrics', 'count nothing (for measuring what counting costs)')
    .option('--no-cache', 'forward every miss of the table, keep no answers')
    .option('--cache-size <entries>', 'most answers kept (LRU)', String(CACHE_DEFAULTS.maxEntries))
    .option('--cache-max-bytes <bytes>', 'most bytes the cache holds', String(CACHE_DEFAULTS.maxBytes))
    .option('--cache-max-ttl <seconds>', 'longest a positive answer is kept', String(CACHE_DEFAULTS.maxTtl))
    .option(
      '--cache-max-negative-ttl <seconds>',
      'longest an NXDOMAIN/NODATA answer is kept',
      String(CACHE_DEFAULTS.maxNegativeTtl),
    )
    .option('--no-serve-stale', 'never answer from expired entries when upstream fails (RFC 8767)')
    .option(
      '--stale-max-age <seconds>',
      'oldest expired answer still served when upstream fails',
      String(CACHE_DEFAULTS.staleMaxAge),
    )
    .option('--no-prefetch', 'do not refresh popular entries before they expire')
    .option('--vip-proxy', 'proxy TCP connections to the VIPs to their backends (SPEC §6)')
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
        '--log-queries [share]',
        `log a sample of queries (default share ${DEFAULTS.logQueriesSample})`,
      ),
    );
}

function parseShare(value: string | boolean | undefined): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return DEFAULTS.logQueriesSample;
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw flagError('--log-queries', value, 'expected a share in (0, 1], e.g. 0.01');
  return n;
}

/** The agent options these flags decide. */
export function agentExtraOptions(flags: ServeExtraFlags): Partial<AgentOptions> {
  const admin = parseListen('--admin-listen', flags.adminListen);
  return {
    admin: { ...admin, allowRemote: flags.adminAllowRemote === true },
    registry: flags.metrics ? processMetrics(new Registry()) : undefined,
    logQueries: parseShare(flags.logQueries),
    vipProxy: flags.vipProxy
      ? {
          connectTimeoutMs: parsePositiveInt('--vip-connect-timeout', flags.vipConnectTimeout),
          idleTimeoutMs: parsePositiveInt('--vip-idle-timeout', flags.vipIdleTimeout),
        }
      : undefined,
    cache: flags.cache && {
      maxEntries: parsePositiveInt('--cache-size', flags.cacheSize),
      maxBytes: parsePositiveInt('--cache-max-bytes', flags.cacheMaxBytes),
      maxTtl: parsePositiveInt('--cache-max-ttl', flags.cacheMaxTtl),
      maxNegativeTtl: parsePositiveInt('--cache-max-negative-ttl', flags.cacheMaxNegativeTtl),
      serveStale: flags.serveStale,
      staleMaxAge: parsePositiveInt('--stale-max-age', flags.staleMaxAge),
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
