// Upstream messages off the hot path: the anti-spoofing match of a reply against the query we sent
// (SPEC §10, RFC 5452 §9.1) and the rewrite that gives the client back its own ID and question bytes.
import {
  CLASS_IN,
  encodeName,
  FLAG_QR,
  FLAG_RD,
  FLAG_TC,
  HEADER_SIZE,
  RCODE_MASK,
  toFqdn,
} from '../dns/index.js';

export function rcodeOf(msg: Buffer): number {
  return msg[3] & RCODE_MASK;
}

export function isTruncated(msg: Buffer): boolean {
  return (msg.readUInt16BE(2) & FLAG_TC) !== 0;
}

/** Why a reply does not answer the query sent (the anti-spoofing checks, counted by reason). */
export type Mismatch = 'source' | 'short' | 'id' | 'not-response' | 'question';

export const MISMATCHES: readonly Mismatch[] = ['source', 'short', 'id', 'not-response', 'question'];

/**
 * Null when `reply` answers `sent`: same ID, QR set, one question equal to ours (the name compared
 * case-insensitively, as a 0x20-mixing server may change case; type and class exactly); otherwise
 * the first check it fails. `qEnd` is the offset past the question in `sent`, whose name is uncompressed.
 */
export function mismatchOf(reply: Buffer, sent: Buffer, qEnd: number): Mismatch | null {
  if (reply.length < qEnd) return 'short';
  if (reply.readUInt16BE(0) !== sent.readUInt16BE(0)) return 'id';
  if ((reply.readUInt16BE(2) & FLAG_QR) === 0) return 'not-response';
  if (reply.readUInt16BE(4) !== 1) return 'question';
  const nameEnd = qEnd - 4;
  for (let i = HEADER_SIZE; i < nameEnd; i++) {
    // Length bytes are ≤ 63, below 'A', so folding every byte only folds letters.
    if (foldAscii(reply[i]) !== foldAscii(sent[i])) return 'question';
  }
  return reply.compare(sent, nameEnd, qEnd, nameEnd, qEnd) === 0 ? null : 'question';
}

/** True when `reply` answers `sent` (mismatchOf finds nothing). */
export function answersQuery(reply: Buffer, sent: Buffer, qEnd: number): boolean {
  return mismatchOf(reply, sent, qEnd) === null;
}

function foldAscii(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/**
 * Gives a matched upstream reply the client's ID and question bytes, in place (the reply buffer is
 * ours). `answersQuery` guaranteed the question has the same length, so the copy lines up.
 */
export function toClientReply(reply: Buffer, clientQuery: Buffer, qEnd: number): Buffer {
  clientQuery.copy(reply, 0, 0, 2);
  clientQuery.copy(reply, HEADER_SIZE, HEADER_SIZE, qEnd);
  return reply;
}

/** A copy of `query` with another ID: the rest (flags, case, EDNS) goes upstream unchanged. */
export function withId(query: Buffer, id: number): Buffer {
  const out = Buffer.from(query);
  out.writeUInt16BE(id, 0);
  return out;
}

/** A recursive query (RD set, no EDNS) for `name`; throws RangeError for a name that cannot be encoded. */
export function buildQuery(name: string, qtype: number, id: number): Buffer {
  const qname = encodeName(toFqdn(name));
  const out = Buffer.alloc(HEADER_SIZE + qname.length + 4);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(FLAG_RD, 2);
  out.writeUInt16BE(1, 4);
  qname.copy(out, HEADER_SIZE);
  out.writeUInt16BE(qtype, HEADER_SIZE + qname.length);
  out.writeUInt16BE(CLASS_IN, HEADER_SIZE + qname.length + 2);
  return out;
}

/** A query in flight on one socket or connection, as replies are matched against it. */
export interface InFlight {
  packet: Buffer;
  qEnd: number;
  /** Replies refused while it waited (they count against it if it then times out). */
  rejected: number;
}

/** A reply's ID, or -1 when it is too short to have one. */
export const replyId = (reply: Buffer): number => (reply.length >= 2 ? reply.readUInt16BE(0) : -1);

/**
 * The query in flight that `reply` answers (by ID, then by question), or undefined when none: a reply
 * with no such ID is counted once and held against every query in flight (`short` when it is shorter
 * than all their questions), one with the wrong question against its own query.
 */
export function matchReply<P extends InFlight>(
  reply: Buffer,
  pending: ReadonlyMap<number, P>,
  onRejected: (why: Mismatch) => void,
): P | undefined {
  const p = pending.get(replyId(reply));
  if (p === undefined) {
    let short = true;
    for (const q of pending.values()) if (reply.length >= q.qEnd) short = false;
    onRejected(short ? 'short' : 'id');
    for (const q of pending.values()) q.rejected++;
    return undefined;
  }
  const why = mismatchOf(reply, p.packet, p.qEnd);
  if (why === null) return p;
  p.rejected++;
  onRejected(why);
  return undefined;
}
