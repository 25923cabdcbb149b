// What the agent starts once its DNS listeners answer: the metrics, the VIP proxy (SPEC §6) and the
// admin API (SPEC §8). agent.ts imports this file only then, so that prom-client, the HTTP server and
// the name table's model are not loaded before the first answer (SPEC §4).
import { AdminServer } from '../admin/index.js';
import type { Registry } from '../metrics.js';
import { failureMetrics, limitMetrics, queryMetrics, udpMetrics } from '../server/metrics.js';
import { replyOf } from '../upstream/index.js';
import { cacheMetrics, upstreamMetrics } from '../upstream/metrics.js';
import {
  NatDataplane,
  upstreamLookup,
  upstreamResolver,
  type VipDataplane,
  VipProxy,
  vipDataplaneMetrics,
  vipMetrics,
} from '../vip/index.js';
import { agentAdminSource } from './admin-source.js';
import type { Agent, AgentOptions } from './agent.js';
import { agentMetrics, workerMetrics } from './metrics.js';

export interface AgentServices {
  /** Counts a forwarded query into Istio's upstream metrics; absent without a registry. */
  countUpstream?: (seconds: number, ok: boolean) => void;
  vipDataplane?: VipDataplane;
  admin?: AdminServer;
}

/** Registers the agent's metrics and builds its proxy and admin server (not started). */
export function startServices(
  agent: Agent,
  opts: AgentOptions,
  registry: Registry | undefined,
): AgentServices {
  const out: AgentServices = {};
  if (registry) {
    const count = upstreamMetrics(registry, () => agent.forwarderStats());
    // The queries forwarded before the registry existed are counted as if seen live.
    agent.pendingUpstream?.replay(count);
    out.countUpstream = count;
    const cache = agent.cache;
    if (cache) cacheMetrics(registry, () => agent.cacheStats() ?? cache.stats());
    if (agent.queryCounts) queryMetrics(registry, agent.queryCounts);
    agentMetrics(registry, () => agent.table()?.size ?? 0, agent.configCounters);
    limitMetrics(registry, agent.limits);
    udpMetrics(registry, () => agent.udpStats());
    failureMetrics(registry, agent.failures);
    workerMetrics(registry, () => agent.threadStatus());
  }
  if (opts.vipProxy) {
    const { dataplane, relay, ...timeouts } = opts.vipProxy;
    // Backends are resolved through the upstreams, never our own table (which answers with VIPs).
    const upstream = {
      query: async (name: string, qtype: number) => replyOf(await agent.forwarder.query(name, qtype)),
    };
    const proxy = new VipProxy({
      ...timeouts,
      resolve: upstreamResolver(upstream),
      logger: opts.logger,
      ...(relay ? { relay } : {}),
    });
    const plane: VipDataplane =
      dataplane === 'nat'
        ? new NatDataplane({ lookup: upstreamLookup(upstream), fallback: proxy, logger: opts.logger })
        : proxy;
    out.vipDataplane = plane;
    if (registry) {
      vipMetrics(registry, () => plane.stats());
      vipDataplaneMetrics(registry, () => plane.served());
    }
  }
  if (opts.admin) out.admin = new AdminServer(opts.admin, agentAdminSource(agent, opts, registry));
  return out;
}
