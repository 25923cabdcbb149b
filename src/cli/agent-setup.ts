// What `serve` and `agent` share: the data plane built from its flags, resolv.conf read (again on
// SIGHUP), and an exit on SIGTERM from the first moment. Light imports only: this runs before the DNS
// listeners are up (SPEC §4).
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { Agent } from '../agent/index.js';
import { DNS_PORT, isCheckedIPv6 } from '../dns/index.js';
import {
  parseUpstreamAddress,
  type ResolvConf,
  readResolvConf,
  type UpstreamServer,
} from '../upstream/index.js';
import { parseDomain, parseListen, parseMilliseconds } from './flags.js';
import { agentExtraOptions, flagSources, type ServeExtraFlags } from './serve-options.js';

/** The flags of the data plane, on `serve` and `agent` alike. */
export interface AgentFlags extends ServeExtraFlags {
  dnsListen: string;
  resolvConf: string;
  search?: string[];
  upstream?: string[];
  upstreamTimeout: string;
  clusterDomain?: string;
  logLevel: string;
}

export interface Resolvers {
  upstreams: UpstreamServer[];
  searchDomains: string[];
  conf: ResolvConf | undefined;
}

async function resolvConfOrNone(flags: AgentFlags): Promise<ResolvConf | undefined> {
  try {
    return await readResolvConf(flags.resolvConf);
  } catch (err) {
    // Without --upstream and --search the resolv.conf is essential; otherwise it is optional.
    if (flags.upstream?.length && flags.search) return undefined;
    throw err;
  }
}

/** What the agent reads from outside its flags: resolv.conf; again on SIGHUP. */
export async function readResolvers(flags: AgentFlags): Promise<Resolvers> {
  const conf = await resolvConfOrNone(flags);
  const upstreams: UpstreamServer[] = flags.upstream?.length
    ? flags.upstream.map((u) => parseUpstreamAddress(u))
    : (conf?.nameservers ?? []).map((ns) => ({ host: ns, port: DNS_PORT }));
  const searchDomains = (flags.search ?? conf?.search ?? []).map((d) => parseDomain('--search', d));
  return { upstreams, searchDomains, conf };
}

/**
 * SIGTERM/SIGINT: close what is open, exit 0 — from the first moment, start-up included (a pod deleted
 * while it starts must not report a failure).
 */
export function exitOnSignal(logger: Logger): { closing: (close: () => Promise<unknown>) => void } {
  const closers: (() => Promise<unknown>)[] = [];
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await Promise.all(closers.map((close) => close().catch(() => undefined)));
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return { closing: (close) => closers.push(close) };
}

/**
 * The data plane of these flags, not started; `resolvers` as read by readResolvers. `shareKey`: what this
 * process serves; a successor with the same key may bind its DNS port while it hands over (port-claim.ts).
 */
export function newAgent(
  flags: AgentFlags,
  resolvers: Resolvers,
  logger: Logger,
  cmd: Command | undefined,
  shareKey: string,
  extraConfig: Record<string, unknown> = {},
): Agent {
  const listen = parseListen('--dns-listen', flags.dnsListen);
  const timeoutMs = parseMilliseconds('--upstream-timeout', flags.upstreamTimeout);
  const { upstreams, searchDomains, conf } = resolvers;
  if (conf?.defaulted && !flags.upstream?.length) {
    logger.warn(
      { resolvConf: flags.resolvConf, upstream: `${conf.nameservers[0]}:${DNS_PORT}` },
      `${flags.resolvConf} has no nameserver line: forwarding to ${conf.nameservers[0]}:${DNS_PORT} as glibc does; add a nameserver line or pass --upstream ADDR:PORT`,
    );
  }
  return new Agent({
    listen,
    listenLoopbackV6: listen.host === '127.0.0.1' && upstreams.some((u) => isCheckedIPv6(u.host)),
    upstreams,
    upstreamTimeoutMs: timeoutMs,
    upstreamAttempts: conf?.attempts,
    upstreamPerTryTimeoutMs: conf ? Math.min(conf.timeoutMs, timeoutMs) : undefined,
    searchDomains,
    logger,
    ...agentExtraOptions(flags),
    // Issue 14 item 3: a new process binds the port while this one answers, then this one hands over.
    sharePort: shareKey,
    config: {
      flags: cmd ? flagSources(cmd) : {},
      upstreams: {
        value: upstreams,
        source: flags.upstream?.length ? 'flag' : `resolv.conf ${flags.resolvConf}`,
      },
      searchDomains: {
        value: searchDomains,
        source: flags.search ? 'flag' : `resolv.conf ${flags.resolvConf}`,
      },
      ...extraConfig,
    },
  });
}
