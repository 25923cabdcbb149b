// A synthetic upstream resolver over UDP and TCP: every A query is answered with an address derived from its
// name (so a client can check any forwarded answer), after a fixed delay. It does what dnsmasq cannot:
// answer any of a million unknown names slowly (the flood), and be stopped and started on one port
// (the soak). A process of its own, so its work never shares an event loop with the measuring client.
// With LOSS (0 to 1), that share of UDP queries is dropped unanswered (a lossy upstream, the hedge bench).
//   node dist/bench/servers/synthetic-upstream.js HOST PORT DELAY_MS TTL [LOSS]
import dgram from 'node:dgram';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ServerAddress } from '../lib/dns-probe.js';
import { waitUntilAnswering } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { seededRandom } from '../lib/random.js';
import type { DnsServer } from './server.js';
import { START_DEADLINE_MS } from './server.js';

const SCRIPT = fileURLToPath(import.meta.url);
const TYPE_A = 1;

/** FNV-1a of the lower-case name (no trailing dot) → an address in 198.18.0.0/15 (RFC 2544, never routed). */
export function syntheticAddress(name: string): string {
  let h = 0x811c9dc5;
  const s = name.toLowerCase().replace(/\.$/, '');
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return `198.${18 + ((h >>> 16) & 1)}.${(h >>> 8) & 0xff}.${h & 0xff}`;
}

/** The question's name (presentation form) and where the question ends, or undefined when malformed. */
function readQuestion(msg: Buffer): { name: string; end: number; qtype: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  // Queries carry no compression in the question; a pointer or an overrun means a malformed query.
  for (let n = 0; n < 128; n++) {
    const len = msg[off];
    if (len === undefined || len > 63) return undefined;
    off++;
    if (len === 0) break;
    labels.push(msg.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join('.'), end: off + 4, qtype: msg.readUInt16BE(off) };
}

/** The reply: header and question copied, QR and RA set, one A record (pointer to the question name) for A. */
export function syntheticReply(msg: Buffer, ttl: number): Buffer | undefined {
  const q = readQuestion(msg);
  if (!q) return undefined;
  const isA = q.qtype === TYPE_A;
  const out = Buffer.alloc(q.end + (isA ? 16 : 0));
  msg.copy(out, 0, 0, q.end);
  out[2] = 0x80 | (msg[2] & 0x79); // QR, opcode and RD kept
  out[3] = 0x80; // RA, NOERROR
  out.writeUInt16BE(isA ? 1 : 0, 6);
  out.writeUInt32BE(0, 8); // NSCOUNT, ARCOUNT: the client's EDNS record is not echoed
  if (isA) {
    let o = q.end;
    o = out.writeUInt16BE(0xc00c, o);
    o = out.writeUInt16BE(TYPE_A, o);
    o = out.writeUInt16BE(1, o);
    o = out.writeUInt32BE(ttl, o);
    o = out.writeUInt16BE(4, o);
    for (const b of syntheticAddress(q.name).split('.')) o = out.writeUInt8(Number(b), o);
  }
  return out;
}

/** DNS over TCP (RFC 7766 framing): each complete frame answered after the delay, in any order. */
function serveTcp(socket: net.Socket, delayMs: number, ttl: number): void {
  let buf = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const reply = syntheticReply(buf.subarray(2, 2 + buf.readUInt16BE(0)), ttl);
      buf = buf.subarray(2 + buf.readUInt16BE(0));
      if (!reply) continue;
      const frame = Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]);
      setTimeout(() => socket.destroyed || socket.write(frame), delayMs);
    }
  });
}

function serve(host: string, port: number, delayMs: number, ttl: number, loss: number): void {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  // Seeded by the port, so every run loses the same share the same way.
  const random = seededRandom(port);
  socket.on('message', (msg, rinfo) => {
    if (loss > 0 && random() < loss) return;
    const reply = syntheticReply(msg, ttl);
    if (!reply) return;
    const send = () => socket.send(reply, rinfo.port, rinfo.address);
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
  });
  socket.bind(port, host);
  const tcp = net.createServer((conn) => serveTcp(conn, delayMs, ttl)).listen(port, host);
  // Stopped like a crashed server: no goodbye to open TCP clients.
  process.on('SIGTERM', () => process.exit(0));
  void tcp;
}

export interface SyntheticUpstreamOptions {
  label?: string;
  listen: ServerAddress;
  delayMs: number;
  ttl: number;
  /** Share of UDP queries dropped unanswered; default 0. */
  loss?: number;
  cpu?: number;
}

/** Starts the upstream as a child process and waits until it answers. */
export async function startSyntheticUpstream(
  group: ProcessGroup,
  opts: SyntheticUpstreamOptions,
): Promise<DnsServer> {
  const label = opts.label ?? 'synthetic-upstream';
  const args = [SCRIPT, opts.listen.host, String(opts.listen.port), String(opts.delayMs), String(opts.ttl)];
  if (opts.loss) args.push(String(opts.loss));
  const proc = group.spawn(label, process.execPath, args, { cpu: opts.cpu });
  await waitUntilAnswering(opts.listen, 'probe.upstream.test', proc, START_DEADLINE_MS + opts.delayMs);
  return { label, address: opts.listen, proc, version: 'synthetic' };
}

if (process.argv[1] === SCRIPT) {
  const [host, port, delayMs, ttl, loss] = process.argv.slice(2);
  serve(host, Number(port), Number(delayMs), Number(ttl), Number(loss ?? 0));
}
