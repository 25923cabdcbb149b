// One name of the table with its answers precomputed as wire bytes (Istio's name table does the
// same with dns.RR values): answering is a header write, a copy of the question and a copy of these.
import {
  type AnswerParts,
  buildAnswer,
  buildEmpty,
  encodeName,
  encodeRecord,
  ipToBytes,
  QTYPE,
  type Query,
  RCODE,
  recordRun,
} from '../dns/index.js';

/** SPEC §3: every table answer carries TTL 30 (Istio's value). */
export const TABLE_TTL = 30;

/** `per-name`: a wildcard whose names each get a VIP of their own when first asked (issue 14 item 5). */
export type EntryKind = 'host' | 'alias' | 'search' | 'wildcard' | 'per-name' | 'endpoint';

/** What `meshdns table` prints for one key: where it came from and what it answers. */
export interface TableRecord {
  /** The key, an FQDN; wildcards as `*.example.com.`. */
  name: string;
  kind: EntryKind;
  /** CNAME chain from this name (empty for names that answer addresses directly). */
  cnames: string[];
  ipv4: string[];
  ipv6: string[];
  /** A CNAME target outside the table, resolved upstream at query time (ExternalName). */
  external?: string;
  /** "Service default/productpage (examples/bookinfo.yaml doc 0)". */
  origin: string;
  /** A name with a VIP of its own under a per-name wildcard: that wildcard (`*.db.example.com`). */
  perName?: string;
}

function chainRecords(cnames: string[]): Buffer {
  const records: Buffer[] = [];
  let owner: Buffer | null = null;
  for (const target of cnames) {
    const wire = encodeName(target);
    records.push(encodeRecord(owner, QTYPE.CNAME, TABLE_TTL, wire));
    owner = wire;
  }
  return Buffer.concat(records);
}

function answerParts(record: TableRecord, type: number, ips: string[]): AnswerParts {
  const prefix = chainRecords(record.cnames);
  const last = record.cnames.at(-1);
  const owner = last === undefined ? null : encodeName(last);
  const run = recordRun(ips.map((ip) => encodeRecord(owner, type, TABLE_TTL, ipToBytes(ip))));
  return { prefix, prefixCount: record.cnames.length, run };
}

/** Where a name's answers are in their rotation. */
export interface Rotation {
  turn: number;
}

export class TableEntry {
  readonly record: TableRecord;
  private readonly a: AnswerParts;
  private readonly aaaa: AnswerParts;
  private readonly other: AnswerParts;
  /** Rotation counter for DNS load balancing; the only mutable state, and harmless to race. */
  private readonly rotation: Rotation;

  /**
   * `rotation`: shared by the entries made per question for one search-path wildcard. `like`: an entry
   * whose answers these are (an alias answers as its host: the owner of every record is the question).
   */
  constructor(record: TableRecord, rotation: Rotation = { turn: 0 }, like?: TableEntry) {
    this.record = record;
    this.rotation = like?.rotation ?? rotation;
    this.a = like?.a ?? answerParts(record, QTYPE.A, record.ipv4);
    this.aaaa = like?.aaaa ?? answerParts(record, QTYPE.AAAA, record.ipv6);
    this.other = like?.other ?? answerParts(record, QTYPE.A, []);
  }

  /** The name outside the table this entry's chain ends in, for A/AAAA queries. */
  get external(): string | undefined {
    return this.record.external;
  }

  /**
   * The authoritative answer for this query. A known name asked for another type gets NOERROR
   * without records (NODATA), never NXDOMAIN: an NXDOMAIN for AAAA makes some resolvers drop the
   * A answer too (Istio issue #32164).
   */
  respond(query: Buffer, q: Query, limit: number): Buffer {
    return this.#answer(query, q, limit, true);
  }

  /** The answer the next query will get, without moving the rotation (`explain`). */
  preview(query: Buffer, q: Query, limit: number): Buffer {
    return this.#answer(query, q, limit, false);
  }

  #answer(query: Buffer, q: Query, limit: number, advance: boolean): Buffer {
    const parts = q.qtype === QTYPE.A ? this.a : q.qtype === QTYPE.AAAA ? this.aaaa : this.other;
    if (parts.prefixCount === 0 && parts.run === null) return buildEmpty(query, q, RCODE.NOERROR, true);
    const turn = (this.rotation.turn + 1) & 0x3fffffff;
    if (advance) this.rotation.turn = turn;
    return buildAnswer(query, q, parts, turn, limit);
  }
}
