// Which ServiceEntry hosts get VIPs (SPEC §5), as Istio's IP auto-allocation controller decides.
import { isIPAddress, isWildcardHost, type ServiceEntry } from '../model/index.js';

/** The opt-out label; only the value "false" (any case, as Istio compares it) opts out. */
export const AUTOALLOCATE_LABEL = 'networking.istio.io/enable-autoallocate-ip';

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
