// Building responses into one buffer: header, the client's question bytes (case preserved), answer
// records precomputed at table build time, and an OPT record when the client spoke EDNS.
import {
  CLASS_IN,
  EDNS_DO,
  EDNS_UDP_SIZE,
  FLAG_AA,
  FLAG_CD,
  FLAG_QR,
  FLAG_RA,
  FLAG_RD,
  FLAG_TC,
  HEADER_SIZE,
  QTYPE,
} from './constants.js';
import type { Query } from './query.js';
import { skipRecord } from './query.js';

/** An OPT record with the root owner and no options (RFC 6891 §6.1.2). */
export const OPT_SIZE = 11;
/** A compression pointer to the question name, which always starts at offset 12. */
const PTR_QNAME = Buffer.from([0xc0, HEADER_SIZE]);

/**
 * Resource records of one kind, all the same size, so rotation is index arithmetic over one buffer.
 * (A records owned by the question are 16 bytes each, AAAA 28.)
 */
export interface RecordRun {
  data: Buffer;
  count: number;
  stride: number;
}

/** A precomputed answer: fixed leading records (a CNAME chain), then a rotated run of address records. */
export interface AnswerParts {
  prefix: Buffer;
  prefixCount: number;
  run: RecordRun | null;
}

/** One record with the given owner (wire bytes; `null` = pointer to the question name). */
export function encodeRecord(owner: Buffer | null, type: number, ttl: number, rdata: Buffer): Buffer {
  const name = owner ?? PTR_QNAME;
  const out = Buffer.allocUnsafe(name.length + 10 + rdata.length);
  name.copy(out, 0);
  let o = name.length;
  o = out.writeUInt16BE(type, o);
  o = out.writeUInt16BE(CLASS_IN, o);
  o = out.writeUInt32BE(ttl, o);
  o = out.writeUInt16BE(rdata.length, o);
  rdata.copy(out, o);
  return out;
}

export function recordRun(records: Buffer[]): RecordRun | null {
  if (records.length === 0) return null;
  const stride = records[0].length;
  if (records.some((r) => r.length !== stride)) throw new RangeError('records of a run must have one size');
  return { data: Buffer.concat(records), count: records.length, stride };
}

function responseFlags(q: Query, extra: number): number {
  return FLAG_QR | FLAG_RA | (q.flags & (FLAG_RD | FLAG_CD)) | extra;
}

/** Writes our OPT record at `o` for an EDNS client; returns the offset past it. */
export function writeOpt(out: Buffer, o: number, q: Query): number {
  out[o] = 0;
  out.writeUInt16BE(QTYPE.OPT, o + 1);
  out.writeUInt16BE(EDNS_UDP_SIZE, o + 3);
  out.writeUInt16BE(0, o + 5);
  // RFC 3225 §3: the DO bit of the query is copied into the response.
  out.writeUInt16BE(q.edns?.do ? EDNS_DO : 0, o + 7);
  out.writeUInt16BE(0, o + 9);
  return o + OPT_SIZE;
}

function writeHeader(out: Buffer, q: Query, flags: number, an: number, ar: number): void {
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(an, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(ar, 10);
}

/**
 * An authoritative answer from precomputed parts, rotated by `rotation`, cut at a record boundary
 * with TC set when it does not fit `limit` (RFC 2181 §9).
 */
export function buildAnswer(
  query: Buffer,
  q: Query,
  parts: AnswerParts,
  rotation: number,
  limit: number,
): Buffer {
  const run = parts.run;
  const runBytes = run ? run.count * run.stride : 0;
  const optSize = q.edns ? OPT_SIZE : 0;
  let size = q.qEnd + parts.prefix.length + runBytes + optSize;
  let prefixBytes = parts.prefix.length;
  let prefixCount = parts.prefixCount;
  let runCount = run ? run.count : 0;
  let tc = 0;
  if (size > limit) {
    tc = FLAG_TC;
    const room = limit - q.qEnd - optSize;
    if (prefixBytes > room) {
      ({ bytes: prefixBytes, count: prefixCount } = fitRecords(parts.prefix, room));
      runCount = 0;
    } else if (run) {
      runCount = Math.max(0, Math.floor((room - prefixBytes) / run.stride));
    }
    size = q.qEnd + prefixBytes + (run ? runCount * run.stride : 0) + optSize;
  }
  const out = Buffer.allocUnsafe(size);
  writeHeader(out, q, responseFlags(q, FLAG_AA | tc), prefixCount + runCount, q.edns ? 1 : 0);
  query.copy(out, HEADER_SIZE, HEADER_SIZE, q.qEnd);
  let o = q.qEnd;
  o += parts.prefix.copy(out, o, 0, prefixBytes);
  if (run && runCount > 0) {
    const start = rotation % run.count;
    for (let k = 0; k < runCount; k++) {
      const i = (start + k) % run.count;
      o += run.data.copy(out, o, i * run.stride, (i + 1) * run.stride);
    }
  }
  if (q.edns) writeOpt(out, o, q);
  return out;
}

/** How many whole records of a concatenation fit in `room` bytes. */
function fitRecords(records: Buffer, room: number): { bytes: number; count: number } {
  let off = 0;
  let count = 0;
  while (off < records.length) {
    const next = skipRecord(records, off);
    if (next < 0 || next > room) break;
    off = next;
    count++;
  }
  return { bytes: off, count };
}

/** A response with no records: NODATA (with AA), SERVFAIL, REFUSED… echoing the question. */
export function buildEmpty(query: Buffer, q: Query, rcode: number, authoritative: boolean): Buffer {
  const out = Buffer.allocUnsafe(q.qEnd + (q.edns ? OPT_SIZE : 0));
  writeHeader(out, q, responseFlags(q, rcode | (authoritative ? FLAG_AA : 0)), 0, q.edns ? 1 : 0);
  query.copy(out, HEADER_SIZE, HEADER_SIZE, q.qEnd);
  if (q.edns) writeOpt(out, q.qEnd, q);
  return out;
}

/** A header-only error (FORMERR, NOTIMP) for a message whose question cannot be trusted. */
export function buildHeaderOnly(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_SIZE);
  query.copy(out, 0, 0, 2);
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  // Keep the opcode and RD so the client can match the reply; QR marks it a response.
  out.writeUInt16BE(FLAG_QR | (flags & (0x7800 | FLAG_RD)) | rcode, 2);
  return out;
}

/**
 * Fits a full response (an upstream's) into `limit`: keeps the header, question and as many whole
 * answer records as fit, drops the other sections, sets TC, and re-adds an OPT for EDNS clients.
 * Records are kept as a prefix of the message, so compression pointers stay valid.
 */
export function truncateResponse(resp: Buffer, q: Query, limit: number): Buffer {
  if (resp.length <= limit) return resp;
  const optSize = q.edns ? OPT_SIZE : 0;
  const ancount = resp.readUInt16BE(6);
  let end = q.qEnd;
  let kept = 0;
  for (let n = 0; n < ancount; n++) {
    const next = skipRecord(resp, end);
    if (next < 0 || next + optSize > limit) break;
    end = next;
    kept++;
  }
  const out = Buffer.allocUnsafe(end + optSize);
  resp.copy(out, 0, 0, end);
  out.writeUInt16BE(resp.readUInt16BE(2) | FLAG_TC, 2);
  out.writeUInt16BE(kept, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  if (q.edns) writeOpt(out, end, q);
  return out;
}
