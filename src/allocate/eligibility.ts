// Which ServiceEntry hosts get VIPs (SPEC §5), as Istio's IP auto-allocation controller decides.
import { isIPAddress, isWildcardHost, type ServiceEntry } from '../model/index.js';

/** The opt-out label; only the value "false" (any case, as Istio compares it) opts out. */
export const AUTOALLOCATE_LABEL = 'networking.istio.io/enable-autoallocate-ip';

/** meshdns' opt-in (issue 14 item 5): each name asked under the entry's wildcard gets a VIP of its own. */
export const PER_NAME_LABEL = 'meshdns.io/per-name-vips';

/** Why a host gets no VIP. */
export type Ineligible = 'ip-host' | 'user-addresses' | 'resolution-none' | 'opted-out' | 'wildcard';

export function ineligibility(se: ServiceEntry, host: string): Ineligible | undefined {
  // `hosts: ["10.1.2.3"]` already is an address, not a name to resolve; Istio allocates none for it.
  if (isIPAddress(host)) return 'ip-host';
  // The user's own addresses are the entry's VIPs; nothing to allocate.
  if (se.addresses.length > 0) return 'user-addresses';
  // With resolution NONE the proxy forwards to the original destination, so a VIP would lead nowhere.
  if (se.resolution === 'NONE') return 'resolution-none';
  if (se.meta.labels[AUTOALLOCATE_LABEL]?.toLowerCase() === 'false') return 'opted-out';
  // One VIP cannot stand for every name under a wildcard, unless each name is resolved at
  // connect time (DYNAMIC_DNS).
  if (isWildcardHost(host) && se.resolution !== 'DYNAMIC_DNS') return 'wildcard';
  return undefined;
}

/**
 * Whether each name asked under the wildcard `host` gets a VIP of its own (issue 14 item 5): the entry
 * carries PER_NAME_LABEL "true" or resolution DYNAMIC_DNS, and would otherwise get VIPs (no addresses of
 * its own, resolution not NONE, not opted out). Two databases under `*.db.example.com` on one port are
 * then told apart by destination address, which one VIP for the whole wildcard cannot do.
 */
export function perNameWildcard(se: ServiceEntry, host: string): boolean {
  if (!isWildcardHost(host)) return false;
  const why = ineligibility(se, host);
  if (why !== undefined && why !== 'wildcard') return false;
  return se.resolution === 'DYNAMIC_DNS' || se.meta.labels[PER_NAME_LABEL]?.toLowerCase() === 'true';
}
