// What the agent shows on its admin API (SPEC §8): the AdminSource for admin/, read from the live
// agent at request time.
import type { AdminSource } from '../admin/index.js';
import { keyToName, presentMessage, qtypeName, toFqdn } from '../dns/index.js';
import type { Registry } from '../metrics.js';
import { type CacheHit, renderAnswer } from '../upstream/index.js';
import type { Agent, AgentOptions } from './agent.js';

/** One cache entry as /debug/cache?name= shows it (also rendered by the answering workers for theirs). */
export function cacheEntry({ entry, age }: CacheHit) {
  const fresh = age < entry.ttl;
  let answer: unknown = null;
  try {
    // Rendered for a question of the entry's own name; the debug view never counts as a hit.
    const q = {
      id: 0,
      flags: 0,
      opcode: 0,
      qkey: entry.qkey,
      qtype: entry.qtype,
      qclass: 1,
      qEnd: entry.answer.qEnd,
      edns: null,
    };
    const out = renderAnswer(entry.answer, entry.answer.body, q, age, fresh ? undefined : 0, entry.ttl);
    answer = out && presentMessage(out);
  } catch {
    answer = null;
  }
  return {
    name: keyToName(entry.qkey),
    type: qtypeName(entry.qtype),
    dnssecOk: entry.do,
    state: fresh ? 'fresh' : 'stale',
    negative: entry.answer.negative,
    ageSeconds: age,
    ttl: entry.ttl,
    ttlLeftSeconds: Math.max(0, entry.ttl - age),
    hits: entry.hits,
    bytes: entry.size,
    answer,
  };
}

/** `registry`: where the agent's metrics were registered (the one `opts.registry` gave), if any. */
export function agentAdminSource(
  agent: Agent,
  opts: AgentOptions,
  registry: Registry | undefined,
): AdminSource {
  return {
    readiness: () => {
      const waiting: string[] = [];
      if (agent.table() === undefined) waiting.push('no name table yet');
      if (!agent.ready && waiting.length === 0) waiting.push('DNS listeners not up');
      return { ready: agent.ready, waiting };
    },
    // With answering workers, their figures are fetched first: every metric is the sum over the threads.
    metrics: () => {
      if (registry === undefined) return undefined;
      return agent
        .refreshWorkers()
        .then(() => registry.metrics())
        .then((body) => ({ contentType: registry.contentType, body }));
    },
    nameTable: () => {
      const table = agent.table();
      return table === undefined
        ? { loaded: false, names: [] }
        : { loaded: true, size: table.size, names: table.records() };
    },
    config: async () => {
      await agent.refreshWorkers();
      return {
        pipeline: agent.pipeline.order,
        udpIo: agent.udpPath,
        answeringThreads: agent.threadStatus(),
        ...(opts.config ?? {}),
      };
    },
    vips: () => ({
      vips: agent.vips,
      proxy: agent.vipDataplane
        ? {
            enabled: true,
            dataplane: agent.vipDataplane.kind,
            ...(agent.vipDataplane.relayKind ? { relay: agent.vipDataplane.relayKind } : {}),
            listeners: agent.vipDataplane.stats(),
            // Each VIP:port and what serves it: in nat mode the rules, or the proxy where no rule can.
            served: agent.vipDataplane.served(),
          }
        : { enabled: false },
    }),
    // Each answering thread has a cache of its own (README "Workers"): the counts are summed, the entries
    // of a name listed from every thread, those of a worker marked with its number.
    cache: async (name) => {
      if (agent.cache === undefined) return { enabled: false };
      if (name === undefined) {
        await agent.refreshWorkers();
        return { enabled: true, settings: agent.cache.settings, ...agent.cacheStats() };
      }
      const fqdn = toFqdn(name);
      const own = agent.cache.list(fqdn).map(cacheEntry);
      const theirs = (await agent.workers?.cacheEntries(fqdn)) ?? [];
      return { enabled: true, name: fqdn, entries: [...own, ...theirs] };
    },
    upstreams: async () => {
      await agent.refreshWorkers();
      return { order: agent.forwarder.plan(), ...agent.forwarderStats() };
    },
    // Loaded on the first request: it brings the name table's code, which answering does not need.
    explain: async (name, type) =>
      (await import('./explain.js')).explain({ pipeline: agent.pipeline }, name, type),
  };
}
