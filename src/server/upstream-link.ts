// The forwarder's upstream sockets on the native batch socket (issue 12 item 4, "batch the sends where
// the native path is loaded"): the queries of one event-loop turn leave in one sendmmsg, replies are read
// by recvmmsg in batches, and neither pays node:dgram's per-datagram buffer, rinfo object, callback and
// send request. Each is connected to its server, as node:dgram's are: the kernel delivers only that
// server's datagrams on a random port, and ICMP port unreachable still fails the queries at once.
import { BatchSocket } from '../netio/index.js';
import { type DatagramLinkFactory, dgramLink } from '../upstream/index.js';
import type { UdpIo } from './udp.js';

/** Errno names for the socket errors a connected UDP socket reports (Linux numbers). */
const ERRNO: Record<number, string> = { 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH', 101: 'ENETUNREACH' };

/** The upstream link for a listener's I/O path: native where the addon can connect, else node:dgram. */
export function upstreamLink(io: UdpIo): DatagramLinkFactory {
  if (io === 'dgram' || !BatchSocket.connectSupport().available) return dgramLink;
  return nativeLink;
}

export const nativeLink: DatagramLinkFactory = (server, events) => {
  let socket: BatchSocket;
  try {
    socket = BatchSocket.connect({
      host: server.host,
      port: server.port,
      onBatch: (batch) => {
        // The slab is reused by the next batch: each reply is copied before it is matched and kept.
        for (let i = 0; i < batch.count; i++) {
          const msg = batch.message(i);
          if (msg !== null) events.message(Buffer.from(msg));
        }
      },
      onError: (errno) => {
        const code = ERRNO[errno] ?? `errno ${errno}`;
        events.error(Object.assign(new Error(`upstream socket: ${code}`), { code }));
      },
    });
  } catch {
    // A server that is not an IP literal, or no free socket: node:dgram's link says why on its own.
    return dgramLink(server, events);
  }
  let closing = false;
  let closed!: () => void;
  const done = new Promise<void>((resolve) => {
    closed = resolve;
  });
  return {
    send: (packet) => socket.send(packet),
    close: () => {
      if (closing) return;
      closing = true;
      // The fd is closed on return (netio.c); libuv releases its handle later on its own.
      void socket.close().then(closed);
    },
    closed: done,
  };
};
