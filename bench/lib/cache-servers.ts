// The servers of the cache scenarios: meshdns (`serve`, from this checkout), dnsmasq as the upstream
// and as a caching forwarder, unbound as a caching forwarder and as a cluster-DNS stand-in.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { presentMessage } from '../../src/dns/index.js';
import { askServer, buildQuery } from '../../src/upstream/index.js';
import type { Address } from './cache-dnsperf.js';
import type { Proc, Spawner } from './cache-harness.js';

/** dist/bench/lib → the checkout. */
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));
const START_DEADLINE_MS = 20_000;

/** Polls with an A query for `name` until any answer comes, the process exits or time runs out. */
export async function waitAnswering(address: Address, name: string, proc: Proc): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${proc.label} exited:\n${proc.stderr}`);
    const reply = await askServer(address, buildQuery(name, 1, 0x2a2a), { timeoutMs: 200 });
    if (typeof reply !== 'string') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.label} not answering on ${address.host}:${address.port}:\n${proc.stderr}`);
}

/** Throws unless `address` answers each name with exactly its address: contenders must do the same work. */
export async function expectAddresses(
  address: Address,
  label: string,
  want: [string, string][],
): Promise<void> {
  for (const [name, ip] of want) {
    const reply = await askServer(address, buildQuery(name, 1, 0x2b2b), { timeoutMs: 2000 });
    const got =
      typeof reply === 'string'
        ? reply
        : presentMessage(reply)
            .answers.map((a) => a.data)
            .join(',');
    if (got !== ip) throw new Error(`${label} answers ${name} with "${got}", expected ${ip}`);
  }
}

export interface MeshdnsServe {
  manifestsDir: string;
  listen: Address;
  upstream: Address;
  search: string[];
  extraArgs?: string[];
  cpu?: number;
  probeName: string;
  label?: string;
}

export async function startMeshdns(
  group: Spawner,
  o: MeshdnsServe,
): Promise<{ address: Address; proc: Proc }> {
  const args = [
    path.join(CHECKOUT, 'bin', 'meshdns'),
    'serve',
    ...['--manifests', o.manifestsDir, '--dns-listen', `${o.listen.host}:${o.listen.port}`],
    ...['--upstream', `${o.upstream.host}:${o.upstream.port}`, '--upstream-timeout', '2000'],
    ...o.search.flatMap((d) => ['--search', d]),
    ...['--admin-listen', '127.0.0.1:0', '--log-level', 'warn'],
    ...(o.extraArgs ?? []),
  ];
  const proc = group.spawn(o.label ?? 'meshdns', process.execPath, args, { cpu: o.cpu, cwd: CHECKOUT });
  await waitAnswering(o.listen, o.probeName, proc);
  return { address: o.listen, proc };
}

const DNSMASQ_BASE = [
  '--keep-in-foreground',
  '--conf-file=/dev/null',
  '--no-resolv',
  '--no-hosts',
  '--bind-interfaces',
  '--pid-file=',
  '--log-facility=-',
];
/** A throwaway dnsmasq on `listen` with `args` on top of the common ones (no pid file, logs to stderr). */
async function startDnsmasq(
  group: Spawner,
  bin: string,
  label: string,
  o: { listen: Address; cpu?: number; probeName: string },
  args: string[],
): Promise<{ address: Address; proc: Proc }> {
  const all = [
    ...DNSMASQ_BASE,
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    `--listen-address=${o.listen.host}`,
    `--port=${o.listen.port}`,
    ...args,
  ];
  const proc = group.spawn(label, bin, all, { cpu: o.cpu });
  await waitAnswering(o.listen, o.probeName, proc);
  return { address: o.listen, proc };
}

/** dnsmasq answering `zones` from hosts files with TTL `ttl`: the upstream every forwarder asks. */
export function startDnsmasqUpstream(
  group: Spawner,
  bin: string,
  o: { listen: Address; hostsFiles: string[]; zones: string[]; ttl: number; cpu?: number; probeName: string },
): Promise<{ address: Address; proc: Proc }> {
  return startDnsmasq(group, bin, 'dnsmasq-upstream', o, [
    ...o.hostsFiles.map((f) => `--addn-hosts=${f}`),
    `--local-ttl=${o.ttl}`,
    ...o.zones.map((z) => `--local=/${z}/`),
  ]);
}

/** dnsmasq as a caching forwarder in front of `upstream`. */
export function startDnsmasqForwarder(
  group: Spawner,
  bin: string,
  o: { listen: Address; upstream: Address; cacheSize: number; cpu?: number; probeName: string },
): Promise<{ address: Address; proc: Proc }> {
  return startDnsmasq(group, bin, 'dnsmasq', o, [
    `--server=${o.upstream.host}#${o.upstream.port}`,
    `--cache-size=${o.cacheSize}`,
  ]);
}

function unboundConf(dir: string, listen: Address, body: string[]): string {
  return [
    'server:',
    `  interface: ${listen.host}`,
    `  port: ${listen.port}`,
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 0',
    '  num-threads: 1',
    '  do-ip6: no',
    '  access-control: 127.0.0.0/8 allow',
    '  do-not-query-localhost: no',
    '  module-config: "iterator"',
    '  qname-minimisation: no',
    '  msg-cache-size: 32m',
    '  rrset-cache-size: 64m',
    ...body,
    '',
  ].join('\n');
}

async function startUnbound(
  group: Spawner,
  bin: string,
  label: string,
  o: { listen: Address; workDir: string; cpu?: number; probeName: string },
  body: string[],
): Promise<{ address: Address; proc: Proc }> {
  const file = path.join(o.workDir, `${label}-${o.listen.host}-${o.listen.port}.conf`);
  await writeFile(file, unboundConf(o.workDir, o.listen, body));
  const proc = group.spawn(label, bin, ['-d', '-c', file], { cpu: o.cpu });
  await waitAnswering(o.listen, o.probeName, proc);
  return { address: o.listen, proc };
}

/** unbound as a caching forwarder (prefetch on, as meshdns) in front of `upstream`. */
export function startUnboundForwarder(
  group: Spawner,
  bin: string,
  o: { listen: Address; upstream: Address; workDir: string; cpu?: number; probeName: string },
): Promise<{ address: Address; proc: Proc }> {
  return startUnbound(group, bin, 'unbound', o, [
    '  prefetch: yes',
    // unbound answers the RFC 6761 names (test., invalid.) itself unless told not to.
    '  local-zone: "test." nodefault',
    'forward-zone:',
    '  name: "."',
    `  forward-addr: ${o.upstream.host}@${o.upstream.port}`,
  ]);
}

export interface Zone {
  /** e.g. "cluster.local" */
  name: string;
  /** SOA MINIMUM: how long negative answers may be cached (RFC 2308). */
  negativeTtl: number;
  ttl: number;
  records: [name: string, address: string][];
}

/** unbound answering static zones with an SOA in negative answers, as cluster DNS (CoreDNS) does. */
export function startUnboundZones(
  group: Spawner,
  bin: string,
  o: { listen: Address; workDir: string; cpu?: number; probeName: string; zones: Zone[] },
): Promise<{ address: Address; proc: Proc }> {
  const lines = o.zones.flatMap((z) => [
    `  local-zone: "${z.name}." static`,
    `  local-data: "${z.name}. ${z.ttl} IN SOA ns.${z.name}. hostmaster.${z.name}. 1 7200 1800 86400 ${z.negativeTtl}"`,
    ...z.records.map(([n, a]) => `  local-data: "${n}. ${z.ttl} IN A ${a}"`),
  ]);
  return startUnbound(group, bin, 'cluster-dns', o, lines);
}
