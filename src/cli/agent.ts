// `meshdns agent --controller ADDR:PORT`: the data plane of one pod, its tables from a controller over
// xDS. Its identity is what the sidecar injector gives a pod: POD_NAME, POD_NAMESPACE, INSTANCE_IP and
// ISTIO_META_* (a workload's `proxy.istio.io/config` reaches it as ISTIO_META_DNS_CAPTURE).
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { type Agent, ControllerLink, type SnapshotKeeper } from '../agent/index.js';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { createLogger } from '../logger.js';
import { type AdsClientTls, agentNode, nodeView, type XdsSetting } from '../xds/index.js';
import { type AgentFlags, exitOnSignal, newAgent, readResolvers } from './agent-setup.js';
import { flagError, parseDomain, readFlagFile } from './flags.js';
import { agentSnapshotFile, handOver, keepSnapshots, snapshotFile } from './snapshot-setup.js';

export interface AgentCommandFlags extends AgentFlags {
  controller: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
}

const META_PREFIX = 'ISTIO_META_';

/** What the pod's environment says about it. */
export function agentIdentity(env: NodeJS.ProcessEnv, clusterDomain: string) {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(META_PREFIX) && value !== undefined) metadata[key.slice(META_PREFIX.length)] = value;
  }
  return {
    podName: env.POD_NAME || hostname(),
    namespace: env.POD_NAMESPACE || DEFAULTS.namespace,
    ...(env.INSTANCE_IP ? { ip: env.INSTANCE_IP } : {}),
    clusterDomain,
    metadata,
  };
}

function tlsOptions(flags: AgentCommandFlags): AdsClientTls | undefined {
  if (!flags.tlsCa) {
    if (flags.tlsCert || flags.tlsKey) throw flagError('--tls-cert', flags.tlsCert ?? '', 'needs --tls-ca');
    return undefined;
  }
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) {
    throw flagError(
      flags.tlsCert ? '--tls-cert' : '--tls-key',
      flags.tlsCert ?? flags.tlsKey ?? '',
      'needs both --tls-cert and --tls-key',
    );
  }
  return {
    ca: readFlagFile('--tls-ca', flags.tlsCa),
    ...(flags.tlsCert ? { cert: readFlagFile('--tls-cert', flags.tlsCert) } : {}),
    ...(flags.tlsKey ? { key: readFlagFile('--tls-key', flags.tlsKey) } : {}),
    ...(flags.tlsServerName ? { serverName: flags.tlsServerName } : {}),
  };
}

export async function runAgent(flags: AgentCommandFlags, cmd?: Command): Promise<void> {
  const logger = createLogger(flags.logLevel);
  const signals = exitOnSignal(logger);
  const clusterDomain = parseDomain('--cluster-domain', flags.clusterDomain ?? DEFAULTS.clusterDomain);
  const identity = agentIdentity(process.env, clusterDomain);
  const tls = tlsOptions(flags);
  const resolvers = await readResolvers(flags);
  const node = agentNode(identity);
  // The pod's own setting wins (SPEC §2); without one, the controller's view of the mesh decides.
  const ownCapture = nodeView(node).dnsCapture;

  const agent = newAgent(flags, resolvers, logger, cmd, `agent:${node.id}`, {
    controller: { value: flags.controller, source: 'flag' },
    node: { value: node, source: 'environment' },
  });
  let started = ownCapture !== false;
  let captureAtStart: boolean | undefined = ownCapture;
  const link: ControllerLink = await ControllerLink.create({
    agent,
    target: flags.controller,
    node,
    ...(tls ? { tls } : {}),
    scope: { namespace: identity.namespace, clusterDomain, searchDomains: resolvers.searchDomains },
    logger,
    onConfig: async (config) => {
      if (ownCapture !== undefined) return;
      const capture = config.dnsCapture;
      if (captureAtStart === undefined) {
        captureAtStart = capture.value;
        if (capture.value) return;
        await stopServing(agent, capture, logger);
        started = false;
      } else if (capture.value !== captureAtStart) {
        logger.warn(
          { DNS_CAPTURE: capture.value, source: capture.detail },
          `DNS capture is now ${capture.value ? 'on' : 'off'} for this workload (${captureAtStart ? 'on' : 'off'} at start); restart the agent to apply it`,
        );
      }
    },
    onFirstTable: () =>
      logger.info(
        {
          listen: started ? `${flags.dnsListen.replace(/:\d+$/, '')}:${agent.port}` : null,
          controller: flags.controller,
          node: node.id,
        },
        started ? 'serving DNS' : 'following the controller (DNS capture off)',
      ),
  });
  // Per-name VIPs (issue 14 item 5): the controller allocates; the names answered are reported so they stay.
  agent.usePerName(
    { ask: (name, wildcard) => link.askPerName(name, wildcard, DEFAULTS.wildcardVipAskTimeoutMs) },
    (names) => link.touchPerName(names),
    DEFAULTS.wildcardVipReportMs,
  );
  let keeper: SnapshotKeeper | undefined;
  signals.closing(() => handOver(agent, () => keeper));
  signals.closing(() => link.close());
  if (ownCapture === false) {
    logger.info(
      { DNS_CAPTURE: false, source: `${META_PREFIX}DNS_CAPTURE` },
      'DNS capture is off for this pod: not serving DNS',
    );
  } else {
    await agent.start();
    // Its predecessor's table answers mesh names until the controller's first one, even with the
    // controller down (issue 14 item 3).
    const file = snapshotFile(flags, () => agentSnapshotFile(agent.port));
    keeper = started ? keepSnapshots(agent, file, logger) : undefined;
    if (agent.portNotShared) logger.warn({ reason: agent.portNotShared }, 'the DNS port is not shared');
    if (agent.portPredecessor) {
      logger.info({ pid: agent.portPredecessor }, 'sharing the DNS port with the agent this one replaces');
    }
  }

  process.on('SIGHUP', () => void reload(flags, agent, link, logger));
  await link.start();
}

async function stopServing(agent: Agent, capture: XdsSetting, logger: Logger): Promise<void> {
  await agent.close();
  logger.info(
    { DNS_CAPTURE: false, source: capture.detail },
    'DNS capture is off for this workload: not serving DNS',
  );
}

/** SIGHUP: re-read resolv.conf; new search domains change the derived names of every host. */
async function reload(
  flags: AgentCommandFlags,
  agent: Agent,
  link: ControllerLink,
  logger: Logger,
): Promise<void> {
  logger.info('SIGHUP: re-reading resolv.conf');
  try {
    const { upstreams, searchDomains } = await readResolvers(flags);
    agent.setUpstreams(upstreams);
    agent.setSearchDomains(searchDomains);
    await link.rescope({ ...link.scope, searchDomains });
  } catch (err) {
    const e = err as MeshdnsError;
    logger.error(
      { code: e instanceof MeshdnsError ? e.code : undefined },
      `reload failed, keeping what was loaded before: ${e.message}`,
    );
  }
}
