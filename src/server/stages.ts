// The stages of the request path that cache-stage.ts does not hold: the name table first, and the
// upstream forwarder last (without a cache, or for what the cache does not keep).
import { buildEmpty, dnsCodec, FLAG_TC, HEADER_SIZE, QTYPE, RCODE } from '../dns/index.js';
import type { NameTable, TableEntry } from '../nametable/index.js';
import type { ForwardResult } from '../upstream/index.js';
import { failureAnswer } from './failures.js';
import type { PerNameAnswers } from './per-name.js';
import {
  keepMessage,
  type Outcome,
  PASS,
  type Request,
  type Stage,
  type TableGeneration,
} from './pipeline.js';

/** What the stages need of the upstream side (implemented by `upstream/Forwarder`). */
export interface UpstreamClient {
  /** `probe`: a dry run's forward, which moves no rotation and counts nothing. */
  forward(query: Buffer, q: Request['q'], opts?: { tcp?: boolean; probe?: boolean }): Promise<ForwardResult>;
  query(name: string, qtype: number): Promise<ForwardResult>;
  /** The servers in the order the next forward tries them. */
  plan(): string[];
}

/** A forward as the stage's request asks it: over TCP for a TCP client, as a probe in a dry run. */
export function forwardFor(upstream: UpstreamClient, req: Request): Promise<ForwardResult> {
  // The forwarder holds the query until upstream answers: a lent message is copied first.
  keepMessage(req);
  const trace = req.trace;
  const tcp = req.transport === 'tcp';
  // The miss path: the forward itself, no promise of ours around it.
  if (trace === undefined) return upstream.forward(req.msg, req.q, { tcp });
  const order = upstream.plan();
  return upstream.forward(req.msg, req.q, { tcp, probe: true }).then((result) => {
    trace.upstream = { order, result };
    return result;
  });
}

/** Holds the current table; `set` swaps it in one assignment, readers never wait. */
export class TableStage implements Stage, TableGeneration {
  readonly name = 'table';
  private table: NameTable | undefined;
  /**
   * Moves on every swap: answers kept as templates (AnswerNote) hold only while it stays. It lives in
   * `cell`, where C reads it too (the wakes netio.c answers without JavaScript).
   */
  readonly cell = new Int32Array(new ArrayBuffer(4));
  private readonly upstream: UpstreamClient | undefined;
  private readonly servfailBeforeTable: boolean;
  /** Per-name VIPs (issue 14 item 5); absent, a per-name wildcard answers as a plain one. */
  perName: PerNameAnswers | undefined;

  constructor(opts: { upstream?: UpstreamClient; servfailBeforeTable?: boolean } = {}) {
    this.upstream = opts.upstream;
    this.servfailBeforeTable = opts.servfailBeforeTable ?? false;
  }

  set(table: NameTable): void {
    this.table = table;
    this.cell[0]++;
  }

  get generation(): number {
    return this.cell[0];
  }

  current(): NameTable | undefined {
    return this.table;
  }

  handle(req: Request): Outcome | Promise<Outcome> {
    const table = this.table;
    const trace = req.trace;
    if (table === undefined) {
      if (trace)
        trace.table = { state: 'none', meanwhile: this.servfailBeforeTable ? 'servfail' : 'forward' };
      // SPEC §4.2: before the first table arrives, forward (or SERVFAIL when so configured).
      return this.servfailBeforeTable ? buildEmpty(req.msg, req.q, RCODE.SERVFAIL, false) : PASS;
    }
    const entry = table.lookup(req.q.qkey);
    if (trace) trace.table = entry ? { state: 'hit', record: entry.record } : { state: 'miss' };
    if (entry === undefined) return PASS;
    const record = entry.record;
    if (record.kind === 'per-name') {
      if (this.perName !== undefined) return this.perName.handle(req, entry);
      if (record.ipv4.length + record.ipv6.length === 0) return PASS;
    }
    // A dry run shows the next answer without taking it; the ExternalName target is not chased.
    if (trace) return entry.preview(req.msg, req.q, req.limit);
    const answer = entry.respond(req.msg, req.q, req.limit);
    const wantsAddress = req.q.qtype === QTYPE.A || req.q.qtype === QTYPE.AAAA;
    if (entry.external === undefined || !wantsAddress || this.upstream === undefined) {
      const note = req.note;
      // A per-name VIP is kept while asked: each answer is seen here, so none is kept as a template.
      if (record.perName !== undefined) this.perName?.touch(record);
      else if (note !== undefined) {
        note.kind = 'table';
        note.table = this;
        note.generation = this.generation;
      }
      return answer;
    }
    return this.chase(req, entry, answer);
  }

  /**
   * ExternalName (SPEC §3.3): like CoreDNS' kubernetes plugin, follow the CNAME target upstream and
   * append its records, since stub resolvers such as glibc do not chase CNAMEs themselves.
   */
  private async chase(req: Request, entry: TableEntry, ours: Buffer): Promise<Outcome> {
    const external = entry.external as string;
    const result = await this.upstream?.query(external, req.q.qtype);
    // No answer, or none with records: the CNAME alone (the failure is logged by whoever observes the forwarder).
    if (result?.kind !== 'answered' || result.replyClass !== 'success') return ours;
    try {
      const theirs = dnsCodec().decode(result.reply);
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
    const result = await forwardFor(this.upstream, req);
    return result.kind === 'answered' ? result.reply : failureAnswer(req, result.kind);
  }
}
