// Backend names are resolved through the upstream resolvers, never through our own table: the
// table would answer a ServiceEntry host with its VIP, and the proxy would connect to itself.
import { isIP } from 'node:net';
import { DEFAULTS } from '../defaults.js';
import { dnsCodec, QTYPE } from '../dns/index.js';

export interface UpstreamQuerier {
  /**
   * A reply, or null when upstream gave none (the forwarder's observer logs and counts why). Never
   * rejects.
   */
  query(name: string, qtype: number): Promise<Buffer | null>;
}

/** Addresses of a name, IPv4 first; `[]` when the upstreams know none. */
export type BackendResolver = (name: string) => Promise<string[]>;

interface Cached {
  addresses: string[];
  expires: number;
}

/** A name's addresses and how long they hold (their TTL, within the resolver's bounds). */
export interface BackendAnswer {
  addresses: string[];
  ttlMs: number;
}

/** Like BackendResolver, with the TTL: the NAT data plane re-resolves when it runs out. */
export type BackendLookup = (name: string) => Promise<BackendAnswer>;

/** Answers are kept for their TTL, at least `minTtlMs` and at most `maxTtlMs`. */
export function upstreamResolver(
  upstream: UpstreamQuerier,
  opts: { now?: () => number; minTtlMs?: number; maxTtlMs?: number } = {},
): BackendResolver {
  const lookup = upstreamLookup(upstream, opts);
  return async (name) => (await lookup(name)).addresses;
}

/** upstreamResolver's lookups with their TTL; an IP address stands for itself and never expires. */
export function upstreamLookup(
  upstream: UpstreamQuerier,
  opts: { now?: () => number; minTtlMs?: number; maxTtlMs?: number } = {},
): BackendLookup {
  const now = opts.now ?? Date.now;
  const minTtl = opts.minTtlMs ?? DEFAULTS.vipBackendMinTtlMs;
  const maxTtl = opts.maxTtlMs ?? DEFAULTS.vipBackendMaxTtlMs;
  const cache = new Map<string, Cached>();
  const ask = async (name: string, qtype: number): Promise<{ ips: string[]; ttl: number }> => {
    const reply = await upstream.query(name, qtype);
    if (!reply) return { ips: [], ttl: 0 };
    try {
      const answers = dnsCodec().decode(reply).answers ?? [];
      const want = qtype === QTYPE.A ? 'A' : 'AAAA';
      const records = answers.filter((a) => a.type === want) as { data: string; ttl?: number }[];
      return { ips: records.map((r) => r.data), ttl: Math.min(...records.map((r) => r.ttl ?? 0)) };
    } catch {
      return { ips: [], ttl: 0 };
    }
  };
  return async (name) => {
    if (isIP(name) !== 0) return { addresses: [name], ttlMs: Infinity };
    const hit = cache.get(name);
    if (hit && hit.expires > now()) return { addresses: hit.addresses, ttlMs: hit.expires - now() };
    const [v4, v6] = await Promise.all([ask(name, QTYPE.A), ask(name, QTYPE.AAAA)]);
    const addresses = [...v4.ips, ...v6.ips];
    const ttlMs = Math.min(
      maxTtl,
      Math.max(minTtl, 1000 * Math.min(v4.ips.length ? v4.ttl : Infinity, v6.ips.length ? v6.ttl : Infinity)),
    );
    if (addresses.length > 0) cache.set(name, { addresses, expires: now() + ttlMs });
    return { addresses, ttlMs: addresses.length > 0 ? ttlMs : minTtl };
  };
}
