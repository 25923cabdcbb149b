// dnsmasq as the peer: answers from a hosts file, authoritatively, and never forwards.
import { execFileSync } from 'node:child_process';
import { type ServerAddress, waitUntilAnswering } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { type DnsServer, START_DEADLINE_MS } from './server.js';

export interface DnsmasqOptions {
  /** Absolute path of the dnsmasq binary (it lives in /usr/sbin, often not on PATH). */
  bin: string;
  listen: ServerAddress;
  /** "IP NAME" lines; must be readable by `nobody`, as dnsmasq drops privileges before reading it. */
  hostsFile: string;
  /** Domains answered only from local data (--local=/d/), so a miss is NXDOMAIN, not a forward. */
  localDomains: string[];
  probeName: string;
  cpu?: number;
  cacheSize?: number;
  localTtl?: number;
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
    `--addn-hosts=${opts.hostsFile}`,
    ...opts.localDomains.map((d) => `--local=/${d}/`),
    `--cache-size=${opts.cacheSize ?? 10000}`,
    `--local-ttl=${opts.localTtl ?? 30}`,
    // No pid file in /run, no DHCP, logs to stderr: a throwaway instance that touches nothing else.
    '--pid-file=',
    '--log-facility=-',
  ];
}

export async function startDnsmasq(group: ProcessGroup, opts: DnsmasqOptions): Promise<DnsServer> {
  const proc = group.spawn('dnsmasq', opts.bin, dnsmasqArgs(opts), { cpu: opts.cpu });
  await waitUntilAnswering(opts.listen, opts.probeName, proc, START_DEADLINE_MS);
  const banner = execFileSync(opts.bin, ['--version'], { encoding: 'utf8' });
  const version = /version (\S+)/.exec(banner)?.[1] ?? 'unknown';
  return { label: 'dnsmasq', address: opts.listen, proc, version };
}
