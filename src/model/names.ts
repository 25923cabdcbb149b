// Checks for the names and addresses found in manifests. Host names leave the edge in our one
// internal form (lower-case, no trailing dot) so every later map key and comparison agrees.
import { isIP, isIPv4 } from 'node:net';

// An LDH label (RFC 1123 §2.1): letters, digits and inner hyphens, 1-63 characters.
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lower-case, one trailing dot removed: the form used for every host name inside meshdns. */
export function normalizeHost(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** A DNS host name of LDH labels, any case, with or without the trailing dot. */
export function isHostname(name: string): boolean {
  const n = normalizeHost(name);
  return n.length > 0 && n.length <= 253 && n.split('.').every((label) => LABEL.test(label));
}

/** `*.example.com`: Istio's wildcard host, matching one or more labels in front of the suffix. */
export function isWildcardHost(name: string): boolean {
  return name.startsWith('*.') && isHostname(name.slice(2));
}

/** A Kubernetes object name that becomes one DNS label (Service, Namespace, hostname). */
export function isDnsLabel(name: string): boolean {
  return LABEL.test(name);
}

export function isIPAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** `192.0.2.0/24` or `2001:db8::/32`: an address and a prefix length that fits its family. */
export function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const family = isIP(value.slice(0, slash));
  const prefix = value.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * The 4 or 16 bytes of an IP address in network order. `address` must be valid (checked at the
 * edge); an embedded IPv4 tail (`::ffff:192.0.2.1`) is read as its two 16-bit groups.
 */
export function ipToBytes(address: string): Buffer {
  let ip = address;
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  const out = Buffer.alloc(16);
  const v4Tail = ip.lastIndexOf(':');
  if (ip.includes('.', v4Tail)) {
    const b = ip
      .slice(v4Tail + 1)
      .split('.')
      .map(Number);
    ip = `${ip.slice(0, v4Tail + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  for (const [i, h] of headParts.entries()) out.writeUInt16BE(Number.parseInt(h, 16), i * 2);
  for (const [i, h] of tailParts.entries())
    out.writeUInt16BE(Number.parseInt(h, 16), 16 - (tailParts.length - i) * 2);
  return out;
}
