// The NAT data plane's iptables rules (SPEC §6, `--vip-dataplane nat`), as kube-proxy writes a
// Service's: each VIP:port DNATs a new connection to one backend, picked with `statistic` random
// probabilities 1/n, 1/(n-1), …, 1 so every backend gets an equal share. Only a connection's first
// packet meets the nat table (conntrack keeps the choice), so an edit never moves an open connection.
// Everything lives in chains of our own: one iptables-restore --noflush per family replaces their
// whole content in one commit, and removing the chains removes exactly what we added.
import { isIPv6 } from 'node:net';

export const NAT_CHAINS = {
  /** nat OUTPUT → this: one DNAT rule per backend of each VIP:port. */
  dnat: 'MESHDNS_VIP',
  /** nat POSTROUTING → this: the source of a DNATed connection leaving the host is rewritten. */
  snat: 'MESHDNS_VIP_POST',
  /** filter OUTPUT → this: a VIP:port with no backend refuses, as the proxy resets. */
  reject: 'MESHDNS_VIP_REJECT',
} as const;

export type NatFamily = 'v4' | 'v6';
export const NAT_FAMILIES: readonly NatFamily[] = ['v4', 'v6'];
export const IPTABLES = {
  v4: { cmd: 'iptables', restore: 'iptables-restore' },
  v6: { cmd: 'ip6tables', restore: 'ip6tables-restore' },
} as const;

/** One VIP:port with its backends of the VIP's family; none: the connection is refused. */
export interface NatEntry {
  vip: string;
  port: number;
  host: string;
  backends: { address: string; port: number }[];
}

/** A jump from a built-in chain into ours: added once (checked with -C), removed on exit. */
export interface NatJump {
  table: 'nat' | 'filter';
  chain: string;
  match: string[];
  target: string;
}

export const NAT_JUMPS: readonly NatJump[] = [
  { table: 'nat', chain: 'OUTPUT', match: ['-p', 'tcp'], target: NAT_CHAINS.dnat },
  { table: 'nat', chain: 'POSTROUTING', match: ['-p', 'tcp'], target: NAT_CHAINS.snat },
  // Only a connection's first packet: bulk traffic never walks this chain.
  {
    table: 'filter',
    chain: 'OUTPUT',
    match: ['-p', 'tcp', '-m', 'conntrack', '--ctstate', 'NEW'],
    target: NAT_CHAINS.reject,
  },
];

export function familyOf(address: string): NatFamily {
  return isIPv6(address) ? 'v6' : 'v4';
}

function hostMask(family: NatFamily): string {
  return family === 'v4' ? '/32' : '/128';
}

function endpoint(b: { address: string; port: number }): string {
  return isIPv6(b.address) ? `[${b.address}]:${b.port}` : `${b.address}:${b.port}`;
}

/** kube-proxy's form: ten decimals, enough that n backends share evenly. */
function probability(i: number, n: number): string {
  return (1 / (n - i)).toFixed(10);
}

/** The iptables-restore input that makes our chains of one family hold exactly `entries`. */
export function restoreInput(entries: readonly NatEntry[], family: NatFamily): string {
  const mine = entries.filter((e) => familyOf(e.vip) === family);
  const dnat: string[] = [];
  const snat: string[] = [];
  const reject: string[] = [];
  const masqueraded = new Set<string>();
  for (const e of mine) {
    const match = `-d ${e.vip}${hostMask(family)} -p tcp -m tcp --dport ${e.port} -m comment --comment "${e.host}"`;
    if (e.backends.length === 0) {
      reject.push(`-A ${NAT_CHAINS.reject} ${match} -j REJECT --reject-with tcp-reset`);
      continue;
    }
    e.backends.forEach((b, i) => {
      const last = i === e.backends.length - 1;
      const pick = last
        ? ''
        : ` -m statistic --mode random --probability ${probability(i, e.backends.length)}`;
      dnat.push(`-A ${NAT_CHAINS.dnat} ${match}${pick} -j DNAT --to-destination ${endpoint(b)}`);
    });
    // The kernel chose the VIP itself as the source (its route is `local`): a backend elsewhere could not
    // answer it. Loopback backends need no rewrite (and MASQUERADE finds no address on lo).
    if (!masqueraded.has(e.vip)) {
      masqueraded.add(e.vip);
      snat.push(
        `-A ${NAT_CHAINS.snat} ! -o lo -m conntrack --ctstate DNAT --ctorigdst ${e.vip}${hostMask(family)} -j MASQUERADE`,
      );
    }
  }
  // Under --noflush, declaring a chain empties it; the rest of the table is left as it is.
  return [
    '*nat',
    `:${NAT_CHAINS.dnat} - [0:0]`,
    `:${NAT_CHAINS.snat} - [0:0]`,
    ...dnat,
    ...snat,
    'COMMIT',
    '*filter',
    `:${NAT_CHAINS.reject} - [0:0]`,
    ...reject,
    'COMMIT',
    '',
  ].join('\n');
}

/** argv of one jump: `-C` checks it, `-I … 1` puts it first, `-D` removes it. */
export function jumpArgv(family: NatFamily, jump: NatJump, verb: '-C' | '-I' | '-D'): string[] {
  const at = verb === '-I' ? [jump.chain, '1'] : [jump.chain];
  return [IPTABLES[family].cmd, '-w', '-t', jump.table, verb, ...at, ...jump.match, '-j', jump.target];
}

/** Commands that remove every rule and chain of the NAT data plane; each may find nothing to remove. */
export function natRemovalArgv(): string[][] {
  const out: string[][] = [];
  for (const family of NAT_FAMILIES) {
    for (const jump of NAT_JUMPS) out.push(jumpArgv(family, jump, '-D'));
    for (const [table, chain] of [
      ['nat', NAT_CHAINS.dnat],
      ['nat', NAT_CHAINS.snat],
      ['filter', NAT_CHAINS.reject],
    ]) {
      const cmd = IPTABLES[family].cmd;
      out.push([cmd, '-w', '-t', table, '-F', chain], [cmd, '-w', '-t', table, '-X', chain]);
    }
  }
  return out;
}
