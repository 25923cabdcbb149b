// Free ports on loopback for tests that start servers (ours, dnsmasq) on their own.
import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';

/** A port free for both UDP and TCP on `address` (the kernel's ephemeral choice, checked on both). */
export async function freePort(address: string): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', (err) => {
        udp.close();
        reject(err);
      });
      udp.bind(0, address, () => resolve(udp.address().port));
    });
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
