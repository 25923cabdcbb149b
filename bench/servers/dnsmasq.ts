// dnsmasq in the roles the scenarios need: a peer answering from hosts files (authoritatively, never
// forwarding), an upstream holding names for the forwarders, and a caching forwarder itself.
import { execFileSync } from 'node:child_process';
import { type ServerAddress, waitUntilAnswering } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { type DnsServer, START_DEADLINE_MS } from './server.js';

export interface DnsmasqOptions {
  /** Absolute path of the dnsmasq binary (it lives in /usr/sbin, often not on PATH). */
  bin: string;
  /** Name in the result table and in errors; default "dnsmasq". */
  label?: string;
  listen: ServerAddress;
  /** "IP NAME" lines; must be readable by `nobody`, as dnsmasq drops privileges before reading them. */
  hostsFiles?: string[];
  /** Domains answered only from local data (--local=/d/), so a miss is NXDOMAIN, not a forward. */
  localDomains?: string[];
  /** Forward what is not local to this server (--server): a caching forwarder. */
  upstream?: ServerAddress;
  /** --cache-size; dnsmasq's own default (150) when not given. */
  cacheSize?: number;
  /** --local-ttl: TTL of answers from the hosts files; dnsmasq's default (0) when not given. */
  localTtl?: number;
  probeName: string;
  cpu?: number;
}

export function dnsmasqArgs(opts: DnsmasqOptions): string[] {
  return [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    `--listen-address=${opts.listen.host}`,
    `--port=${opts.listen.port}`,
    ...(opts.hostsFiles ?? []).map((f) => `--addn-hosts=${f}`),
    ...(opts.localDomains ?? []).map((d) => `--local=/${d}/`),
    ...(opts.upstream ? [`--server=${opts.upstream.host}#${opts.upstream.port}`] : []),
    ...(opts.cacheSize === undefined ? [] : [`--cache-size=${opts.cacheSize}`]),
    ...(opts.localTtl === undefined ? [] : [`--local-ttl=${opts.localTtl}`]),
    // No pid file in /run, no DHCP, logs to stderr: a throwaway instance that touches nothing else.
    '--pid-file=',
    '--log-facility=-',
  ];
}

export async function startDnsmasq(group: ProcessGroup, opts: DnsmasqOptions): Promise<DnsServer> {
  const label = opts.label ?? 'dnsmasq';
  const proc = group.spawn(label, opts.bin, dnsmasqArgs(opts), { cpu: opts.cpu });
  await waitUntilAnswering(opts.listen, opts.probeName, proc, START_DEADLINE_MS);
  const banner = execFileSync(opts.bin, ['--version'], { encoding: 'utf8' });
  const version = /version (\S+)/.exec(banner)?.[1] ?? 'unknown';
  return { label, address: opts.listen, proc, version };
}
