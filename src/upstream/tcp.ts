// One query to one server over TCP with 2-byte length framing (RFC 1035 §4.2.2, RFC 7766).
import { connect } from 'node:net';
import { type ExchangeHooks, errorOutcome, type Outcome } from './exchange.js';
import { mismatchOf } from './message.js';
import type { UpstreamServer } from './resolvconf.js';

/**
 * Opens a connection, sends `packet`, and waits up to `timeoutMs` (connect included) for a framed
 * reply that answers it; frames that do not are dropped and counted. The connection is not reused.
 */
export function tcpExchange(
  server: UpstreamServer,
  packet: Buffer,
  qEnd: number,
  timeoutMs: number,
  hooks: ExchangeHooks,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: server.host, port: server.port, noDelay: true });
    let pending: Buffer = Buffer.alloc(0);
    let done = false;
    let rejected = 0;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', rejected }), timeoutMs);
    const closed = new Promise<void>((resolveClosed) => socket.once('close', () => resolveClosed()));
    hooks.track({ cancel: () => finish({ kind: 'cancelled' }), closed });

    socket.on('error', (err) => finish(errorOutcome(err)));
    socket.on('end', () => finish({ kind: 'error', code: 'ECONNRESET' }));
    socket.on('connect', () => {
      const frame = Buffer.allocUnsafe(2 + packet.length);
      frame.writeUInt16BE(packet.length, 0);
      packet.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (!done && pending.length >= 2) {
        const size = pending.readUInt16BE(0);
        if (pending.length < 2 + size) break;
        // A copy: the reply is rewritten in place later, and a chunk may share its memory.
        const msg = Buffer.from(pending.subarray(2, 2 + size));
        pending = pending.subarray(2 + size);
        const why = mismatchOf(msg, packet, qEnd);
        if (why === null) finish({ kind: 'reply', msg });
        else {
          rejected++;
          hooks.onRejected(why);
        }
      }
    });
  });
}
