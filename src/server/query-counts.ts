// The pipeline's counts behind the request metrics (metrics.ts): requests by protocol and qtype and
// responses by source and rcode. Counting is a typed-array increment per query (no labels, no
// allocation on the hot path); the samples are built at scrape time. No prom-client here: the agent
// counts from its first query and registers the metrics once its listeners are up.
import { keyToName, QTYPE, qtypeName, RCODE_MASK } from '../dns/index.js';
import type { Sample } from '../metrics.js';
import type { AnswerSource, PipelineObserver, Request, Transport } from './pipeline.js';

const PROTOCOLS: Transport[] = ['udp', 'tcp'];
/** The qtypes with their own label value; any other is "other". */
const QTYPES: [string, number][] = [
  ['A', QTYPE.A],
  ['AAAA', QTYPE.AAAA],
  ['CNAME', QTYPE.CNAME],
  ['MX', QTYPE.MX],
  ['TXT', QTYPE.TXT],
  ['SRV', QTYPE.SRV],
  ['PTR', QTYPE.PTR],
  ['NS', QTYPE.NS],
  ['SOA', QTYPE.SOA],
  ['SVCB', 64],
  ['HTTPS', 65],
  ['ANY', QTYPE.ANY],
  ['other', -1],
];
const SOURCES = ['table', 'cache', 'stale', 'upstream', 'none', 'refused', 'autopath'] as const;
const RCODE_LABELS = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
/** rcodes 0-15, and one slot for queries dropped without an answer. */
const RCODE_SLOTS = 17;
const DROPPED = 16;

const qtypeSlot = new Uint8Array(65536).fill(QTYPES.length - 1);
for (const [i, [, code]] of QTYPES.entries()) if (code >= 0) qtypeSlot[code] = i;

function sourceSlot(source: string): number {
  switch (source) {
    case 'table':
      return 0;
    case 'cache':
      return 1;
    case 'stale':
      return 2;
    case 'upstream':
      return 3;
    case 'refused':
      return 5;
    case 'autopath':
      return 6;
    default:
      return 4;
  }
}

const rcodeLabel = (slot: number) => (slot === DROPPED ? 'dropped' : (RCODE_LABELS[slot] ?? `RCODE${slot}`));

export interface QueryLogger {
  info(fields: Record<string, unknown>, msg: string): void;
}

export interface QueryCountsOptions {
  /** Share of answered queries logged (SPEC §8 `--log-queries`); 0 or absent: none. */
  logQueries?: { sample: number; logger: QueryLogger; random: () => number };
}

/** A copy of the counts, plain arrays (they cross threads: answering workers, `--workers`). */
export interface QueryCountsSnapshot {
  requests: number[];
  responses: number[];
  malformed: number[];
}

/** The pipeline's observer: counts every message and logs a sample of queries. */
export class QueryCounts {
  private readonly requests = new Float64Array(PROTOCOLS.length * QTYPES.length);
  private readonly responses = new Float64Array(SOURCES.length * RCODE_SLOTS);
  private readonly malformed = new Float64Array(PROTOCOLS.length);
  private readonly log: QueryCountsOptions['logQueries'];
  /** Counts kept on other threads, added to every read (`include`). */
  private more: () => readonly QueryCountsSnapshot[] = () => [];
  /** Run before every read: listeners that count some answers late add them (settleWith). */
  private readonly settlers = new Set<() => void>();

  /** Undefined while queries are logged: a sample is drawn per query, so each must be seen (pipeline.ts). */
  readonly answeredMany: PipelineObserver['answeredMany'];

  constructor(opts: QueryCountsOptions = {}) {
    this.log = opts.logQueries && opts.logQueries.sample > 0 ? opts.logQueries : undefined;
    this.answeredMany = this.log === undefined ? this.countMany : undefined;
  }

  private readonly countMany = (
    transport: Transport,
    qtype: number,
    source: AnswerSource,
    rcode: number,
    n: number,
  ): void => {
    this.requests[(transport === 'udp' ? 0 : 1) * QTYPES.length + qtypeSlot[qtype]] += n;
    this.responses[sourceSlot(source) * RCODE_SLOTS + (rcode & RCODE_MASK)] += n;
  };

  readonly answered = (req: Request, source: string, answer: Buffer | null): void => {
    const p = req.transport === 'udp' ? 0 : 1;
    this.requests[p * QTYPES.length + qtypeSlot[req.q.qtype]]++;
    const rcode = answer === null || answer.length < 4 ? DROPPED : answer[3] & RCODE_MASK;
    this.responses[sourceSlot(source) * RCODE_SLOTS + rcode]++;
    if (this.log !== undefined && this.log.random() < this.log.sample) {
      this.log.logger.info(
        {
          qname: keyToName(req.q.qkey),
          qtype: qtypeName(req.q.qtype),
          protocol: req.transport,
          source,
          rcode: rcodeLabel(rcode),
        },
        'query',
      );
    }
  };

  readonly rejected = (transport: Transport): void => {
    this.malformed[transport === 'udp' ? 0 : 1]++;
  };

  readonly settleWith = (settle: () => void): (() => void) => {
    this.settlers.add(settle);
    return () => this.settlers.delete(settle);
  };

  snapshot(): QueryCountsSnapshot {
    for (const settle of this.settlers) settle();
    return {
      requests: Array.from(this.requests),
      responses: Array.from(this.responses),
      malformed: Array.from(this.malformed),
    };
  }

  /** From now on, every read adds the counts `more()` returns (the answering workers' last ones). */
  include(more: () => readonly QueryCountsSnapshot[]): void {
    this.more = more;
  }

  /** This thread's counts plus those included. */
  private sums(): {
    requests: ArrayLike<number>;
    responses: ArrayLike<number>;
    malformed: ArrayLike<number>;
  } {
    const more = this.more();
    for (const settle of this.settlers) settle();
    if (more.length === 0)
      return { requests: this.requests, responses: this.responses, malformed: this.malformed };
    const sum = this.snapshot();
    for (const m of more) {
      for (let i = 0; i < sum.requests.length; i++) sum.requests[i] += m.requests[i] ?? 0;
      for (let i = 0; i < sum.responses.length; i++) sum.responses[i] += m.responses[i] ?? 0;
      for (let i = 0; i < sum.malformed.length; i++) sum.malformed[i] += m.malformed[i] ?? 0;
    }
    return sum;
  }

  total(): number {
    const { requests, malformed } = this.sums();
    let n = 0;
    for (let i = 0; i < requests.length; i++) n += requests[i];
    for (let i = 0; i < malformed.length; i++) n += malformed[i];
    return n;
  }

  requestSamples(): Sample[] {
    const { requests, malformed } = this.sums();
    const out: Sample[] = [];
    for (const [p, protocol] of PROTOCOLS.entries()) {
      for (const [t, [qtype]] of QTYPES.entries()) {
        const n = requests[p * QTYPES.length + t];
        if (n > 0) out.push([{ protocol, qtype }, n]);
      }
      if (malformed[p] > 0) out.push([{ protocol, qtype: 'invalid' }, malformed[p]]);
    }
    return out;
  }

  responseSamples(): Sample[] {
    const { responses } = this.sums();
    const out: Sample[] = [];
    for (const [s, source] of SOURCES.entries()) {
      for (let r = 0; r < RCODE_SLOTS; r++) {
        const n = responses[s * RCODE_SLOTS + r];
        if (n > 0) out.push([{ source, rcode: rcodeLabel(r) }, n]);
      }
    }
    return out;
  }
}
