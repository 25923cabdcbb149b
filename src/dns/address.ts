// The family of an IP address already checked at the edge (flags, resolv.conf): IPv6 exactly when
// it has a colon. Node's net.isIPv6 compiles a large regular expression on its first call (10-20 ms
// measured at start-up on a 2-core machine), which put it on the path to serve's first answer.

/**
 * The value of a dotted-quad IPv4 address (four decimal octets 0-255 without leading zeros, as
 * net.isIPv4 accepts them), or -1. A scan of the characters: net.isIP runs a regular expression, and
 * for anything that is not IPv4 (every host name the model checks) the far larger IPv6 one too.
 */
export function ipv4Value(value: string): number {
  const n = value.length;
  if (n < 7 || n > 15) return -1;
  let out = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      out = out * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      // A leading zero is an octet of its own ("0"), never the start of one ("01").
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? out * 256 + octet : -1;
}

/** 4, 6 or 0, as net.isIP. */
export function ipFamily(value: string): 0 | 4 | 6 {
  if (ipv4Value(value) >= 0) return 4;
  return isIPv6Text(value) ? 6 : 0;
}

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
// A zone (`fe80::1%eth0`): letters, digits, `-`, `.` and `:`, as net.isIPv6 takes them.
const isZone = (c: number) =>
  isHex(c) || (c >= 103 && c <= 122) || (c >= 71 && c <= 90) || c === 45 || c === 46 || c === 58;

/**
 * The 16-bit units that `text` (groups between colons, none empty) stands for — a dotted-quad tail, where
 * `tailV4`, counting two — or -1 when it is not such a list.
 */
function groupUnits(text: string, tailV4: boolean): number {
  const groups = text.split(':');
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (tailV4 && i === groups.length - 1 && g.includes('.')) return ipv4Value(g) >= 0 ? i + 2 : -1;
    if (g.length === 0 || g.length > 4) return -1;
    for (let j = 0; j < g.length; j++) if (!isHex(g.charCodeAt(j))) return -1;
  }
  return groups.length;
}

/**
 * Whether `value` is an IPv6 address, exactly as net.isIPv6 decides (eight groups of 1-4 hex digits, one
 * `::` standing for one or more of them, a dotted-quad tail for the last two, an optional `%zone`), by a
 * scan: net.isIPv6's regular expression takes 10-20 ms to compile on its first call, which every thread
 * that checks a VIP range paid before its first answer or table.
 */
export function isIPv6Text(value: string): boolean {
  if (!value.includes(':')) return false;
  let end = value.indexOf('%');
  if (end >= 0) {
    if (end === value.length - 1) return false;
    for (let i = end + 1; i < value.length; i++) if (!isZone(value.charCodeAt(i))) return false;
  } else end = value.length;
  const text = end === value.length ? value : value.slice(0, end);
  const gap = text.indexOf('::');
  if (gap < 0) return groupUnits(text, true) === 8;
  if (text.indexOf('::', gap + 1) >= 0) return false;
  const head = gap === 0 ? 0 : groupUnits(text.slice(0, gap), false);
  const tail = gap + 2 === text.length ? 0 : groupUnits(text.slice(gap + 2), true);
  return head >= 0 && tail >= 0 && head + tail <= 7;
}

/** `address` must be a valid IPv4 or IPv6 address (checked once where it came in). */
export function isCheckedIPv6(address: string): boolean {
  return address.includes(':');
}

/** `192.0.2.0/24` or `2001:db8::/32`: an address and a prefix length that fits its family. */
export function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  if (slash < 0) return false;
  const family = ipFamily(value.slice(0, slash));
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
  const v4 = ipv4Value(ip);
  if (v4 >= 0) {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(v4);
    return out;
  }
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
