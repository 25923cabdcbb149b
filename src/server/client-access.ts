// Who may query a DNS listener (SPEC §10): a loopback listener serves its host; any other address
// needs an allow list, or the server would be an open resolver that answers and forwards for anyone.
import { BlockList, isIP, isIPv4 } from 'node:net';
import { isIPv6Text } from '../dns/index.js';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (isIPv4(h)) return h.startsWith('127.');
  if (!isIPv6Text(h)) return false;
  return h === '::1' || h === '0:0:0:0:0:0:0:1' || h.startsWith('::ffff:127.');
}

/** "10.0.0.0/8", "fd00::/8", or one address ("192.0.2.7" = /32); a string says what is wrong. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0)
    return `"${address}" is not an IP address (expected a CIDR such as 10.0.0.0/8 or fd00::/8)`;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
    return `prefix length "${prefixText}" must be a whole number 0-${max} for IPv${version}`;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The clients a listener answers (`--allow-from`); the others get REFUSED. */
export class ClientAllowList {
  readonly cidrs: readonly Cidr[];
  private readonly list = new BlockList();

  constructor(cidrs: Cidr[]) {
    this.cidrs = cidrs;
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
  }

  /** A client's address as the socket reports it; IPv4-mapped IPv6 (a dual-stack `::` listener) matches IPv4 CIDRs. */
  allows(address: string): boolean {
    return this.list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  }

  toString(): string {
    return this.cidrs.map((c) => `${c.address}/${c.prefix}`).join(' ');
  }
}
