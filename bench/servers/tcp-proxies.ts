// The two TCP proxies of the `vip` scenario: meshdns' VipProxy (through vip-proxy-runner) and haproxy
// in TCP mode with one thread, as close to each other as their settings allow.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NAT_CHAINS } from '../../src/vip/index.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import type { BenchProcess, ProcessGroup } from '../lib/processes.js';
import { waitUntilListening } from '../lib/tcp-probe.js';
import { meshdnsVersion, REPO_ROOT } from './meshdns.js';
import { PROXY_TIMEOUTS, START_DEADLINE_MS, type TcpServer } from './server.js';

export interface ProxyOptions {
  listen: ServerAddress;
  backend: ServerAddress;
  cpu?: number;
}

const RUNNER = fileURLToPath(new URL('./vip-proxy-runner.js', import.meta.url));

/** Nothing listens on a NAT VIP: it is ready once its DNAT rule is in (a probe connection would count in iperf3). */
async function waitForNatRule(listen: ServerAddress, proc: BenchProcess): Promise<void> {
  const end = Date.now() + START_DEADLINE_MS;
  const rule = `-d ${listen.host}/32 -p tcp -m tcp --dport ${listen.port} `;
  for (;;) {
    let rules = '';
    try {
      rules = execFileSync('iptables', ['-w', '-t', 'nat', '-S', NAT_CHAINS.dnat], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch {
      // The chain is not there yet.
    }
    if (rules.includes(rule)) return;
    if (!proc.running) throw new Error(`${proc.label} exited before its NAT rule was in:\n${proc.stderr}`);
    if (Date.now() > end)
      throw new Error(`${proc.label}: no NAT rule for ${listen.host}:${listen.port}:\n${proc.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** meshdns' VIP data plane: `proxy` (user space) or `nat` (kernel DNAT rules; root only). */
export async function startVipProxy(
  group: ProcessGroup,
  opts: ProxyOptions & { nodeFlags?: string[]; dataplane: 'proxy' | 'nat'; relay?: 'native' | 'node' },
): Promise<TcpServer> {
  const args = [
    ...(opts.nodeFlags ?? []),
    RUNNER,
    `${opts.listen.host}:${opts.listen.port}`,
    `${opts.backend.host}:${opts.backend.port}`,
    ...(opts.dataplane === 'nat' ? ['--nat'] : []),
    ...(opts.relay ? ['--relay', opts.relay] : []),
  ];
  const label = `meshdns ${opts.dataplane}`;
  const proc = group.spawn(label, process.execPath, args, { cpu: opts.cpu, cwd: REPO_ROOT });
  if (opts.dataplane === 'nat') await waitForNatRule(opts.listen, proc);
  else await waitUntilListening(opts.listen, proc, START_DEADLINE_MS);
  return { label, address: opts.listen, proc, version: meshdnsVersion() };
}

/**
 * One thread like Node's event loop; no splicing (off by default), so both copy through user
 * space; no logging; the timeouts of the VIP proxy runner.
 */
export function haproxyConfig(opts: ProxyOptions): string {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 4096',
    'defaults',
    '  mode tcp',
    `  timeout connect ${PROXY_TIMEOUTS.connectTimeoutMs}ms`,
    `  timeout client ${PROXY_TIMEOUTS.idleTimeoutMs}ms`,
    `  timeout server ${PROXY_TIMEOUTS.idleTimeoutMs}ms`,
    'frontend vip',
    `  bind ${opts.listen.host}:${opts.listen.port}`,
    '  default_backend backend',
    'backend backend',
    `  server backend ${opts.backend.host}:${opts.backend.port}`,
    '',
  ].join('\n');
}

export async function startHaproxy(
  group: ProcessGroup,
  opts: ProxyOptions & { bin: string; workDir: string },
): Promise<TcpServer> {
  const config = path.join(opts.workDir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(opts));
  // -db: foreground, no daemon, no pid file; a throwaway instance beside any system one.
  const proc = group.spawn('haproxy', opts.bin, ['-db', '-f', config], { cpu: opts.cpu });
  await waitUntilListening(opts.listen, proc, START_DEADLINE_MS);
  const banner = execFileSync(opts.bin, ['-v'], { encoding: 'utf8' });
  const version = /version (\S+)/.exec(banner)?.[1] ?? 'unknown';
  return { label: 'haproxy', address: opts.listen, proc, version };
}
