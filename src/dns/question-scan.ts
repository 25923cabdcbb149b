// The hit path's reading of a query (issue 12 item 3): header and question read in place from a
// receive slab, into an object the caller reuses, with a hash of the question, so a repeated question
// is found without a string, a Query object or a Buffer view. Only the plain shape of a query is taken
// (one question, no records but an OPT); anything else is left to readQuery (query.ts).
import { EDNS_DO, FLAG_QR, HEADER_SIZE, MAX_NAME_LENGTH, QTYPE } from './constants.js';

/** What scanQuestion read; one instance is reused for every message of a batch. */
export class QuestionScan {
  id = 0;
  flags = 0;
  /** Offset, from the message start, just past the name, and past qtype and qclass. */
  nameEnd = 0;
  qEnd = 0;
  qtype = 0;
  qclass = 0;
  edns = false;
  /** The client's EDNS buffer size (never below 512), 0 without EDNS. */
  udpSize = 0;
  do = false;
  /** FNV-1a of the lower-cased name, qtype, qclass and the DO bit (the cache keys by DO too). */
  hash = 0;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Reads the message of `len` bytes at `at` of `buf` into `s`. False when it is not a plain query
 * (QR set, another opcode, QDCOUNT ≠ 1, answer or authority records, an additional record other
 * than one OPT, a compressed or over-long name, bytes missing): the general path takes those.
 */
export function scanQuestion(buf: Uint8Array, at: number, len: number, s: QuestionScan): boolean {
  if (len < HEADER_SIZE + 5) return false;
  const end = at + len;
  const flags = (buf[at + 2] << 8) | buf[at + 3];
  // QR clear and opcode QUERY (0), QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT 0 or 1.
  if ((flags & (FLAG_QR | 0x7800)) !== 0) return false;
  if (buf[at + 4] !== 0 || buf[at + 5] !== 1) return false;
  if ((buf[at + 6] | buf[at + 7] | buf[at + 8] | buf[at + 9] | buf[at + 10]) !== 0) return false;
  const arcount = buf[at + 11];
  if (arcount > 1) return false;
  let h = FNV_OFFSET;
  let i = at + HEADER_SIZE;
  for (;;) {
    if (i >= end) return false;
    const n = buf[i];
    h = Math.imul(h ^ n, FNV_PRIME);
    if (n === 0) break;
    if (n > 63 || i + 1 + n > end) return false;
    for (let k = i + 1; k <= i + n; k++) {
      const c = buf[k];
      h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c), FNV_PRIME);
    }
    i += n + 1;
  }
  const nameEnd = i + 1 - at;
  if (nameEnd - HEADER_SIZE > MAX_NAME_LENGTH || nameEnd + 4 > len) return false;
  const o = at + nameEnd;
  s.qtype = (buf[o] << 8) | buf[o + 1];
  s.qclass = (buf[o + 2] << 8) | buf[o + 3];
  s.edns = false;
  s.udpSize = 0;
  s.do = false;
  if (arcount === 1) {
    // The OPT record (RFC 6891 §6.1.2): root owner, type 41, class = buffer size, TTL = ext-rcode,
    // version, flags (DO), then RDLENGTH and options, which must be inside the message.
    const r = o + 4;
    if (r + 11 > end || buf[r] !== 0 || ((buf[r + 1] << 8) | buf[r + 2]) !== QTYPE.OPT) return false;
    if (r + 11 + ((buf[r + 9] << 8) | buf[r + 10]) > end) return false;
    s.edns = true;
    s.udpSize = Math.max(512, (buf[r + 3] << 8) | buf[r + 4]);
    s.do = (((buf[r + 7] << 8) | buf[r + 8]) & EDNS_DO) !== 0;
  }
  h = Math.imul(h ^ buf[o], FNV_PRIME);
  h = Math.imul(h ^ buf[o + 1], FNV_PRIME);
  h = Math.imul(h ^ buf[o + 2], FNV_PRIME);
  h = Math.imul(h ^ buf[o + 3], FNV_PRIME);
  h = Math.imul(h ^ (s.do ? 1 : 0), FNV_PRIME);
  s.hash = h >>> 0;
  s.id = (buf[at] << 8) | buf[at + 1];
  s.flags = flags;
  s.nameEnd = nameEnd;
  s.qEnd = nameEnd + 4;
  return true;
}

/** Whether the name at `at + 12` of `buf` is `key` (lower-case wire bytes) in any ASCII case. */
export function sameName(buf: Uint8Array, at: number, key: Uint8Array): boolean {
  const from = at + HEADER_SIZE;
  for (let k = 0; k < key.length; k++) {
    const c = buf[from + k];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== key[k]) return false;
  }
  return true;
}
