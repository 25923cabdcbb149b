// Who may share a DNS port (issue 14 item 3). With SO_REUSEPORT the kernel lets any process of the same
// user that sets the option bind a port already held, and splits the clients between them: a second
// meshdns started on the port by mistake would silently take part of the queries. So each listener that
// shares its port leaves a claim — its pid and key (what it serves: serve's state file, an agent's
// workload) — and a new one binds a port already in use only when a running meshdns of the same key
// claims it: its predecessor, about to hand over. Otherwise the port is refused, as without sharing.
import { createSocket } from 'node:dgram';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCheckedIPv6 } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import { isRunning } from '../pid.js';

interface Claim {
  pid: number;
  key: string;
}

/** One folder per address and port, one file per process (no process ever rewrites another's). */
export function claimFolder(host: string, port: number, uid = process.getuid?.() ?? 0): string {
  return join(tmpdir(), `meshdns-${uid}`, `dns-${host.replaceAll(':', '_')}-${port}`);
}

/** Whether a socket without SO_REUSEPORT can bind host:port, UDP and TCP (then nobody holds it). */
async function portInUse(host: string, port: number): Promise<boolean> {
  const udp = createSocket(isCheckedIPv6(host) ? 'udp6' : 'udp4');
  const udpTaken = await new Promise<boolean>((resolve) => {
    udp.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    udp.bind({ address: host, port, exclusive: true }, () => resolve(false));
  });
  await new Promise<void>((resolve) => udp.close(() => resolve())).catch(() => undefined);
  if (udpTaken) return true;
  const tcp = net.createServer();
  const tcpTaken = await new Promise<boolean>((resolve) => {
    tcp.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    tcp.listen({ host, port, exclusive: true }, () => resolve(false));
  });
  if (tcp.listening) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  return tcpTaken;
}

/** The running processes that claim host:port. */
async function claims(host: string, port: number): Promise<Claim[]> {
  const folder = claimFolder(host, port);
  const names = await readdir(folder).catch(() => [] as string[]);
  const found: Claim[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    try {
      const c = JSON.parse(await readFile(join(folder, name), 'utf8')) as Claim;
      if (!Number.isInteger(c.pid) || typeof c.key !== 'string') continue;
      if (isRunning(c.pid)) found.push(c);
      // Left by a process killed before it could remove it.
      else await rm(join(folder, name), { force: true });
    } catch {
      // Half-written, or removed meanwhile: not a claim.
    }
  }
  return found;
}

/**
 * Before binding host:port shared under `key`: resolves with the predecessor's pid when a running
 * meshdns of the same key holds the port, undefined when the port is free; throws MESHDNS_LISTEN when
 * anything else holds it.
 */
export async function admitShare(host: string, port: number, key: string): Promise<number | undefined> {
  if (!(await portInUse(host, port))) return undefined;
  const held = await claims(host, port);
  const same = held.find((c) => c.key === key);
  if (same) return same.pid;
  const by =
    held.length > 0
      ? `another meshdns (pid ${held.map((c) => `${c.pid}, ${c.key}`).join('; pid ')})`
      : 'another program';
  throw new MeshdnsError(
    'MESHDNS_LISTEN',
    `cannot listen on ${host}:${port}: the port is in use by ${by}. meshdns shares its DNS port only with ` +
      `the process it replaces, one serving the same ${describeKey(key)}; stop the other or pick another port`,
  );
}

function describeKey(key: string): string {
  return key.replace(/^serve:/, 'state file ').replace(/^agent:/, 'workload ');
}

/** Claims written by this process (two servers of one process may share a port: tests, workers). */
let written = 0;

/** Marks host:port as held by this process under `key`; returns the claim's remover. */
export async function writeClaim(host: string, port: number, key: string): Promise<() => Promise<void>> {
  const folder = claimFolder(host, port);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const file = join(folder, `${process.pid}-${++written}.json`);
  // Whole or not at all: a reader never sees half a claim.
  const temp = `${file}.tmp`;
  await writeFile(temp, JSON.stringify({ pid: process.pid, key }), { mode: 0o600 });
  await rename(temp, file);
  return () => rm(file, { force: true });
}
