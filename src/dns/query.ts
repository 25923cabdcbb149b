// The hot path's view of a query: header and question read in place, no full decode.
// Counts read off the wire are hints; every offset is checked against the buffer length.
import { EDNS_DO, FLAG_QR, HEADER_SIZE, OPCODE_QUERY, QTYPE } from './constants.js';

export interface Edns {
  /** Requester's UDP payload size (RFC 6891 §6.2.3), never below 512. */
  udpSize: number;
  /** DNSSEC OK bit. */
  do: boolean;
}

export interface Query {
  id: number;
  flags: number;
  opcode: number;
  /** The question name as a lower-cased wire key (see name.ts). */
  qkey: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question section; bytes [12, qEnd) are the question as the client sent it. */
  qEnd: number;
  edns: Edns | null;
}

/** Why a message is not answerable as a query: `formerr` gets a header-only FORMERR, `drop` gets nothing. */
export type QueryProblem = 'formerr' | 'notimp' | 'drop';

/**
 * Reads the end of a (possibly compressed) name starting at `off`; returns the offset after it, or -1.
 * Compression pointers end a name, so the walk is bounded by the buffer.
 */
export function skipName(buf: Buffer, off: number): number {
  let i = off;
  while (i < buf.length) {
    const len = buf[i];
    if (len === 0) return i + 1;
    if ((len & 0xc0) === 0xc0) return i + 2 <= buf.length ? i + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    i += len + 1;
  }
  return -1;
}

/** Offset past one resource record at `off`, or -1 when it runs off the end. */
export function skipRecord(buf: Buffer, off: number): number {
  const afterName = skipName(buf, off);
  if (afterName < 0 || afterName + 10 > buf.length) return -1;
  const end = afterName + 10 + buf.readUInt16BE(afterName + 8);
  return end <= buf.length ? end : -1;
}

/** Reads the question name at 12, uncompressed only (a pointer cannot point before the question). */
function questionEnd(buf: Buffer): number {
  let i = HEADER_SIZE;
  let total = 0;
  while (i < buf.length) {
    const len = buf[i];
    if (len === 0) return total + 1 <= 255 ? i + 1 : -1;
    if (len > 63) return -1;
    total += len + 1;
    i += len + 1;
  }
  return -1;
}

/** ASCII lower-casing of the key only when needed: most resolvers already send lower case. */
function lowerKey(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c >= 0x41 && c <= 0x5a) return buf.toString('latin1', start, end).toLowerCase();
  }
  return buf.toString('latin1', start, end);
}

/** Finds an OPT record among the additional records (RFC 6891); `undefined` when the section is malformed. */
function readEdns(
  buf: Buffer,
  off: number,
  ancount: number,
  nscount: number,
  arcount: number,
): Edns | null | undefined {
  let i = off;
  for (let n = 0; n < ancount + nscount; n++) {
    i = skipRecord(buf, i);
    if (i < 0) return undefined;
  }
  let edns: Edns | null = null;
  for (let n = 0; n < arcount; n++) {
    const afterName = skipName(buf, i);
    if (afterName < 0 || afterName + 10 > buf.length) return undefined;
    if (buf.readUInt16BE(afterName) === QTYPE.OPT) {
      const size = buf.readUInt16BE(afterName + 2);
      edns = { udpSize: Math.max(512, size), do: (buf.readUInt16BE(afterName + 6) & EDNS_DO) !== 0 };
    }
    i = skipRecord(buf, i);
    if (i < 0) return undefined;
  }
  return edns;
}

/**
 * Reads a query for the server. Returns the problem when it cannot be answered normally:
 * SPEC §4: malformed header fields (QR set, QDCOUNT ≠ 1) → FORMERR; malformed beyond the header → drop;
 * an opcode other than QUERY → NOTIMP.
 */
export function readQuery(buf: Buffer): Query | QueryProblem {
  if (buf.length < HEADER_SIZE) return 'drop';
  const flags = buf.readUInt16BE(2);
  if (flags & FLAG_QR) return 'formerr';
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== OPCODE_QUERY) return 'notimp';
  if (buf.readUInt16BE(4) !== 1) return 'formerr';
  const nameEnd = questionEnd(buf);
  if (nameEnd < 0 || nameEnd + 4 > buf.length) return 'drop';
  const qEnd = nameEnd + 4;
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  let edns: Edns | null = null;
  if (arcount + ancount + nscount > 0) {
    const found = readEdns(buf, qEnd, ancount, nscount, arcount);
    if (found === undefined) return 'drop';
    edns = found;
  }
  return {
    id: buf.readUInt16BE(0),
    flags,
    opcode,
    qkey: lowerKey(buf, HEADER_SIZE, nameEnd),
    qtype: buf.readUInt16BE(nameEnd),
    qclass: buf.readUInt16BE(nameEnd + 2),
    qEnd,
    edns,
  };
}
