// The DNS capture rules (SPEC §7), as Istio's istio-iptables installs them for DNS proxying:
// application traffic to port 53 (UDP and TCP) is redirected to the agent, the agent's own
// traffic (by uid/gid) is left alone so its upstream queries go out, and the two UDP legs get
// separate conntrack zones so the redirected flow and the agent's upstream flow never collide.
// Everything lives in chains of our own, so removing them removes exactly what we added.
import { isIPv4, isIPv6 } from 'node:net';
import { natRemovalArgv } from '../vip/nat-rules.js';

export interface CaptureOptions {
  agentPort: number;
  agentUid: number;
  agentGid?: number;
  /** Capture only DNS to these servers; empty = all DNS. */
  dnsServers: string[];
  /** VIP ranges routed to the local host, so the VIP proxy can bind them. */
  vipRanges: { v4: string; v6: string };
}

/** One command as argv; `ignoreFailure` for removals of things that may not exist. */
export interface Step {
  argv: string[];
  ignoreFailure?: boolean;
}

export const CHAINS = { nat: 'MESHDNS_DNS', rawOut: 'MESHDNS_CT_OUT', rawPre: 'MESHDNS_CT_PRE' } as const;

type Family = 'v4' | 'v6';
const TOOL: Record<Family, string> = { v4: 'iptables', v6: 'ip6tables' };

/** A jump from a built-in chain into ours, added once and removed on `--remove`. */
interface Jump {
  table: string;
  chain: string;
  match: string;
  target: string;
}

const JUMPS: Jump[] = [
  { table: 'nat', chain: 'OUTPUT', match: '-p udp --dport 53', target: CHAINS.nat },
  { table: 'nat', chain: 'OUTPUT', match: '-p tcp --dport 53', target: CHAINS.nat },
  { table: 'raw', chain: 'OUTPUT', match: '-p udp', target: CHAINS.rawOut },
  { table: 'raw', chain: 'PREROUTING', match: '-p udp', target: CHAINS.rawPre },
];

function iptables(family: Family, table: string, args: string, ignoreFailure = false): Step {
  return { argv: [TOOL[family], '-t', table, ...args.split(' ')], ignoreFailure };
}

/** Owner matches of the agent, as argument strings. */
function owners(o: CaptureOptions): string[] {
  const out = [`-m owner --uid-owner ${o.agentUid}`];
  if (o.agentGid !== undefined) out.push(`-m owner --gid-owner ${o.agentGid}`);
  return out;
}

/** Destination matches to capture for one family: `[]` means this family captures nothing. */
function destinations(o: CaptureOptions, family: Family): string[] {
  if (o.dnsServers.length === 0) return [''];
  return o.dnsServers.filter((s) => (family === 'v4' ? isIPv4(s) : isIPv6(s))).map((s) => `-d ${s} `);
}

function familySteps(o: CaptureOptions, family: Family): Step[] {
  const ipt = (table: string, args: string): Step => ({
    argv: [TOOL[family], '-t', table, ...args.split(' ')],
  });
  const port = o.agentPort;
  const dsts = destinations(o, family);
  const steps = [
    ipt('nat', `-N ${CHAINS.nat}`),
    ipt('raw', `-N ${CHAINS.rawOut}`),
    ipt('raw', `-N ${CHAINS.rawPre}`),
  ];
  // NAT: the agent's own DNS goes out untouched; everyone else's is redirected to the agent.
  for (const owner of owners(o)) steps.push(ipt('nat', `-A ${CHAINS.nat} ${owner} -j RETURN`));
  for (const proto of ['udp', 'tcp']) {
    for (const d of dsts)
      steps.push(ipt('nat', `-A ${CHAINS.nat} -p ${proto} ${d}--dport 53 -j REDIRECT --to-ports ${port}`));
  }
  // Conntrack zones (raw): zone 1 for the agent ↔ upstream leg, zone 2 for the app ↔ agent leg.
  // The first CT target to match decides a packet's zone; RETURN makes that explicit for the agent.
  for (const owner of owners(o)) {
    steps.push(
      ipt('raw', `-A ${CHAINS.rawOut} -p udp --dport 53 ${owner} -j CT --zone 1`),
      ipt('raw', `-A ${CHAINS.rawOut} -p udp --sport ${port} ${owner} -j CT --zone 2`),
      ipt('raw', `-A ${CHAINS.rawOut} ${owner} -j RETURN`),
    );
  }
  for (const d of dsts) steps.push(ipt('raw', `-A ${CHAINS.rawOut} -p udp ${d}--dport 53 -j CT --zone 2`));
  steps.push(ipt('raw', `-A ${CHAINS.rawPre} -p udp --sport 53 -j CT --zone 1`));
  for (const j of JUMPS) steps.push(ipt(j.table, `-A ${j.chain} ${j.match} -j ${j.target}`));
  return steps;
}

function familyRemoval(family: Family): Step[] {
  const ipt = (table: string, args: string) => iptables(family, table, args, true);
  const steps = JUMPS.map((j) => ipt(j.table, `-D ${j.chain} ${j.match} -j ${j.target}`));
  for (const [table, chain] of [
    ['nat', CHAINS.nat],
    ['raw', CHAINS.rawOut],
    ['raw', CHAINS.rawPre],
  ]) {
    steps.push(ipt(table, `-F ${chain}`), ipt(table, `-X ${chain}`));
  }
  return steps;
}

function routes(o: CaptureOptions, verb: 'replace' | 'del'): Step[] {
  return [
    { argv: ['ip', 'route', verb, 'local', o.vipRanges.v4, 'dev', 'lo'], ignoreFailure: verb === 'del' },
    {
      argv: ['ip', '-6', 'route', verb, 'local', o.vipRanges.v6, 'dev', 'lo'],
      ignoreFailure: verb === 'del',
    },
  ];
}

/** Steps that install the capture; run after `removalPlan` it is idempotent. */
export function capturePlan(o: CaptureOptions): Step[] {
  return [...familySteps(o, 'v4'), ...familySteps(o, 'v6'), ...routes(o, 'replace')];
}

/**
 * Steps that remove exactly what `capturePlan` installs, and the VIP NAT rules an agent with
 * `--vip-dataplane nat` left (a kill -9 runs no cleanup); each may find nothing to remove.
 */
export function removalPlan(o: CaptureOptions): Step[] {
  const nat = natRemovalArgv().map((argv): Step => ({ argv, ignoreFailure: true }));
  return [...familyRemoval('v4'), ...familyRemoval('v6'), ...nat, ...routes(o, 'del')];
}

/** A step as a shell line, for printing. */
export function shellLine(step: Step): string {
  return step.argv.map((a) => (/^[\w./:,=-]+$/.test(a) ? a : `'${a}'`)).join(' ');
}
