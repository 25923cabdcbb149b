// The family of an IP address already checked at the edge (flags, resolv.conf): IPv6 exactly when
// it has a colon. Node's net.isIPv6 compiles a large regular expression on its first call (10-20 ms
// measured at start-up on a 2-core machine), which put it on the path to serve's first answer.

import { isIP, isIPv4 } from 'node:net';

/** `address` must be a valid IPv4 or IPv6 address (checked once where it came in). */
export function isCheckedIPv6(address: string): boolean {
  return address.includes(':');
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
