// One query to one server, outside the forwarder (no rotation, stats or budget sharing): for
// `meshdns lookup`. Same exchanges, so the same anti-spoofing checks and TCP retry on TC.
import { readQuery } from '../dns/index.js';
import type { ExchangeHooks } from './exchange.js';
import { isTruncated } from './message.js';
import type { UpstreamServer } from './resolvconf.js';
import { tcpExchange } from './tcp.js';
import { udpExchange } from './udp.js';

const QUIET: ExchangeHooks = { onRejected: () => {}, track: () => {} };

/** The reply to `packet` (a query) from `server`, or a string saying why there is none. */
export async function askServer(
  server: UpstreamServer,
  packet: Buffer,
  opts: { tcp?: boolean; timeoutMs: number },
): Promise<Buffer | string> {
  const q = readQuery(packet);
  if (typeof q === 'string') throw new RangeError('not a query');
  let outcome = await (opts.tcp ? tcpExchange : udpExchange)(server, packet, q.qEnd, opts.timeoutMs, QUIET);
  if (!opts.tcp && outcome.kind === 'reply' && isTruncated(outcome.msg)) {
    outcome = await tcpExchange(server, packet, q.qEnd, opts.timeoutMs, QUIET);
  }
  if (outcome.kind === 'reply') return outcome.msg;
  return outcome.kind === 'error' ? outcome.code : outcome.kind;
}
