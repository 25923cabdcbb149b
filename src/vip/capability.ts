// `--vip-dataplane nat` writes iptables rules, which needs CAP_NET_ADMIN (capability 12). Read from the
// process's effective set, so a sidecar without it is refused at start, naming what to add.
import { readFileSync } from 'node:fs';
import { MeshdnsError } from '../errors.js';

const CAP_NET_ADMIN = 12n;

/** Whether the effective capability set (`/proc/self/status` CapEff) holds CAP_NET_ADMIN. */
export function hasNetAdmin(status = '/proc/self/status'): boolean {
  let text: string;
  try {
    text = readFileSync(status, 'utf8');
  } catch {
    return false;
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(text)?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}

export function requireNetAdmin(flag: string): void {
  if (hasNetAdmin()) return;
  throw new MeshdnsError(
    'MESHDNS_VIP_NAT',
    `${flag} nat: this process lacks the NET_ADMIN capability (CAP_NET_ADMIN), which writing the NAT rules ` +
      'needs: add NET_ADMIN to the container (securityContext.capabilities.add: [NET_ADMIN]) or run it with ' +
      'that capability, or use --vip-dataplane proxy, which needs none',
  );
}
