// Free ports on loopback for tests that start servers (ours, dnsmasq) on their own.
import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';

/**
 * Below Linux's ephemeral range (32768-60999 by default): a port the kernel picked for a listener in a
 * test can be taken by one of the many outgoing connections a test opens (to an API server, to a
 * controller) before the server under test binds it.
 */
const TEST_PORTS = { first: 20_000, count: 12_000 } as const;

/** A port free for both UDP and TCP on `address`, outside the ephemeral range, checked on both. */
export async function freePort(address: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const candidate = TEST_PORTS.first + Math.floor(Math.random() * TEST_PORTS.count);
    const udp = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    // Taken: try another.
    const port = await new Promise<number | undefined>((resolve) => {
      udp.once('error', () => {
        udp.close();
        resolve(undefined);
      });
      udp.bind(candidate, address, () => resolve(udp.address().port));
    });
    if (port === undefined) continue;
    const tcp = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, address, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${address}`);
}

/** A random loopback address that is not 127.0.0.1 (which a system resolver may hold). */
export function randomLoopback(): string {
  return `127.0.0.${2 + Math.floor(Math.random() * 249)}`;
}
