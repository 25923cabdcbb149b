// Checks on TCP servers before measuring them: listening yet (without connecting, which iperf3
// would count as a failed test), and one HTTP exchange to see every path reaches the same backend.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { ServerAddress } from './dns-probe.js';
import type { BenchProcess } from './processes.js';

const POLL_INTERVAL_MS = 50;
/** /proc/net/tcp state of a listening socket (include/net/tcp_states.h TCP_LISTEN). */
const TCP_LISTEN = '0A';

/** "127.0.0.41", 8080 → "2900007F:1F90": /proc/net/tcp prints the address as a host-order (little-endian) word. */
function procNetKey({ host, port }: ServerAddress): string {
  const hex = host
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join('');
  return `${hex}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
}

export function isListening(address: ServerAddress): boolean {
  const key = procNetKey(address);
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  return lines.some((line) => {
    const [, local, , state] = line.trim().split(/\s+/);
    return local === key && state === TCP_LISTEN;
  });
}

/** Resolves once a socket listens on `address`; rejects if `proc` exits or the deadline passes. */
export async function waitUntilListening(
  address: ServerAddress,
  proc: BenchProcess,
  deadlineMs: number,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!isListening(address)) {
    if (!proc.running) throw new Error(`${proc.label} exited before listening:\n${proc.stderr}`);
    if (Date.now() > end)
      throw new Error(`${proc.label} not listening on ${address.host}:${address.port}:\n${proc.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** One `GET /` with `Connection: close`; resolves to everything the server sent. */
export function httpGet(address: ServerAddress, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address.host, port: address.port });
    let got = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    socket.on('connect', () =>
      socket.write(`GET / HTTP/1.1\r\nHost: ${address.host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (d) => {
      got += d;
    });
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}
