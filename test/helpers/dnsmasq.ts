// A real dnsmasq on a loopback address for tests (DESIGN.md "Real parts in tests").
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, randomLoopback } from './ports.js';

export { freePort, randomLoopback };

export interface DnsmasqOptions {
  /** Loopback address to listen on (`::1` works too); default a random one in 127.0.0.2–127.0.0.250. */
  address?: string;
  /** Port; default a free one found by binding UDP and TCP. */
  port?: number;
  /** name → addresses (v4 or v6), served from an addn-hosts file. */
  hosts?: Record<string, string[]>;
  /** Extra dnsmasq config lines, e.g. `txt-record=big.test,...`; each becomes `--<line>`. */
  records?: string[];
  /** Raw extra arguments. */
  extra?: string[];
  /** Domain answered locally: unknown names under it get a real NXDOMAIN. Default `test`. */
  domain?: string;
}

export interface Dnsmasq {
  address: string;
  port: number;
  stop(): Promise<void>;
}

export const DNSMASQ_MISSING = 'dnsmasq not installed: apt-get install dnsmasq-base';

const SEARCH_PATH = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const READY_TIMEOUT_MS = 5000;
const START_TRIES = 5;
const running = new Set<ChildProcess>();

/** Path of the dnsmasq binary, or null when it is not installed. */
export function dnsmasqPath(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...SEARCH_PATH];
  for (const dir of dirs) {
    if (dir === '') continue;
    const file = join(dir, 'dnsmasq');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return null;
}

export async function startDnsmasq(opts: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const binary = dnsmasqPath();
  if (!binary) throw new Error(DNSMASQ_MISSING);
  const address = opts.address ?? randomLoopback();
  const dir = await mkdtemp(join(tmpdir(), 'meshdns-dnsmasq-'));
  // dnsmasq may drop to "nobody" before reading the hosts file.
  await chmod(dir, 0o755);
  const hostsFile = join(dir, 'hosts');
  const lines = Object.entries(opts.hosts ?? {}).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`));
  await writeFile(hostsFile, `${lines.join('\n')}\n`, { mode: 0o644 });

  let lastError: Error | undefined;
  for (let i = 0; i < START_TRIES; i++) {
    const port = opts.port ?? (await freePort(address));
    try {
      const child = await launch(
        binary,
        dnsmasqArgs(opts, address, port, hostsFile),
        address,
        port,
        opts.domain,
      );
      return {
        address,
        port,
        stop: async () => {
          await kill(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err as Error;
      // Another process may have taken the port between the probe and dnsmasq's bind: try another.
      if (opts.port !== undefined) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError ?? new Error('dnsmasq did not start');
}

/** dnsmasq's command line for a test upstream (also for one started inside a network namespace). */
export function dnsmasqArgs(
  opts: DnsmasqOptions,
  address: string,
  port: number,
  hostsFile: string,
): string[] {
  const domain = opts.domain ?? 'test';
  return [
    '-k',
    '-C',
    '/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    `--listen-address=${address}`,
    '-p',
    String(port),
    `--addn-hosts=${hostsFile}`,
    // Names under the local domain that dnsmasq does not know get NXDOMAIN instead of REFUSED.
    `--local=/${domain}/`,
    '--pid-file',
    '--log-facility=-',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ...(opts.records ?? []).map((line) => `--${line}`),
    ...(opts.extra ?? []),
  ];
}

/** Spawns dnsmasq and resolves once it answers a query; rejects with its output if it exits or stalls. */
async function launch(
  binary: string,
  args: string[],
  address: string,
  port: number,
  domain = 'test',
): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });
  child.once('error', (err) => {
    output += String(err);
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await answers(address, port, `meshdns-ready.${domain}`)) return child;
  }
  await kill(child);
  throw new Error(`dnsmasq ${args.join(' ')} did not start on ${address}:${port}:\n${output}`);
}

/** Sends one A query and waits briefly for any reply. */
function answers(address: string, port: number, name: string): Promise<boolean> {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const query = Buffer.concat([
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 100);
    socket.on('error', () => {
      // ECONNREFUSED until dnsmasq binds; let the timer end this probe so polling is paced.
    });
    socket.on('message', () => done(true));
    socket.send(query, port, address);
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

// A test that fails before stop() must not leave a dnsmasq behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
