// Checks for the names and addresses found in manifests. Host names leave the edge in our one
// internal form (lower-case, no trailing dot) so every later map key and comparison agrees.
import { ipFamily, isDnsLabel } from '../dns/index.js';

// The address and label checks live in dns/ (the layer that answers needs them without the model).
export { flatName, ipFamily, ipToBytes, isCidr, isDnsLabel } from '../dns/index.js';

/** Lower-case, one trailing dot removed: the form used for every host name inside meshdns. */
export function normalizeHost(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** A DNS host name of LDH labels, any case, with or without the trailing dot. */
export function isHostname(name: string): boolean {
  const n = normalizeHost(name);
  return n.length > 0 && n.length <= 253 && n.split('.').every(isDnsLabel);
}

/** Most Kubernetes object names (RFC 1123 subdomain): lower-case LDH labels joined by dots, at most 253 characters. */
export function isDnsSubdomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every(isDnsLabel);
}

/** `*.example.com`: Istio's wildcard host, matching one or more labels in front of the suffix. */
export function isWildcardHost(name: string): boolean {
  return name.startsWith('*.') && isHostname(name.slice(2));
}

export function isIPAddress(value: string): boolean {
  return ipFamily(value) !== 0;
}
