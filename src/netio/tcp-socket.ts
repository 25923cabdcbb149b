// A TCP socket bound with SO_REUSEPORT, for node:net's `listen({ fd })`: Node has `reusePort` on listen
// only from 22.12 / 23.1, and a new meshdns must bind the DNS port while the old one still answers
// (issue 14 item 3). Node listens on it and closes it with its server.
import { loadAddon } from './addon.js';

/**
 * The fd of a TCP socket bound to host:port with SO_REUSEADDR and SO_REUSEPORT, not yet listening;
 * undefined without the addon. Throws what bind(2) said (e.g. EADDRINUSE), as an Error.
 */
export function reusePortTcpSocket(host: string, port: number): number | undefined {
  return loadAddon().binding?.tcpSocket(host, port, true);
}
