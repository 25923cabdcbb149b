// The stages of the request path: the name table, then the upstream forwarder (the cache goes
// between them in a later issue).
import { buildEmpty, dnsCodec, FLAG_TC, HEADER_SIZE, QTYPE, RCODE, RCODE_MASK } from '../dns/index.js';
import type { NameTable, TableEntry } from '../nametable/index.js';
import { type Outcome, PASS, type Request, type Stage } from './pipeline.js';

/** What the stages need of the upstream side (implemented by `upstream/Forwarder`). */
export interface UpstreamClient {
  forward(query: Buffer, q: Request['q'], opts?: { tcp?: boolean }): Promise<Buffer | null>;
  query(name: string, qtype: number): Promise<Buffer | null>;
}

/** Holds the current table; `set` swaps it in one assignment, readers never wait. */
export class TableStage implements Stage {
  readonly name = 'table';
  private table: NameTable | undefined;
  private readonly upstream: UpstreamClient | undefined;
  private readonly servfailBeforeTable: boolean;

  constructor(opts: { upstream?: UpstreamClient; servfailBeforeTable?: boolean } = {}) {
    this.upstream = opts.upstream;
    this.servfailBeforeTable = opts.servfailBeforeTable ?? false;
  }

  set(table: NameTable): void {
    this.table = table;
  }

  current(): NameTable | undefined {
    return this.table;
  }

  handle(req: Request): Outcome | Promise<Outcome> {
    const table = this.table;
    if (table === undefined) {
      // SPEC §4.2: before the first table arrives, forward (or SERVFAIL when so configured).
      return this.servfailBeforeTable ? buildEmpty(req.msg, req.q, RCODE.SERVFAIL, false) : PASS;
    }
    const entry = table.lookup(req.q.qkey);
    if (entry === undefined) return PASS;
    const answer = entry.respond(req.msg, req.q, req.limit);
    const wantsAddress = req.q.qtype === QTYPE.A || req.q.qtype === QTYPE.AAAA;
    if (entry.external === undefined || !wantsAddress || this.upstream === undefined) return answer;
    return this.chase(req, entry, answer);
  }

  /**
   * ExternalName (SPEC §3.3): like CoreDNS' kubernetes plugin, follow the CNAME target upstream and
   * append its records, since stub resolvers such as glibc do not chase CNAMEs themselves.
   */
  private async chase(req: Request, entry: TableEntry, ours: Buffer): Promise<Outcome> {
    const external = entry.external as string;
    const reply = await this.upstream?.query(external, req.q.qtype).catch(() => null);
    if (!reply) return ours;
    try {
      if ((reply.readUInt16BE(2) & RCODE_MASK) !== RCODE.NOERROR) return ours;
      const theirs = dnsCodec().decode(reply);
      const mine = dnsCodec().decode(ours);
      if (!theirs.answers?.length) return ours;
      mine.answers = [...(mine.answers ?? []), ...theirs.answers];
      mine.flags = (mine.flags ?? 0) & ~FLAG_TC;
      const out = dnsCodec().encode(mine);
      // dns-packet lower-cases nothing but rewrites the question; restore the client's bytes.
      req.msg.copy(out, HEADER_SIZE, HEADER_SIZE, req.q.qEnd);
      return out;
    } catch {
      return ours;
    }
  }
}

export class ForwardStage implements Stage {
  readonly name = 'upstream';
  private readonly upstream: UpstreamClient;

  constructor(upstream: UpstreamClient) {
    this.upstream = upstream;
  }

  async handle(req: Request): Promise<Outcome> {
    const reply = await this.upstream.forward(req.msg, req.q, { tcp: req.transport === 'tcp' });
    // SPEC §4: SERVFAIL when every upstream failed within the budget.
    return reply ?? buildEmpty(req.msg, req.q, RCODE.SERVFAIL, false);
  }
}
