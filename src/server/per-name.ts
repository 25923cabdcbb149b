// Per-name VIPs (issue 14 item 5), the answering side: a name under a per-name wildcard that has no VIP
// of its own yet is held while the allocator (the controller: one for every pod, so every pod answers
// the same VIP) gives it one and the table that holds it is in, then answered from that table. The
// first answer already carries the VIP: a client that connects at once must reach the right backend,
// and a forwarded first answer would send it to the real address, past the proxy.
import { keyToName, QTYPE } from '../dns/index.js';
import type { NameTable, TableEntry, TableRecord } from '../nametable/index.js';
import { keepMessage, type Outcome, PASS, type Request } from './pipeline.js';

/**
 * `allocated`: the table now in holds the name; `missing`: upstream knows no address for it (its own
 * answer, NXDOMAIN or NODATA, is forwarded); the rest: answered without a VIP of its own (`not-leader`: a
 * cluster controller replica that does not allocate; a later query asks again).
 */
export type PerNameReply =
  | 'allocated'
  | 'missing'
  | 'cap'
  | 'rate'
  | 'unknown'
  | 'timeout'
  | 'failed'
  | 'not-leader';

/** Who allocates: the controller, reached from this thread (a message, or one more hop from a worker). */
export interface PerNameClient {
  /**
   * A VIP for `name` (lower case, no trailing dot) under `wildcard` (`*.db.example.com`); resolves once
   * the table holding it has been swapped in on this thread. Never rejects.
   */
  ask(name: string, wildcard: string): Promise<PerNameReply>;
}

export interface PerNameAnswersOptions {
  client: PerNameClient;
  table: () => NameTable | undefined;
  /** How long a first query waits for its VIP before it is answered without one. */
  timeoutMs: number;
  /**
   * Whether upstream has an address for the name (A, else AAAA). Only such a name is given a VIP: a name
   * that does not exist keeps its NXDOMAIN, and a client walking random names fills no cap.
   */
  exists?: (name: string) => Promise<boolean>;
  /** A name answered without a VIP of its own (counted and logged once per burst by the agent). */
  refused?: (reply: Exclude<PerNameReply, 'allocated' | 'missing'>, name: string) => void;
}

/** Strips the trailing dot of a table name. */
const bare = (fqdn: string) => (fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn);

export class PerNameAnswers {
  readonly #opts: PerNameAnswersOptions;
  /** First queries of one name asked together share one request. */
  readonly #pending = new Map<string, Promise<PerNameReply>>();
  /** Per-name names answered since the last `takeTouched()`: each keeps its VIP another idle period. */
  #touched = new Set<string>();

  constructor(opts: PerNameAnswersOptions) {
    this.#opts = opts;
  }

  /** A name answered from its own record. */
  touch(record: TableRecord): void {
    this.#touched.add(record.name);
  }

  /** The names answered since the last call, without their trailing dot. */
  takeTouched(): string[] {
    const names = [...this.#touched].map(bare);
    this.#touched = new Set();
    return names;
  }

  /** A query that reached a per-name wildcard (its `record.kind` is `per-name`). */
  handle(req: Request, wildcard: TableEntry): Outcome | Promise<Outcome> {
    const wantsAddress = req.q.qtype === QTYPE.A || req.q.qtype === QTYPE.AAAA;
    // A dry run (explain) asks for nothing; other types get no VIP.
    if (req.trace !== undefined || !wantsAddress) return this.#without(req, wildcard);
    return this.#ask(req, wildcard);
  }

  async #ask(req: Request, wildcard: TableEntry): Promise<Outcome> {
    keepMessage(req);
    const name = bare(keyToName(req.q.qkey));
    let pending = this.#pending.get(name);
    if (pending === undefined) {
      pending = this.#withTimeout(this.#allocate(name, bare(wildcard.record.name)));
      this.#pending.set(name, pending);
      void pending.finally(() => this.#pending.delete(name));
    }
    const reply = await pending;
    if (reply === 'allocated') {
      const own = this.#opts.table()?.lookup(req.q.qkey);
      if (own?.record.perName !== undefined) {
        this.touch(own.record);
        return own.respond(req.msg, req.q, req.limit);
      }
    }
    if (reply !== 'missing') this.#opts.refused?.(reply === 'allocated' ? 'failed' : reply, name);
    return this.#without(req, wildcard);
  }

  /** What the name gets without a VIP of its own: the wildcard's records (DYNAMIC_DNS), else forwarding. */
  #without(req: Request, wildcard: TableEntry): Outcome {
    const r = wildcard.record;
    if (r.ipv4.length + r.ipv6.length === 0) return PASS;
    return req.trace
      ? wildcard.preview(req.msg, req.q, req.limit)
      : wildcard.respond(req.msg, req.q, req.limit);
  }

  async #allocate(name: string, wildcard: string): Promise<PerNameReply> {
    const exists = this.#opts.exists;
    if (exists !== undefined && !(await exists(name))) return 'missing';
    return this.#opts.client.ask(name, wildcard);
  }

  #withTimeout(asked: Promise<PerNameReply>): Promise<PerNameReply> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<PerNameReply>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#opts.timeoutMs);
    });
    return Promise.race([asked, late]).finally(() => clearTimeout(timer));
  }
}
