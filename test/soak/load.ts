// The soak's client: a bounded mix of UDP and TCP queries for table names (fixed, flipping, VIPs),
// cached names (a few, asked over and over) and forwarded names (each new), every answer checked.
import dnsPacket from 'dns-packet';
import type { ServerAddress } from '../../bench/lib/dns-probe.js';
import { askTcp, askUdp } from '../../bench/lib/good-queries.js';
import { syntheticAddress } from '../../bench/servers/synthetic-upstream.js';
import { FLIP_ADDRESSES, FLIP_HOST } from './manifests.js';
import type { FlappingUpstream } from './upstream-flap.js';

export type Kind = 'table' | 'flip' | 'vip' | 'cached' | 'forwarded';
export const KINDS: readonly Kind[] = ['table', 'flip', 'vip', 'cached', 'forwarded'];

/** Names of examples/ and their one address (Services' cluster IPs, a ServiceEntry's address). */
const TABLE: readonly [string, string][] = [
  ['productpage.default.svc.cluster.local', '10.96.0.10'],
  ['ratings.default.svc.cluster.local', '10.96.0.12'],
  ['api.partner.com', '192.0.2.10'],
];
const CACHED_NAMES = Array.from({ length: 50 }, (_, i) => `c${i}.cached.soak`);
/** Longer than the forward budget (5 s), so a slow SERVFAIL is still seen as an answer. */
const CLIENT_TIMEOUT_MS = 6000;
/** After an outage ends, SERVFAILs may still come for a moment (health probes, queries in flight). */
const OUTAGE_GRACE_MS = 1000;
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export interface KindCounts {
  asked: number;
  ok: number;
  /** SERVFAIL while the upstream was down (or just back): expected for cached and forwarded names. */
  servfailInOutage: number;
  /** Cached names answered during an outage with the right address (RFC 8767 stale, or still fresh). */
  okInOutage: number;
  /** Any other rcode, or SERVFAIL with the upstream up. */
  errors: number;
  /** NOERROR with addresses other than the expected ones. */
  wrong: number;
  unanswered: number;
  /** Flip only: answers of each value. */
  values: Record<string, number>;
}

export interface LoadReport {
  byKind: Record<Kind, KindCounts>;
  byProtocol: { udp: number; tcp: number };
  /** Ticks that sent nothing because the in-flight bound was reached. */
  skipped: number;
  /** UDP replies with another ID than the socket's query (see askUdp). */
  strays: { count: number; examples: string[] };
  /** The first problems seen, for the summary. */
  examples: string[];
}

interface Target {
  kind: Kind;
  name: string;
  accept: (addresses: string[]) => boolean;
}

export class SoakLoad {
  private readonly counts = Object.fromEntries(
    KINDS.map((k) => [
      k,
      { asked: 0, ok: 0, servfailInOutage: 0, okInOutage: 0, errors: 0, wrong: 0, unanswered: 0, values: {} },
    ]),
  ) as Record<Kind, KindCounts>;
  private readonly protocols = { udp: 0, tcp: 0 };
  private readonly examples: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sequence = 0;
  private skipped = 0;
  private strays = 0;
  private readonly strayExamples: string[] = [];
  private id = 0;

  constructor(
    private readonly server: ServerAddress,
    private readonly upstream: FlappingUpstream,
    /** VIP host → its v4 VIP, read from /debug/vips before the load starts. */
    private readonly vips: ReadonlyMap<string, string>,
    private readonly opts: { perTick: number; tickMs: number; maxInFlight: number; tcpShare: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      for (let i = 0; i < this.opts.perTick; i++) {
        if (this.inFlight.size >= this.opts.maxInFlight) {
          this.skipped++;
          return;
        }
        const p = this.askOne(this.pick());
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
      }
    }, this.opts.tickMs);
  }

  /** 40% table names (fixed, flipping, VIP), 30% cached, 30% forwarded. */
  private pick(): Target {
    const n = this.sequence++;
    const r = n % 10;
    if (r < 2) {
      const [name, address] = TABLE[n % TABLE.length];
      return { kind: 'table', name, accept: (a) => a.length === 1 && a[0] === address };
    }
    if (r === 2)
      return {
        kind: 'flip',
        name: FLIP_HOST,
        accept: (a) => a.length === 1 && FLIP_ADDRESSES.includes(a[0] as never),
      };
    if (r === 3) {
      const hosts = [...this.vips.keys()];
      const host = hosts[n % hosts.length];
      const vip = this.vips.get(host);
      return { kind: 'vip', name: host, accept: (a) => a.length === 1 && a[0] === vip };
    }
    const name = r < 7 ? CACHED_NAMES[n % CACHED_NAMES.length] : `u${n}.forwarded.soak`;
    const address = syntheticAddress(name);
    return { kind: r < 7 ? 'cached' : 'forwarded', name, accept: (a) => a.length === 1 && a[0] === address };
  }

  private async askOne(t: Target): Promise<void> {
    this.id = (this.id + 1) & 0xffff;
    const id = this.id;
    const tcp = Math.random() < this.opts.tcpShare;
    this.protocols[tcp ? 'tcp' : 'udp']++;
    const query = dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: t.name, type: 'A', class: 'IN' }],
    });
    const asked = performance.now();
    const raw = tcp
      ? await askTcp(this.server, query, CLIENT_TIMEOUT_MS)
      : await askUdp(this.server, query, CLIENT_TIMEOUT_MS, (stray) => this.stray(stray));
    const c = this.counts[t.kind];
    c.asked++;
    const where = `${t.kind} ${t.name} over ${tcp ? 'TCP' : 'UDP'}`;
    if (typeof raw === 'string') {
      c.unanswered++;
      return this.example(`${where}: ${raw}`);
    }
    let msg: dnsPacket.Packet;
    try {
      msg = dnsPacket.decode(raw);
    } catch (err) {
      c.errors++;
      return this.example(`${where}: unparsable reply (${(err as Error).message})`);
    }
    const rcode = raw[3] & 0x0f;
    const outage = this.upstream.downDuring(asked - OUTAGE_GRACE_MS, performance.now());
    const addresses = (msg.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : []));
    const upstreamKind = t.kind === 'cached' || t.kind === 'forwarded';
    if (msg.id !== id) {
      c.errors++;
      this.example(`${where}: reply ID ${msg.id}, asked ${id}`);
    } else if (rcode === 2 && outage && upstreamKind) {
      c.servfailInOutage++;
    } else if (rcode !== 0) {
      c.errors++;
      this.example(`${where}: ${RCODE_NAMES[rcode] ?? rcode}${outage ? ' (upstream down)' : ''}`);
    } else if (!t.accept(addresses)) {
      c.wrong++;
      this.example(`${where}: [${addresses.join(', ')}]`);
    } else {
      c.ok++;
      if (outage && upstreamKind) c.okInOutage++;
      if (t.kind === 'flip') c.values[addresses[0]] = (c.values[addresses[0]] ?? 0) + 1;
    }
  }

  /** A reply for an earlier socket that had this one's port: counted, with its question, to show where it came from. */
  private stray(raw: Buffer): void {
    this.strays++;
    let what = 'unparsable';
    try {
      const m = dnsPacket.decode(raw);
      what = `${m.questions?.[0]?.name} rcode ${raw[3] & 0x0f} id ${m.id}`;
    } catch {
      // Left as unparsable.
    }
    if (this.strayExamples.length < 10) this.strayExamples.push(what);
  }

  private example(text: string): void {
    if (this.examples.length < 20) this.examples.push(text);
  }

  /** Stops sending and waits for the answers still due (each bounded by the client's timeout). */
  async stop(): Promise<LoadReport> {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
    return {
      byKind: this.counts,
      byProtocol: { ...this.protocols },
      skipped: this.skipped,
      strays: { count: this.strays, examples: [...this.strayExamples] },
      examples: [...this.examples],
    };
  }
}
