// SO_REUSEPORT on the DNS port. Answering workers share it (`--workers`), and a new meshdns binds it
// while the old one still answers, so a restart drops no query (issue 14 item 3): the kernel spreads
// the clients over every socket of the group until the old one leaves it.
import type net from 'node:net';
import { reusePortTcpSocket } from '../netio/index.js';

/** node:dgram and node:net have `reusePort` from Node 22.12 / 23.1; an older Node ignores it silently. */
export function nodeHasReusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * How a TCP listener binds host:port sharing it: Node's own option where it has one, else a socket the
 * netio addon bound with SO_REUSEPORT; without either, alone (`reason` says why). Throws the bind error.
 */
export function sharedTcpListen(
  host: string,
  port: number,
  version = process.versions.node,
): { options: net.ListenOptions | { fd: number }; reason?: string } {
  // @types/node 20 does not know the option.
  if (nodeHasReusePort(version)) return { options: { host, port, reusePort: true } as net.ListenOptions };
  const fd = reusePortTcpSocket(host, port);
  if (fd !== undefined) return { options: { fd } };
  const reason = `node:net has no reusePort before Node 22.12 (this is ${version}) and the netio addon is not there`;
  return { options: { host, port, exclusive: true }, reason };
}
