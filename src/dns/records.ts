// Walking every record of a whole message. Off the hot path: only upstream replies on their way into
// the cache are scanned. Counts read off the wire are hints; every offset is checked (miekg's rule).
import { HEADER_SIZE, MAX_NAME_LENGTH, RCODE_MASK } from './constants.js';
import { skipName } from './query.js';

/** RFC 1035 §4.1.4 allows pointers to pointers; a name longer than 255 bytes cannot need more hops. */
const MAX_POINTER_HOPS = 127;

export const SECTION = { answer: 0, authority: 1, additional: 2 } as const;
export type SectionIndex = (typeof SECTION)[keyof typeof SECTION];

export interface RecordView {
  section: SectionIndex;
  /** Offsets of the whole record in the message: [start, end). */
  start: number;
  end: number;
  /** Owner name as a lower-cased wire key (name.ts), compression pointers followed. */
  owner: string;
  type: number;
  rclass: number;
  ttl: number;
  ttlOffset: number;
  rdataOffset: number;
  rdLength: number;
}

export interface MessageView {
  flags: number;
  rcode: number;
  /** The question (QDCOUNT must be 1): its lower-cased key, type, class, and the offset past it. */
  qkey: string;
  qtype: number;
  qclass: number;
  qEnd: number;
  records: RecordView[];
}

/**
 * A name at `off` as a lower-cased wire key, following compression pointers (each must point
 * backwards, so the walk ends); undefined when malformed.
 */
export function readNameKey(buf: Buffer, off: number): string | undefined {
  let key = '';
  let i = off;
  let hops = 0;
  while (i < buf.length) {
    const len = buf[i];
    if (len === 0) return key.length + 1 <= MAX_NAME_LENGTH ? `${key}\x00` : undefined;
    if ((len & 0xc0) === 0xc0) {
      if (i + 1 >= buf.length || ++hops > MAX_POINTER_HOPS) return undefined;
      const target = ((len & 0x3f) << 8) | buf[i + 1];
      if (target >= i) return undefined;
      i = target;
      continue;
    }
    if ((len & 0xc0) !== 0 || i + 1 + len > buf.length) return undefined;
    key += buf.toString('latin1', i, i + 1 + len).toLowerCase();
    if (key.length > MAX_NAME_LENGTH) return undefined;
    i += len + 1;
  }
  return undefined;
}

/** Reads header, question and every record; null when any part is malformed. */
export function scanMessage(buf: Buffer): MessageView | null {
  if (buf.length < HEADER_SIZE || buf.readUInt16BE(4) !== 1) return null;
  const qkey = readNameKey(buf, HEADER_SIZE);
  const nameEnd = skipName(buf, HEADER_SIZE);
  if (qkey === undefined || nameEnd < 0 || nameEnd + 4 > buf.length) return null;
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  const records: RecordView[] = [];
  let off = nameEnd + 4;
  for (let section = 0; section < 3; section++) {
    for (let n = 0; n < counts[section]; n++) {
      const owner = readNameKey(buf, off);
      const afterName = skipName(buf, off);
      if (owner === undefined || afterName < 0 || afterName + 10 > buf.length) return null;
      const rdLength = buf.readUInt16BE(afterName + 8);
      const end = afterName + 10 + rdLength;
      if (end > buf.length) return null;
      records.push({
        section: section as SectionIndex,
        start: off,
        end,
        owner,
        type: buf.readUInt16BE(afterName),
        rclass: buf.readUInt16BE(afterName + 2),
        ttl: buf.readUInt32BE(afterName + 4),
        ttlOffset: afterName + 4,
        rdataOffset: afterName + 10,
        rdLength,
      });
      off = end;
    }
  }
  const flags = buf.readUInt16BE(2);
  return {
    flags,
    rcode: flags & RCODE_MASK,
    qkey,
    qtype: buf.readUInt16BE(nameEnd),
    qclass: buf.readUInt16BE(nameEnd + 2),
    qEnd: nameEnd + 4,
    records,
  };
}

/** True when `key` is `ancestor` or a name under it (both wire keys). */
export function isWithin(key: string, ancestor: string): boolean {
  if (key.length < ancestor.length || !key.endsWith(ancestor)) return false;
  if (key.length === ancestor.length) return true;
  // The suffix must start at a label boundary: walk the labels of `key`.
  let i = 0;
  while (i < key.length - ancestor.length) i += key.charCodeAt(i) + 1;
  return i === key.length - ancestor.length;
}
