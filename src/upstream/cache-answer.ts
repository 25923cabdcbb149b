// What of an upstream reply the cache keeps, for how long, and how a kept answer is given to a client.
import {
  dnsCodec,
  FLAG_AA,
  FLAG_CD,
  FLAG_RD,
  FLAG_TC,
  HEADER_SIZE,
  isWithin,
  type MessageView,
  OPT_SIZE,
  QTYPE,
  type Query,
  type RecordView,
  readNameKey,
  SECTION,
  scanMessage,
  writeOpt,
} from '../dns/index.js';
import { classifyReply, type ReplyClass, readReply } from './outcome.js';

const DNAME = 39;

/** A reply ready to be served again: no OPT (each client gets its own), TTL fields located. */
export interface CachedAnswer {
  body: Buffer;
  qEnd: number;
  rcode: number;
  /** NXDOMAIN or NODATA (RFC 2308). */
  negative: boolean;
  ttlOffsets: number[];
  ttls: number[];
}

export interface TtlLimits {
  maxTtl: number;
  maxNegativeTtl: number;
}

export type Uncacheable = 'malformed' | 'truncated' | 'rcode' | 'referral' | 'no-soa' | 'ttl-zero';

/** A prepared reply and either how long it stays fresh (seconds) or why it is not cached. */
export interface Prepared {
  answer: CachedAnswer | null;
  ttl: number;
  uncacheable: Uncacheable | null;
}

/**
 * RFC 5452 §6: keep only answer records owned by the question name or a name of its CNAME chain
 * (and DNAMEs above them, RFC 6672), authority records at or above those names, and additional
 * records in the bailiwick of a kept SOA/NS. Anything else is what a cache-poisoning attempt adds.
 */
function inScope(view: MessageView, buf: Buffer): boolean[] {
  const chain = new Set([view.qkey]);
  const zones: string[] = [];
  const covers = (owner: string) => [...chain].some((name) => isWithin(name, owner));
  return view.records.map((r) => {
    if (r.type === QTYPE.OPT) return false;
    if (r.section === SECTION.answer) {
      if (chain.has(r.owner)) {
        if (r.type === QTYPE.CNAME) {
          const target = readNameKey(buf, r.rdataOffset);
          if (target !== undefined) chain.add(target);
        }
        return true;
      }
      return r.type === DNAME && covers(r.owner);
    }
    if (r.section === SECTION.authority) {
      const keep = covers(r.owner);
      if (keep && (r.type === QTYPE.SOA || r.type === QTYPE.NS)) zones.push(r.owner);
      return keep;
    }
    return chain.has(r.owner) || zones.some((zone) => isWithin(r.owner, zone));
  });
}

/** The reply without the records `keep` rejects and without OPT; null if it cannot be rebuilt. */
function rebuild(reply: Buffer, view: MessageView, keep: boolean[]): Buffer | null {
  const records = view.records;
  const optLast = records.length > 0 && records[records.length - 1].type === QTYPE.OPT;
  const dropped = keep.filter((k, i) => !k && !(optLast && i === records.length - 1)).length;
  if (dropped === 0) {
    // The common case: everything in scope, so the bytes are kept as they are, minus a trailing OPT.
    const end = optLast ? records[records.length - 1].start : reply.length;
    const body = Buffer.from(reply.subarray(0, end));
    if (optLast) body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
    return body;
  }
  try {
    // Rare: dropping records from the middle breaks compression pointers, so re-encode.
    const packet = dnsCodec().decode(reply);
    let i = 0;
    const pick = <T>(list: T[] | undefined) => (list ?? []).filter(() => keep[i++]);
    packet.answers = pick(packet.answers);
    packet.authorities = pick(packet.authorities);
    packet.additionals = pick(packet.additionals);
    const body = dnsCodec().encode(packet);
    body.writeUInt16BE(reply.readUInt16BE(2), 2);
    return body;
  } catch {
    return null;
  }
}

/** RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM); the MINIMUM is the last rdata word. */
function negativeTtl(body: Buffer, soa: RecordView): number {
  return Math.min(soa.ttl, body.readUInt32BE(soa.rdataOffset + soa.rdLength - 4));
}

function freshFor(
  view: MessageView,
  replyClass: ReplyClass,
  limits: TtlLimits,
  body: Buffer,
): number | Uncacheable {
  if (view.flags & FLAG_TC) return 'truncated';
  let ttl: number;
  switch (replyClass) {
    case 'error':
      return 'rcode';
    case 'referral':
      // A recursive server answers; a referral from one is a misconfiguration, not an answer to keep.
      return 'referral';
    case 'success':
      // The answer lives as long as its shortest-lived record (RFC 2181 §5.2 makes an RRset's TTLs equal).
      ttl = Math.min(limits.maxTtl, ...view.records.map((r) => r.ttl));
      break;
    case 'nxdomain':
    case 'nodata': {
      // RFC 2308 §5: negative answers without an SOA are not cached.
      const soa = view.records.find((r) => r.section === SECTION.authority && r.type === QTYPE.SOA);
      if (soa === undefined || soa.rdLength < 22) return 'no-soa';
      ttl = Math.min(limits.maxNegativeTtl, negativeTtl(body, soa));
    }
  }
  return ttl > 0 ? ttl : 'ttl-zero';
}

/**
 * Scrubs and measures an upstream reply for the cache. `read`: the reply's records and class as the
 * forwarder read them (outcome.ts), so the reply is not scanned twice; absent, they are read here.
 */
export function prepareAnswer(
  reply: Buffer,
  limits: TtlLimits,
  read: { view: MessageView | null; replyClass: ReplyClass } = readReply(reply),
): Prepared {
  const scanned = read.view;
  if (scanned === null) return { answer: null, ttl: 0, uncacheable: 'malformed' };
  const keep = inScope(scanned, reply);
  const body = rebuild(reply, scanned, keep);
  // Records were dropped (out of scope, or the OPT): the body has other offsets, and maybe another class.
  const whole = keep.every(Boolean);
  const view = body && (whole ? scanned : scanMessage(body));
  if (body === null || view === null) return { answer: null, ttl: 0, uncacheable: 'malformed' };
  const replyClass = whole ? read.replyClass : classifyReply(view);
  const answer: CachedAnswer = {
    body,
    qEnd: view.qEnd,
    rcode: view.rcode,
    negative: replyClass !== 'success',
    ttlOffsets: view.records.map((r) => r.ttlOffset),
    ttls: view.records.map((r) => r.ttl),
  };
  const ttl = freshFor(view, replyClass, limits, body);
  return typeof ttl === 'number' ? { answer, ttl, uncacheable: null } : { answer, ttl: 0, uncacheable: ttl };
}

/**
 * A kept answer for one client: its ID, question bytes (case preserved) and RD/CD bits, AA cleared
 * (a cache is not authoritative, RFC 1035 §6.1.3), TTLs counted down by `age` seconds, or all set to
 * `fixedTtl` (serve-stale), and an OPT record when the client spoke EDNS. Null if the question differs.
 */
export function renderAnswer(
  a: CachedAnswer,
  query: Buffer,
  q: Query,
  age: number,
  fixedTtl?: number,
  maxTtl = Number.POSITIVE_INFINITY,
): Buffer | null {
  if (a.qEnd !== q.qEnd) return null;
  const out = Buffer.allocUnsafe(a.body.length + (q.edns ? OPT_SIZE : 0));
  a.body.copy(out);
  out.writeUInt16BE(q.id, 0);
  const keep = a.body.readUInt16BE(2) & ~(FLAG_AA | FLAG_RD | FLAG_CD);
  out.writeUInt16BE(keep | (q.flags & (FLAG_RD | FLAG_CD)), 2);
  query.copy(out, HEADER_SIZE, HEADER_SIZE, q.qEnd);
  for (let i = 0; i < a.ttlOffsets.length; i++) {
    const ttl = fixedTtl ?? Math.max(0, Math.min(a.ttls[i], maxTtl) - age);
    out.writeUInt32BE(ttl, a.ttlOffsets[i]);
  }
  if (q.edns) {
    writeOpt(out, a.body.length, q);
    out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  }
  return out;
}
