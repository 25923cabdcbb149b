// Free loopback ports: a DNS server needs the same port free on UDP and on TCP; a TCP proxy, TCP only.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const ATTEMPTS = 20;

function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', reject);
    socket.bind(port, host, () => resolve(socket));
  });
}

function bindTcp(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** A port free on both UDP and TCP at `host` (a loopback address); released before returning. */
export async function freeDnsPort(host: string): Promise<number> {
  if (!host.startsWith('127.') && host !== '::1') throw new Error(`${host} is not a loopback address`);
  for (let i = 0; i < ATTEMPTS; i++) {
    const udp = await bindUdp(host, 0);
    const port = udp.address().port;
    try {
      const tcp = await bindTcp(host, port);
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    } catch {
      // Taken on TCP: try another.
    } finally {
      udp.close();
    }
  }
  throw new Error(`no port free on both UDP and TCP at ${host} after ${ATTEMPTS} attempts`);
}

/** The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range), 32768 by default. */
function ephemeralLow(): number {
  try {
    return (
      Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768
    );
  } catch {
    return 32768;
  }
}

/**
 * A port free on UDP and TCP at `host`, below the ephemeral range: for a server stopped and started again
 * on the same port, which any client socket could otherwise be given (port 0) while the server is down.
 */
export async function freeDnsPortOutsideEphemeral(host: string): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = 10_000 + Math.floor(Math.random() * (high - 10_000));
    try {
      const udp = await bindUdp(host, port);
      try {
        const tcp = await bindTcp(host, port);
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        return port;
      } finally {
        udp.close();
      }
    } catch {
      // Taken: try another.
    }
  }
  throw new Error(`no port below ${high + 1} free on both UDP and TCP at ${host} after ${ATTEMPTS} attempts`);
}

/** A TCP port free at `host` (a loopback address); released before returning. */
export async function freeTcpPort(host: string): Promise<number> {
  if (!host.startsWith('127.')) throw new Error(`${host} is not an IPv4 loopback address`);
  const tcp = await bindTcp(host, 0);
  const { port } = tcp.address() as net.AddressInfo;
  await new Promise<void>((resolve) => tcp.close(() => resolve()));
  return port;
}
