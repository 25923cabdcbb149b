// unbound in two roles: a caching forwarder (the cache scenario's peer, prefetch on like meshdns) and
// a cluster DNS stand-in answering static zones with an SOA in negative answers, as CoreDNS does.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ServerAddress, waitUntilAnswering } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { type DnsServer, START_DEADLINE_MS } from './server.js';

export interface UnboundOptions {
  bin: string;
  listen: ServerAddress;
  /** Its config file goes here (unbound's `directory`). */
  workDir: string;
  probeName: string;
  cpu?: number;
}

/** One thread, no daemon, chroot, pid file or syslog: a throwaway instance beside any system one. */
function unboundConf(opts: UnboundOptions, body: string[]): string {
  return [
    'server:',
    `  interface: ${opts.listen.host}`,
    `  port: ${opts.listen.port}`,
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${opts.workDir}"`,
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
  group: ProcessGroup,
  label: string,
  opts: UnboundOptions,
  body: string[],
): Promise<DnsServer> {
  const file = path.join(opts.workDir, `${label}-${opts.listen.host}-${opts.listen.port}.conf`);
  await writeFile(file, unboundConf(opts, body));
  const proc = group.spawn(label, opts.bin, ['-d', '-c', file], { cpu: opts.cpu });
  await waitUntilAnswering(opts.listen, opts.probeName, proc, START_DEADLINE_MS);
  const banner = execFileSync(opts.bin, ['-V'], { encoding: 'utf8' });
  const version = /Version (\S+)/.exec(banner)?.[1] ?? 'unknown';
  return { label, address: opts.listen, proc, version };
}

/** unbound as a caching forwarder (prefetch on, as meshdns) in front of `upstream`. */
export function startUnboundForwarder(
  group: ProcessGroup,
  opts: UnboundOptions & { upstream: ServerAddress },
): Promise<DnsServer> {
  return startUnbound(group, 'unbound', opts, [
    '  prefetch: yes',
    // unbound answers the RFC 6761 names (test., invalid.) itself unless told not to.
    '  local-zone: "test." nodefault',
    'forward-zone:',
    '  name: "."',
    `  forward-addr: ${opts.upstream.host}@${opts.upstream.port}`,
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
  group: ProcessGroup,
  opts: UnboundOptions & { zones: Zone[] },
): Promise<DnsServer> {
  const lines = opts.zones.flatMap((z) => [
    `  local-zone: "${z.name}." static`,
    `  local-data: "${z.name}. ${z.ttl} IN SOA ns.${z.name}. hostmaster.${z.name}. 1 7200 1800 86400 ${z.negativeTtl}"`,
    ...z.records.map(([n, a]) => `  local-data: "${n}. ${z.ttl} IN A ${a}"`),
  ]);
  return startUnbound(group, 'cluster-dns', opts, lines);
}
