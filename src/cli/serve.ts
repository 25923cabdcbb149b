// `meshdns serve`: controller (manifests folder) and agent in one process.
import { isIPv6 } from 'node:net';
import type { Command } from 'commander';
import { Agent } from '../agent/index.js';
import { Controller } from '../controller/index.js';
import {
  parseUpstreamAddress,
  type ResolvConf,
  readResolvConf,
  type UpstreamServer,
} from '../upstream/index.js';
import { parseDomain, parseListen, parsePositiveInt } from './flags.js';
import { createLogger } from './logger.js';
import { agentExtraOptions, flagSources, type ServeExtraFlags } from './serve-options.js';

export interface ServeFlags extends ServeExtraFlags {
  manifests: string;
  dnsListen: string;
  namespace: string;
  clusterDomain: string;
  resolvConf: string;
  search?: string[];
  upstream?: string[];
  upstreamTimeout: string;
  logLevel: string;
}

async function resolvConfOrNone(flags: ServeFlags): Promise<ResolvConf | undefined> {
  try {
    return await readResolvConf(flags.resolvConf);
  } catch (err) {
    // Without --upstream and --search the resolv.conf is essential; otherwise it is optional.
    if (flags.upstream?.length && flags.search) return undefined;
    throw err;
  }
}

export async function serve(flags: ServeFlags, cmd?: Command): Promise<void> {
  const listen = parseListen('--dns-listen', flags.dnsListen);
  const timeoutMs = parsePositiveInt('--upstream-timeout', flags.upstreamTimeout);
  const clusterDomain = parseDomain('--cluster-domain', flags.clusterDomain);
  const namespace = parseDomain('--namespace', flags.namespace);
  const conf = await resolvConfOrNone(flags);
  const upstreams: UpstreamServer[] = flags.upstream?.length
    ? flags.upstream.map((u) => parseUpstreamAddress(u))
    : (conf?.nameservers ?? []).map((ns) => ({ host: ns, port: 53 }));
  const searchDomains = (flags.search ?? conf?.search ?? []).map((d) => parseDomain('--search', d));
  const logger = createLogger(flags.logLevel);
  const extra = agentExtraOptions(flags);

  const agent = new Agent({
    listen,
    listenLoopbackV6: listen.host === '127.0.0.1' && upstreams.some((u) => isIPv6(u.host)),
    upstreams,
    upstreamTimeoutMs: timeoutMs,
    upstreamAttempts: conf?.attempts,
    upstreamPerTryTimeoutMs: conf ? Math.min(conf.timeoutMs, timeoutMs) : undefined,
    logger,
    ...extra,
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
    },
  });
  const controller = new Controller({
    manifestsDir: flags.manifests,
    scope: { namespace, clusterDomain, searchDomains },
    onTable: (table, errors) => agent.setTable(table, errors.length),
    logger,
  });
  await controller.start();
  await agent.start();
  logger.info(
    {
      listen: `${listen.host}:${agent.port}`,
      admin: extra.admin ? `${extra.admin.host}:${agent.adminPort}` : null,
      cache: agent.cache !== undefined,
      metrics: extra.registry !== undefined,
      upstreams: upstreams.map((u) => `${u.host}:${u.port}`),
      namespace,
      searchDomains,
    },
    'serving DNS',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await Promise.all([agent.close(), controller.close()]);
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
