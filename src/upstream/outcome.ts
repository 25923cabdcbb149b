// What a forward() ends with, and what kind of reply an upstream gave. Decided here once: the
// forwarder's failover, the cache and the metrics read these, and src/server/failures.ts maps each
// failure to its rcode, log line and metric (issue 9: one failure table).
import { type MessageView, QTYPE, RCODE, SECTION, scanMessage } from '../dns/index.js';

/**
 * The kinds of reply, as a resolver sees them (RFC 2308 and CoreDNS's `response.Typify` draw the same
 * lines): `success` has answers; `nxdomain` says the name does not exist; `nodata` says it exists
 * without records of the type (SOA in authority, or nothing at all); `referral` points elsewhere (NS
 * in authority, no SOA: a recursive server should not send one); `error` is any other rcode or a
 * reply that does not parse.
 */
export type ReplyClass = 'success' | 'nxdomain' | 'nodata' | 'referral' | 'error';

export const REPLY_CLASSES: readonly ReplyClass[] = ['success', 'nxdomain', 'nodata', 'referral', 'error'];

export function classifyReply(view: MessageView | null): ReplyClass {
  if (view === null) return 'error';
  if (view.rcode === RCODE.NXDOMAIN) return 'nxdomain';
  if (view.rcode !== RCODE.NOERROR) return 'error';
  let ns = false;
  for (const r of view.records) {
    if (r.section === SECTION.answer) return 'success';
    if (r.section !== SECTION.authority) continue;
    if (r.type === QTYPE.SOA) return 'nodata';
    if (r.type === QTYPE.NS) ns = true;
  }
  return ns ? 'referral' : 'nodata';
}

/**
 * Why a forward() got no answer. When its tries ended differently, the first of these that any try
 * ended with is the reason (the detail lists every try):
 * - `closed`: the forwarder is closing (shutdown);
 * - `rejected`: replies came, but none answered the query we sent (wrong ID, question or source:
 *   a spoofing attempt or a confused server), and the wait ran out;
 * - `timeout`: no reply within the time budget;
 * - `failed`: a server answered SERVFAIL, or the exchange failed otherwise (network unreachable…);
 * - `refused`: the servers refused (ICMP port unreachable, a TCP reset, or rcode REFUSED);
 * - `overflow`: the in-flight bound was reached, nothing was sent (SPEC §10).
 */
export type ForwardFailure = 'timeout' | 'refused' | 'failed' | 'rejected' | 'overflow' | 'closed';

export const FORWARD_FAILURES: readonly ForwardFailure[] = [
  'timeout',
  'refused',
  'failed',
  'rejected',
  'overflow',
  'closed',
];

export interface Answered {
  kind: 'answered';
  /** The upstream's reply with the client's ID and question bytes. */
  reply: Buffer;
  /** The reply's records, scanned once (null: it does not parse past the question). */
  view: MessageView | null;
  replyClass: ReplyClass;
  /** The server that answered, "1.2.3.4:53". */
  server: string;
}

export interface NotAnswered {
  kind: ForwardFailure;
  /** What each try ended with, for the log: "127.0.0.1:53 timeout; 127.0.0.2:53 ECONNREFUSED". */
  detail: string;
}

export type ForwardResult = Answered | NotAnswered;

/** A reply's class and records, for a reply that answers our question. */
export function readReply(msg: Buffer): { view: MessageView | null; replyClass: ReplyClass } {
  const view = scanMessage(msg);
  return { view, replyClass: classifyReply(view) };
}

/** The reply of an answered forward, or null: for callers that only need the bytes. */
export function replyOf(result: ForwardResult): Buffer | null {
  return result.kind === 'answered' ? result.reply : null;
}
