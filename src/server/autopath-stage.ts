// Autopath for every name (issue 14 item 2). With ndots:5 a pod's lookup of `api.github.com` first
// asks `api.github.com.<ns>.svc.cluster.local`, then the other search domains, each an NXDOMAIN round
// trip upstream, before the name itself. The table shortcuts this for mesh names only (SPEC §3.9). For
// a question `<name>.<first search domain>` whose `<name>` is not in the table, this stage resolves
// `<name>` itself through the stages after it (cache, then upstream) and, when it exists, answers
// `CNAME <name>` plus its records: the client's first try ends the search. CoreDNS's autopath does the
// same from the pod's search path, which it must first find by the client's IP; the agent knows its
// workload's search list. When `<name>` does not exist (or upstream fails) the question goes on as
// before, so a name that exists only under a search domain (a pod name) still resolves.
import {
  CLASS_IN,
  dnsCodec,
  FLAG_CD,
  FLAG_QR,
  FLAG_RA,
  FLAG_RD,
  HEADER_SIZE,
  keyToName,
  MAX_MESSAGE_SIZE,
  nameToKey,
  OPT_SIZE,
  QTYPE,
  RCODE,
  readQuery,
  writeOpt,
} from '../dns/index.js';
import type { NameTable } from '../nametable/index.js';
import { buildQuery } from '../upstream/index.js';
import { keepMessage, type Outcome, PASS, type Request, type Stage } from './pipeline.js';

/** TTL of the CNAME when `<name>` answered without records (NODATA): the table's TTL (SPEC §4). */
const NODATA_CNAME_TTL = 30;
/** Types never synthesised: meta queries (RFC 8482 ANY, zone transfers, OPT). */
const SKIPPED_TYPES = new Set<number>([QTYPE.ANY, QTYPE.AXFR, QTYPE.IXFR, QTYPE.OPT]);

export interface AutopathOptions {
  /** The workload's first search domain, e.g. "default.svc.cluster.local" (with or without the dot); none: off. */
  searchDomain: string | undefined;
  /** The current name table; undefined before the first (then nothing is known to be a mesh name). */
  table: () => NameTable | undefined;
  /** The stages that resolve `<name>`: the cache (if on) and the upstream stage. */
  next: readonly Stage[];
  /** A query ID for the inner question; default Math.random. */
  random?: () => number;
}

export interface AutopathStats {
  /** Questions answered with CNAME <name> and its records. */
  answered: number;
  /** Questions passed on because `<name>` did not exist or could not be resolved. */
  passed: number;
}

export class AutopathStage implements Stage {
  readonly name = 'autopath';
  #suffix: string | undefined;
  readonly #table: () => NameTable | undefined;
  readonly #next: readonly Stage[];
  readonly #random: () => number;
  readonly #stats: AutopathStats = { answered: 0, passed: 0 };

  constructor(opts: AutopathOptions) {
    this.#suffix = suffixKey(opts.searchDomain);
    this.#table = opts.table;
    this.#next = opts.next;
    this.#random = opts.random ?? Math.random;
  }

  /** SIGHUP: resolv.conf's search list changed (undefined: it has none now). */
  setSearchDomain(domain: string | undefined): void {
    this.#suffix = suffixKey(domain);
  }

  stats(): AutopathStats {
    return { ...this.#stats };
  }

  handle(req: Request): Outcome | Promise<Outcome> {
    const q = req.q;
    // A DNSSEC-aware client gets only what upstream signed.
    if (q.qclass !== CLASS_IN || SKIPPED_TYPES.has(q.qtype) || q.edns?.do) return PASS;
    const suffix = this.#suffix;
    if (suffix === undefined) return PASS;
    const target = targetOf(q.qkey, suffix);
    if (target === undefined) return PASS;
    const table = this.#table();
    if (table === undefined || table.lookup(target) !== undefined) return PASS;
    return this.#follow(req, keyToName(target));
  }

  async #follow(req: Request, target: string): Promise<Outcome> {
    keepMessage(req);
    const inner = buildQuery(target, req.q.qtype, Math.floor(this.#random() * 0x10000) & 0xffff);
    const q = readQuery(inner);
    if (typeof q === 'string') return PASS;
    const sub: Request = {
      msg: inner,
      q,
      transport: req.transport,
      limit: MAX_MESSAGE_SIZE,
      source: undefined,
    };
    // A dry run (explain) follows the name as a dry run too, and counts nothing.
    if (req.trace) sub.trace = {};
    let reply: Buffer | null = null;
    let from = '';
    for (const stage of this.#next) {
      const out = await stage.handle(sub);
      if (out === PASS) continue;
      reply = out;
      from = sub.source ?? stage.name;
      break;
    }
    const answer = reply === null ? undefined : synthesise(req, target, reply);
    if (req.trace) {
      const answered = answer !== undefined;
      const got = reply && reply.length >= HEADER_SIZE ? { from, rcode: reply[3]! & 0x0f } : {};
      req.trace.autopath = { target, answered, ...got, inner: sub.trace! };
    } else if (answer === undefined) this.#stats.passed++;
    else this.#stats.answered++;
    if (answer === undefined) return PASS;
    req.source = 'autopath';
    return answer;
  }
}

/** The wire key of the search domain as a suffix: its labels and the root. */
function suffixKey(domain: string | undefined): string | undefined {
  if (domain === undefined || domain === '' || domain === '.') return undefined;
  const fqdn = domain.endsWith('.') ? domain : `${domain}.`;
  return nameToKey(fqdn);
}

/** The key of `<name>` when `qkey` is `<name>.<suffix>` with at least one label before it. */
function targetOf(qkey: string, suffix: string): string | undefined {
  const cut = qkey.length - suffix.length;
  if (cut <= 0 || !qkey.endsWith(suffix)) return undefined;
  // The suffix must start on a label boundary: walk the labels (a label's bytes may look like a length).
  let i = 0;
  while (i < cut) i += qkey.charCodeAt(i) + 1;
  return i === cut ? `${qkey.slice(0, cut)}\x00` : undefined;
}

/**
 * The client's answer: its ID and question bytes, `CNAME <name>` first, then `<name>`'s records (and,
 * for NODATA, its authority section); undefined unless `<name>` exists (NOERROR).
 */
function synthesise(req: Request, target: string, reply: Buffer): Buffer | undefined {
  if (reply.length < HEADER_SIZE || (reply[3]! & 0x0f) !== RCODE.NOERROR) return undefined;
  const codec = dnsCodec();
  let theirs: ReturnType<typeof codec.decode>;
  try {
    theirs = codec.decode(reply);
  } catch {
    return undefined;
  }
  const records = (theirs.answers ?? []).filter((r) => r.type !== 'OPT');
  const ttl = records.reduce(
    (min, r) => Math.min(min, 'ttl' in r ? (r.ttl ?? 0) : 0),
    Number.MAX_SAFE_INTEGER,
  );
  const qname = keyToName(req.q.qkey).slice(0, -1);
  const cname = {
    name: qname,
    type: 'CNAME' as const,
    class: 'IN' as const,
    ttl: records.length > 0 ? ttl : NODATA_CNAME_TTL,
    data: target.slice(0, -1),
  };
  let out: Buffer;
  try {
    out = codec.encode({
      type: 'response',
      id: req.q.id,
      questions: theirs.questions?.map((question) => ({ ...question, name: qname })),
      answers: [cname, ...records],
      authorities: records.length > 0 ? [] : (theirs.authorities ?? []).filter((r) => r.type === 'SOA'),
    });
  } catch {
    return undefined;
  }
  const q = req.q;
  // Our flags (QR, RA, the client's RD and CD; NOERROR, not authoritative) and the client's question bytes.
  out.writeUInt16BE(FLAG_QR | FLAG_RA | (q.flags & (FLAG_RD | FLAG_CD)), 2);
  req.msg.copy(out, HEADER_SIZE, HEADER_SIZE, q.qEnd);
  if (q.edns === null) return out;
  const withOpt = Buffer.alloc(out.length + OPT_SIZE);
  out.copy(withOpt);
  writeOpt(withOpt, out.length, q);
  withOpt.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return withOpt;
}
