// The backends of the `vip` scenario, both in C so the proxies, not the backend, set the limit:
// `iperf3 -s` for bulk throughput and nginx answering a fixed 200 for the connection rate.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ServerAddress } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { waitUntilListening } from '../lib/tcp-probe.js';
import { START_DEADLINE_MS, type TcpServer } from './server.js';

export interface BackendOptions {
  bin: string;
  listen: ServerAddress;
  /** nginx: further addresses on the same port (the nat path's own, see scenarios/vip.ts). */
  alsoListen?: string[];
  workDir: string;
  cpu?: number;
}

/** What the nginx backend answers to every request. */
export const NGINX_BODY = 'ok\n';

export async function startIperf3Server(group: ProcessGroup, opts: BackendOptions): Promise<TcpServer> {
  // -i 0: no per-second reports, so the server spends its CPU on the data, not on printing.
  const args = ['-s', '-B', opts.listen.host, '-p', String(opts.listen.port), '-i', '0'];
  const proc = group.spawn('iperf3 -s', opts.bin, args, { cpu: opts.cpu });
  await waitUntilListening(opts.listen, proc, START_DEADLINE_MS);
  const banner = execFileSync(opts.bin, ['--version'], { encoding: 'utf8' });
  return {
    label: 'iperf3',
    address: opts.listen,
    proc,
    version: /iperf (\S+)/.exec(banner)?.[1] ?? 'unknown',
  };
}

/** One process (no master), no access log, everything it writes kept in `prefix`. */
export function nginxConfig(listen: ServerAddress, prefix: string, alsoListen: string[] = []): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
    (t) => `  ${t}_temp_path ${path.join(prefix, t)};`,
  );
  return [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${path.join(prefix, 'nginx.pid')};`,
    'error_log stderr warn;',
    'events { worker_connections 8192; }',
    'http {',
    '  access_log off;',
    ...temp,
    '  server {',
    ...[listen.host, ...alsoListen].map((host) => `    listen ${host}:${listen.port};`),
    `    location / { return 200 ${JSON.stringify(NGINX_BODY)}; }`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export async function startNginx(group: ProcessGroup, opts: BackendOptions): Promise<TcpServer> {
  const prefix = path.join(opts.workDir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const config = path.join(prefix, 'nginx.conf');
  writeFileSync(config, nginxConfig(opts.listen, prefix, opts.alsoListen));
  // -e stderr: not the system's /var/log/nginx/error.log, even before the config is read.
  const proc = group.spawn('nginx', opts.bin, ['-p', prefix, '-c', config, '-e', 'stderr'], {
    cpu: opts.cpu,
  });
  await waitUntilListening(opts.listen, proc, START_DEADLINE_MS);
  // nginx -v prints its version on stderr.
  const banner = spawnSync(opts.bin, ['-v'], { encoding: 'utf8' }).stderr;
  const version = /nginx\/(\S+)/.exec(banner)?.[1] ?? 'unknown';
  return { label: 'nginx', address: opts.listen, proc, version };
}
