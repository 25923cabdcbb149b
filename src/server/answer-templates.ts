// Answers kept as wire templates for the UDP hit path (issue 12 items 3 and 6). The first answer to a
// question from the table or from a fresh cache entry is kept with what it depends on; the same question
// again is answered by copying the template into the send slab and patching only the ID, the RD/CD
// flags, the question's case, the rotation of the address records (table) or the TTLs (cache), and the
// OPT record: no string, no Query, no Buffer per query. What a template cannot answer the same way as
// the pipeline (a reply over the client's size limit, a table swapped since, a cache entry expired,
// replaced or due a prefetch) goes through the pipeline, which stays the one place of every rule.
import {
  EDNS_DO,
  EDNS_UDP_SIZE,
  FLAG_AA,
  FLAG_CD,
  FLAG_RD,
  FLAG_TC,
  HEADER_SIZE,
  MAX_MESSAGE_SIZE,
  OPT_SIZE,
  QTYPE,
  type QuestionScan,
  RCODE_MASK,
  sameName,
  skipName,
  skipRecord,
  UDP_MIN_SIZE,
} from '../dns/index.js';
import { NativeTemplates } from '../netio/index.js';
import type { CacheEntry } from '../upstream/index.js';
import type { AnswerNote, CacheReuse, TableGeneration } from './pipeline.js';

/**
 * Module tuning: sets of WAYS templates; a full set gives up its oldest (a round-robin victim). A set
 * gets a Poisson share of the questions asked, and a question whose set overflows is answered by the
 * pipeline and learned again each time it comes round. At 4,096 sets, 10,000 questions asked in turn
 * (the bench's cache hits) missed 15 % of the time; at 16,384, about 0.3 % of them share a full set.
 * The slots cost 12 bytes each (768 KiB); a template is made only for a question asked.
 */
const SETS = 16384;
const WAYS = 4;

export class AnswerTemplate {
  readonly hash: number;
  /** The question name, lower-cased wire bytes, and what else the answer was keyed by. */
  readonly name: Buffer;
  readonly qtype: number;
  readonly qclass: number;
  readonly do: boolean;
  /** The answer without an OPT record; flags without RD and CD (the client's are put in). */
  readonly body: Buffer;
  readonly flags: number;
  readonly arcount: number;
  readonly rcode: number;
  readonly source: 'table' | 'cache';
  /** Table answers: the rotated run of address records, and the turns taken since the template was kept. */
  readonly runAt: number;
  readonly runCount: number;
  readonly stride: number;
  turn = 0;
  readonly table: TableGeneration | undefined;
  readonly generation: number;
  /** Cache answers: where the TTLs are and what each starts from (capped by the entry's freshness). */
  readonly cache: CacheReuse | undefined;
  readonly entry: CacheEntry | undefined;
  readonly ttlOffsets: Int32Array;
  readonly ttls: Int32Array;
  /** Answers given from it in the current batch, counted when the batch ends. */
  pending = 0;
  /** The cache's purge generation its C copy was kept under (AnswerTemplates.renew). */
  nativeGeneration = -1;

  constructor(s: QuestionScan, msg: Buffer, answer: Buffer, note: AnswerNote) {
    this.hash = s.hash;
    this.name = Buffer.from(msg.subarray(HEADER_SIZE, s.nameEnd));
    for (let k = 0; k < this.name.length; k++) {
      const c = this.name[k];
      if (c >= 0x41 && c <= 0x5a) this.name[k] = c | 0x20;
    }
    this.qtype = s.qtype;
    this.qclass = s.qclass;
    this.do = s.do;
    this.source = note.kind === 'cache' ? 'cache' : 'table';
    this.table = this.source === 'table' ? note.table : undefined;
    this.generation = note.generation;
    this.cache = this.source === 'cache' ? note.cache : undefined;
    this.entry = this.source === 'cache' ? note.hit?.entry : undefined;
    if (this.source === 'cache' && this.entry !== undefined) {
      const a = this.entry.answer;
      this.body = a.body;
      this.flags = a.body.readUInt16BE(2) & ~(FLAG_AA | FLAG_RD | FLAG_CD);
      this.ttlOffsets = Int32Array.from(a.ttlOffsets);
      this.ttls = Int32Array.from(a.ttls, (t) => Math.min(t, (this.entry as CacheEntry).ttl));
    } else {
      // The table's answer: the OPT it ends with (for an EDNS client) is written per query instead.
      this.body = Buffer.from(answer.subarray(0, answer.length - (s.edns ? OPT_SIZE : 0)));
      this.body.writeUInt16BE(0, 10);
      this.flags = answer.readUInt16BE(2) & ~(FLAG_RD | FLAG_CD);
      this.ttlOffsets = new Int32Array(0);
      this.ttls = this.ttlOffsets;
    }
    this.arcount = this.body.readUInt16BE(10);
    this.rcode = this.flags & RCODE_MASK;
    const run = this.source === 'table' ? addressRun(this.body, s) : undefined;
    this.runAt = run?.at ?? 0;
    this.runCount = run?.count ?? 0;
    this.stride = run?.stride ?? 0;
  }

  /** Still what the pipeline would answer: the table not swapped, the cache entry fresh (-1: not). */
  age(): number {
    if (this.table !== undefined) return this.table.generation === this.generation ? 0 : -1;
    return this.cache !== undefined && this.entry !== undefined ? this.cache.reuse(this.entry) : -1;
  }

  /** Writes the answer for the query at `at` of `buf` (read into `s`) at `o` of `out`. */
  write(out: Buffer, o: number, buf: Uint8Array, at: number, s: QuestionScan, age: number): void {
    const body = this.body;
    out.set(body, o);
    out[o] = buf[at];
    out[o + 1] = buf[at + 1];
    const flags = this.flags | (s.flags & (FLAG_RD | FLAG_CD));
    out[o + 2] = flags >> 8;
    out[o + 3] = flags & 0xff;
    // The question as the client wrote it (case preserved, dns0x20).
    for (let k = HEADER_SIZE; k < s.nameEnd; k++) out[o + k] = buf[at + k];
    if (this.runCount > 1) this.rotate(out, o);
    const offs = this.ttlOffsets;
    for (let i = 0; i < offs.length; i++) {
      const ttl = Math.max(0, this.ttls[i] - age);
      const p = o + offs[i];
      out[p] = ttl >>> 24;
      out[p + 1] = (ttl >>> 16) & 0xff;
      out[p + 2] = (ttl >>> 8) & 0xff;
      out[p + 3] = ttl & 0xff;
    }
    if (!s.edns) return;
    const arcount = this.arcount + 1;
    out[o + 10] = arcount >> 8;
    out[o + 11] = arcount & 0xff;
    // Our OPT (response.ts writeOpt): root owner, our buffer size, the client's DO bit (RFC 3225 §3).
    const p = o + body.length;
    out[p] = 0;
    out[p + 1] = 0;
    out[p + 2] = QTYPE.OPT;
    out[p + 3] = EDNS_UDP_SIZE >> 8;
    out[p + 4] = EDNS_UDP_SIZE & 0xff;
    out[p + 5] = 0;
    out[p + 6] = 0;
    out[p + 7] = s.do ? EDNS_DO >> 8 : 0;
    out[p + 8] = 0;
    out[p + 9] = 0;
    out[p + 10] = 0;
  }

  /** Each answer starts one record further than the one before, as the table's rotation does. */
  private rotate(out: Buffer, o: number): void {
    const turn = (this.turn + 1) % this.runCount;
    this.turn = turn;
    const { body, runAt, stride } = this;
    const bytes = this.runCount * stride;
    const shift = turn * stride;
    for (let k = 0; k < bytes; k++) {
      const from = shift + k;
      out[o + runAt + k] = body[runAt + (from < bytes ? from : from - bytes)];
    }
  }

  /** The size of the answer for a query read into `s`: -1 when over the client's limit (truncated). */
  size(s: QuestionScan): number {
    const size = this.body.length + (s.edns ? OPT_SIZE : 0);
    const limit = s.edns ? Math.min(s.udpSize, MAX_MESSAGE_SIZE) : UDP_MIN_SIZE;
    return size <= limit ? size : -1;
  }

  matches(buf: Uint8Array, at: number, s: QuestionScan): boolean {
    return (
      this.hash === s.hash &&
      this.qtype === s.qtype &&
      this.qclass === s.qclass &&
      this.do === s.do &&
      this.name.length === s.nameEnd - HEADER_SIZE &&
      sameName(buf, at, this.name)
    );
  }
}

/** The address records a table answer rotates: those of the asked type at its end, all one size. */
function addressRun(
  body: Buffer,
  s: QuestionScan,
): { at: number; count: number; stride: number } | undefined {
  if (s.qtype !== QTYPE.A && s.qtype !== QTYPE.AAAA) return undefined;
  const ancount = body.readUInt16BE(6);
  let off = s.qEnd;
  let at = -1;
  let stride = 0;
  for (let n = 0; n < ancount; n++) {
    const next = skipRecord(body, off);
    if (next < 0) return undefined;
    if (body.readUInt16BE(skipName(body, off)) === s.qtype) {
      if (at < 0) {
        at = off;
        stride = next - off;
      } else if (next - off !== stride) return undefined;
    } else if (at >= 0) return undefined;
    off = next;
  }
  if (at < 0 || off !== body.length) return undefined;
  return { at, count: (off - at) / stride, stride };
}

/**
 * The templates of one UDP listener, found by the hash of the question (set-associative, bounded). With
 * `native` (the addon's hit path), each slot is copied to C as it is filled or emptied, and C answers a
 * question whose template still holds before any of this runs (udp.ts); what C leaves is found here.
 */
export class AnswerTemplates {
  private readonly slots: (AnswerTemplate | undefined)[] = new Array(SETS * WAYS).fill(undefined);
  /** Each slot's hash beside it, so a lookup reads no template but the one that matches. */
  private readonly hashes = new Uint32Array(SETS * WAYS);
  private victim = 0;
  /** Templates that answered in the current batch (their `pending` counts), reused batch to batch. */
  private readonly touched: AnswerTemplate[] = [];
  private touchedCount = 0;
  /** The table and the cache that templates were kept from: C is told their generation and clock. */
  private table: TableGeneration | undefined;
  private cache: CacheReuse | undefined;

  constructor(readonly native?: NativeTemplates) {}

  static withNative(): AnswerTemplates {
    return new AnswerTemplates(NativeTemplates.create(SETS, WAYS));
  }

  /** The generations C may answer from: the table's (-1: none yet) and the cache's purges. */
  private readonly generations = { table: -1, cache: 0 };

  currentGenerations(): { table: number; cache: number } {
    this.generations.table = this.table?.generation ?? -1;
    this.generations.cache = this.cache?.purges() ?? 0;
    return this.generations;
  }

  /** The table's generation as C reads it, once a table template is kept (BatchSocket.answerWakesInC). */
  get tableCell(): Int32Array | undefined {
    return this.table?.cell;
  }

  /** The cache's clock now, for C's cache templates (0 before any). */
  cacheNow(): number {
    return this.cache?.now() ?? 0;
  }

  find(buf: Uint8Array, at: number, s: QuestionScan): AnswerTemplate | undefined {
    const base = (s.hash & (SETS - 1)) * WAYS;
    for (let w = 0; w < WAYS; w++) {
      if (this.hashes[base + w] !== s.hash) continue;
      const t = this.slots[base + w];
      if (t?.matches(buf, at, s)) return t;
    }
    return undefined;
  }

  /**
   * `t`, just found and still fresh, answered here after C left it: a cache template kept before a purge
   * that spared its entry. C gets it again, under the purge generation now.
   */
  renew(t: AnswerTemplate): void {
    if (this.native === undefined || t.cache === undefined || t.nativeGeneration === t.cache.purges()) return;
    const base = (t.hash & (SETS - 1)) * WAYS;
    for (let w = 0; w < WAYS; w++) if (this.slots[base + w] === t) this.keep(base + w, t);
  }

  /** Keeps `answer`, the pipeline's answer to `msg` (read into `s`), when `note` says it may be reused. */
  learn(s: QuestionScan, msg: Buffer, answer: Buffer, note: AnswerNote): void {
    if (note.kind === undefined || answer.length < HEADER_SIZE || answer.readUInt16BE(2) & FLAG_TC) return;
    if (note.kind === 'cache' && (note.hit === undefined || note.hit.entry.answer.qEnd !== s.qEnd)) return;
    const t = new AnswerTemplate(s, msg, answer, note);
    const base = (s.hash & (SETS - 1)) * WAYS;
    for (let w = 0; w < WAYS; w++) {
      const old = this.slots[base + w];
      if (old === undefined || old.matches(msg, 0, s)) {
        this.keep(base + w, t);
        return;
      }
    }
    this.victim = (this.victim + 1) % WAYS;
    this.keep(base + this.victim, t);
  }

  private keep(slot: number, t: AnswerTemplate): void {
    this.slots[slot] = t;
    this.hashes[slot] = t.hash;
    const native = this.native;
    if (native === undefined) return;
    if (t.table !== undefined) {
      this.table = t.table;
      native.put(slot, t, { cache: false, generation: t.generation });
    } else if (t.cache !== undefined && t.entry !== undefined) {
      this.cache = t.cache;
      const { storedAt } = t.entry;
      const validUntil = t.cache.reusableUntil(t.entry);
      t.nativeGeneration = t.cache.purges();
      native.put(slot, t, { cache: true, generation: t.nativeGeneration, storedAt, validUntil });
    } else {
      native.drop(slot);
    }
  }

  forget(t: AnswerTemplate): void {
    const base = (t.hash & (SETS - 1)) * WAYS;
    for (let w = 0; w < WAYS; w++) {
      if (this.slots[base + w] !== t) continue;
      this.slots[base + w] = undefined;
      this.native?.drop(base + w);
    }
  }

  /**
   * The `count` answers C gave (their slots in `hits`, by default `native.hits`), counted as answers from
   * their templates are; a cache hit is noted in the cache as the JavaScript path notes it, and a template
   * whose entry has left the cache meanwhile is forgotten, so the next question goes through the pipeline.
   */
  answeredInPlace(count: number, hits = (this.native as NativeTemplates).hits): void {
    for (let h = 0; h < count; h++) {
      const t = this.slots[hits[h]];
      if (t === undefined) continue;
      if (t.cache !== undefined && t.entry !== undefined && t.cache.reuse(t.entry) < 0) this.forget(t);
      this.answered(t);
    }
  }

  /** One more answer from `t` in this batch. */
  answered(t: AnswerTemplate): void {
    if (t.pending++ === 0) this.touched[this.touchedCount++] = t;
  }

  /** The batch's answers, counted once per template; `count` gets each template's total. */
  endBatch(count: (t: AnswerTemplate, n: number) => void): void {
    for (let i = 0; i < this.touchedCount; i++) {
      const t = this.touched[i];
      count(t, t.pending);
      t.pending = 0;
      this.touched[i] = undefined as unknown as AnswerTemplate;
    }
    this.touchedCount = 0;
  }
}
