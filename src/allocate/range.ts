// VIP ranges and addresses as numbers: allocation walks a range in order, so addresses are
// bigints inside and strings (IPv6 in its RFC 5952 form) at the edges.
import { ipFamily, ipToBytes, ipv4Value, isCidr } from '../dns/index.js';

export type Family = 4 | 6;

export interface VipRange {
  family: Family;
  /** As given, e.g. `240.240.0.0/16`. */
  cidr: string;
  /** First and last address handed out: the network address (and IPv4's broadcast) are skipped. */
  first: bigint;
  last: bigint;
}

export interface VipRanges {
  v4: VipRange;
  v6: VipRange;
}

/** An inclusive block of addresses, e.g. a CIDR written in `spec.addresses`. */
export interface AddressBlock {
  family: Family;
  start: bigint;
  end: bigint;
}

export function familyOf(address: string): Family | undefined {
  const f = ipFamily(address);
  return f === 0 ? undefined : f;
}

export function ipToBigInt(address: string): bigint {
  // IPv4 in plain numbers: allocation parses every kept address on every rebuild.
  const v4 = ipv4Value(address);
  if (v4 >= 0) return BigInt(v4);
  // One BigInt from hex rather than sixteen shifts: allocation parses every kept IPv6 address too.
  return BigInt(`0x${ipToBytes(address).toString('hex')}`);
}

export function bigIntToIp(value: bigint, family: Family): string {
  if (family === 4) {
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  // One conversion to hex rather than eight BigInt shifts: allocation formats every address it gives.
  // Each group is its four hex digits without leading zeros ("0" for a zero group).
  const digits = value.toString(16).padStart(32, '0');
  const hex: string[] = [];
  for (let at = 0; at < 32; at += 4) {
    let j = at;
    while (j < at + 3 && digits.charCodeAt(j) === 48) j++;
    hex.push(digits.slice(j, at + 4));
  }
  // RFC 5952 §4.2: the longest run of two or more zero groups (the first of equals) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && hex[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The addresses of a CIDR (`10.0.0.0/8`), or of one address. */
export function blockOf(text: string): AddressBlock | undefined {
  const [addr, prefixText] = text.split('/');
  const family = familyOf(addr!);
  if (family === undefined || (prefixText !== undefined && !isCidr(text))) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  const hostBits = BigInt(bits - prefix);
  const start = (ipToBigInt(addr!) >> hostBits) << hostBits;
  return { family, start, end: start + (1n << hostBits) - 1n };
}

/**
 * A VIP range flag value. IPv4 needs room for one address besides network and broadcast (/30 at
 * most); IPv6 has no broadcast, so /127 still leaves one. Returns why not, as a string, on error.
 */
export function parseVipRange(text: string, family: Family): VipRange | string {
  const block = blockOf(text);
  if (!block || !text.includes('/'))
    return `not a CIDR such as ${family === 4 ? '240.240.0.0/16' : '2001:2::/48'}`;
  if (block.family !== family) return `not an IPv${family} range`;
  const last = family === 4 ? block.end - 1n : block.end;
  if (last < block.start + 1n) return `too small: no address left besides the network address`;
  return { family, cidr: text, first: block.start + 1n, last };
}

/** Ranges from validated defaults; throws on a bad one (a programming error, not user input). */
export function vipRanges(v4: string, v6: string): VipRanges {
  const r4 = parseVipRange(v4, 4);
  const r6 = parseVipRange(v6, 6);
  if (typeof r4 === 'string' || typeof r6 === 'string') throw new Error(`bad VIP ranges ${v4} ${v6}`);
  return { v4: r4, v6: r6 };
}
