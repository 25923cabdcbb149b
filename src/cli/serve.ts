// `meshdns serve`: controller (manifests folder) and agent in one process.
import { isIPv6 } from 'node:net';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { Agent } from '../agent/index.js';
import { Controller, vipRoutes, type WorkloadView, workloadVips } from '../controller/index.js';
import type { MeshdnsError } from '../errors.js';
import { loadMeshConfigFile } from '../sources/index.js';
import {
  parseUpstreamAddress,
  type ResolvConf,
  readResolvConf,
  type UpstreamServer,
} from '../upstream/index.js';
import { flagError, parseDomain, parseListen, parsePositiveInt } from './flags.js';
import { createLogger } from './logger.js';
import { agentExtraOptions, flagSources, type ServeExtraFlags } from './serve-options.js';
import { resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface ServeFlags extends WorkloadFlags, ServeExtraFlags {
  dnsListen: string;
  resolvConf: string;
  search?: string[];
  upstream?: string[];
  upstreamTimeout: string;
  logLevel: string;
  manifestsRescanInterval: string;
  maxManifestBytes: string;
}

/** The longest delay setTimeout keeps (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

async function resolvConfOrNone(flags: ServeFlags): Promise<ResolvConf | undefined> {
  try {
    return await readResolvConf(flags.resolvConf);
  } catch (err) {
    // Without --upstream and --search the resolv.conf is essential; otherwise it is optional.
    if (flags.upstream?.length && flags.search) return undefined;
    throw err;
  }
}

/** SIGTERM/SIGINT: close what is open, exit 0. */
function exitOnSignal(logger: Logger, close: () => Promise<unknown>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await close();
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Hands a new view to the agent: the table, and the VIPs with the proxy's routes. */
function useView(agent: Agent, view: WorkloadView, errors: MeshdnsError[], logger: Logger): void {
  agent.setTable(view.table, errors.length);
  agent
    .setVips(workloadVips(view), vipRoutes(view))
    .catch((err: Error) => logger.error({ err: err.message }, 'VIP routes'));
}

export async function serve(flags: ServeFlags, cmd?: Command): Promise<void> {
  const listen = parseListen('--dns-listen', flags.dnsListen);
  const timeoutMs = parsePositiveInt('--upstream-timeout', flags.upstreamTimeout);
  const rescanIntervalMs = parsePositiveInt('--manifests-rescan-interval', flags.manifestsRescanInterval);
  // Node turns a longer timer into 1 ms, which would rescan without pause.
  if (rescanIntervalMs > MAX_TIMER_MS) {
    throw flagError(
      '--manifests-rescan-interval',
      flags.manifestsRescanInterval,
      `at most ${MAX_TIMER_MS} ms`,
    );
  }
  const maxManifestBytes = parsePositiveInt('--max-manifest-bytes', flags.maxManifestBytes);
  const setup = resolveWorkloadFlags(flags);
  const conf = await resolvConfOrNone(flags);
  const upstreams: UpstreamServer[] = flags.upstream?.length
    ? flags.upstream.map((u) => parseUpstreamAddress(u))
    : (conf?.nameservers ?? []).map((ns) => ({ host: ns, port: 53 }));
  const searchDomains = (flags.search ?? conf?.search ?? []).map((d) => parseDomain('--search', d));
  const meshConfig = setup.meshConfigFile ? await loadMeshConfigFile(setup.meshConfigFile) : undefined;
  const logger = createLogger(flags.logLevel);
  const extra = agentExtraOptions(flags);

  let agent: Agent | undefined;
  const controller = new Controller({
    manifestsDir: setup.manifestsDir,
    scope: { namespace: setup.namespace, clusterDomain: setup.clusterDomain, searchDomains },
    ...(setup.workload ? { workload: setup.workload } : {}),
    ...(meshConfig ? { meshConfig } : {}),
    stateFile: setup.stateFile,
    ranges: setup.ranges,
    rescanIntervalMs,
    maxManifestBytes,
    onView: (view, errors) => agent && useView(agent, view, errors, logger),
    logger,
  });
  await controller.start();
  exitOnSignal(logger, () => Promise.all([agent?.close(), controller.close()]));

  const { capture, autoAllocate } = controller.config();
  const workload = setup.workload && `${setup.workload.namespace}/${setup.workload.name}`;
  if (!capture.value) {
    // SPEC §2: this workload's DNS is not proxied, so there is nothing to listen for.
    logger.info(
      { workload, DNS_CAPTURE: false, source: capture.detail },
      `DNS capture is off for workload ${workload}: not serving DNS`,
    );
    return;
  }
  agent = new Agent({
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
  const { view, errors } = controller.current();
  useView(agent, view, errors, logger);
  await agent.start();
  logger.info(
    {
      listen: `${listen.host}:${agent.port}`,
      admin: extra.admin ? `${extra.admin.host}:${agent.adminPort}` : null,
      cache: agent.cache !== undefined,
      metrics: extra.registry !== undefined,
      upstreams: upstreams.map((u) => `${u.host}:${u.port}`),
      namespace: setup.namespace,
      workload,
      searchDomains,
      DNS_AUTO_ALLOCATE: autoAllocate.value,
      stateFile: setup.stateFile,
    },
    'serving DNS',
  );
}
