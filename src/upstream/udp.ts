// One query to one server over UDP, on a fresh socket (RFC 5452 §9.2: a random source port per query).
import { createSocket } from 'node:dgram';
import { isCheckedIPv6 } from '../dns/index.js';
import { type ExchangeHooks, errorOutcome, type Outcome } from './exchange.js';
import { mismatchOf } from './message.js';
import type { UpstreamServer } from './resolvconf.js';

/**
 * Sends `packet` and waits up to `timeoutMs` for a reply that answers it; other replies are dropped
 * (counted through `hooks.onRejected`) and the wait goes on.
 *
 * The socket is connected, as unbound's `udp-connect` does: the kernel then delivers only datagrams
 * from the server's address and port (the first anti-spoofing check) and reports ICMP port
 * unreachable as ECONNREFUSED, so a dead server fails over at once instead of after a timeout.
 * Binding is implicit (port 0): Linux picks a random ephemeral port.
 */
export function udpExchange(
  server: UpstreamServer,
  packet: Buffer,
  qEnd: number,
  timeoutMs: number,
  hooks: ExchangeHooks,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = createSocket(isCheckedIPv6(server.host) ? 'udp6' : 'udp4');
    let remote: { address: string; port: number } | undefined;
    let done = false;
    let rejected = 0;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // close() throws only if the socket is closed already: nothing left to release.
      }
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', rejected }), timeoutMs);
    const closed = new Promise<void>((resolveClosed) => socket.once('close', () => resolveClosed()));
    hooks.track({ cancel: () => finish({ kind: 'cancelled' }), closed });

    socket.on('error', (err) => finish(errorOutcome(err)));
    socket.on('message', (msg, rinfo) => {
      // The kernel filters a connected socket already; the check stays so the rule holds on its own.
      const fromServer =
        remote !== undefined && rinfo.address === remote.address && rinfo.port === remote.port;
      const why = fromServer ? mismatchOf(msg, packet, qEnd) : 'source';
      if (why === null) finish({ kind: 'reply', msg });
      else {
        rejected++;
        hooks.onRejected(why);
      }
    });
    socket.connect(server.port, server.host, () => {
      if (done) return;
      // remoteAddress() is the normalised form rinfo uses too ("::1", never "0::1").
      remote = socket.remoteAddress();
      socket.send(packet, (err) => {
        if (err) finish(errorOutcome(err));
      });
    });
  });
}
