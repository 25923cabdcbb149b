// dnsdist with its packet cache in front of the cache scenario's upstream: the peer for cache hits
// (issue 12 item 6). A throwaway instance from a generated config, no console, no security polling.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ServerAddress, waitUntilAnswering } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { type DnsServer, START_DEADLINE_MS } from './server.js';

export interface DnsdistOptions {
  bin: string;
  listen: ServerAddress;
  upstream: ServerAddress;
  /** Its config file goes here. */
  workDir: string;
  /** Packet cache entries. */
  cacheSize: number;
  /** Also the name its health check asks the upstream (one the upstream holds). */
  probeName: string;
  cpu?: number;
}

export async function startDnsdistCache(group: ProcessGroup, opts: DnsdistOptions): Promise<DnsServer> {
  const file = path.join(opts.workDir, `dnsdist-${opts.listen.host}-${opts.listen.port}.conf`);
  const lua = [
    `setLocal("${opts.listen.host}:${opts.listen.port}")`,
    'setSecurityPollSuffix("")',
    `newServer({address="${opts.upstream.host}:${opts.upstream.port}", checkName="${opts.probeName}."})`,
    `getPool(""):setCache(newPacketCache(${opts.cacheSize}, {maxTTL=86400}))`,
    '',
  ].join('\n');
  await writeFile(file, lua);
  const proc = group.spawn('dnsdist', opts.bin, ['--supervised', '--disable-syslog', '-C', file], {
    cpu: opts.cpu,
  });
  await waitUntilAnswering(opts.listen, opts.probeName, proc, START_DEADLINE_MS);
  const banner = execFileSync(opts.bin, ['--version'], { encoding: 'utf8' });
  const version = /dnsdist (\S+)/.exec(banner)?.[1] ?? 'unknown';
  return { label: 'dnsdist', address: opts.listen, proc, version };
}
