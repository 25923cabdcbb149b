// A datagram's source as netio.c records it: the raw sockaddr (what a reply is sent to, unchanged) and
// what JavaScript reads of it (family, port, and the address as text only when asked).

/** Bytes per address record, and where netio.c puts the family (4 or 6) and the sockaddr's length. */
export const ADDR_STRIDE = 32;
export const FAMILY_AT = 28;

/** sin_port and sin6_port are both at byte 2, in network order (Linux's <netinet/in.h>). */
export function portAt(addrs: Buffer, i: number): number {
  const at = i * ADDR_STRIDE;
  return (addrs[at + 2] << 8) | addrs[at + 3];
}

/**
 * The address as inet_ntop writes it (what node:dgram's rinfo.address holds), so allow lists and logs
 * see the same text on both I/O paths: dotted IPv4; IPv6 with the longest run of two or more zero
 * groups as `::` (RFC 5952 §4.2) and IPv4-mapped addresses as `::ffff:a.b.c.d`.
 */
export function addressAt(addrs: Buffer, i: number): string {
  const at = i * ADDR_STRIDE;
  if (addrs[at + FAMILY_AT] === 4) return dotted(addrs, at + 4);
  const groups: number[] = [];
  for (let g = 0; g < 8; g++) groups.push((addrs[at + 8 + 2 * g] << 8) | addrs[at + 9 + 2 * g]);
  if (groups.slice(0, 5).every((x) => x === 0) && groups[5] === 0xffff)
    return `::ffff:${dotted(addrs, at + 20)}`;
  let best = -1;
  let bestLen = 1;
  for (let g = 0; g < 8; ) {
    if (groups[g] !== 0) {
      g++;
      continue;
    }
    let end = g;
    while (end < 8 && groups[end] === 0) end++;
    if (end - g > bestLen) {
      best = g;
      bestLen = end - g;
    }
    g = end;
  }
  const hex = groups.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function dotted(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}
