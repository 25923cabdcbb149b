// The cache stage, between the table and the upstream stage (SPEC §4 "Cache"). It answers what it
// holds fresh; for a miss it asks upstream itself, so it can keep the answer, share one upstream
// query among identical misses, and fall back to a stale answer when upstream fails (RFC 8767).
import { CLASS_IN, QTYPE } from '../dns/index.js';
import {
  type CacheEntry,
  type CacheHit,
  cacheKey,
  type DnsCache,
  type ForwardFailure,
  type Prepared,
  prepareAnswer,
  renderAnswer,
} from '../upstream/index.js';
import { failureAnswer } from './failures.js';
import { type CacheReuse, type Outcome, PASS, type Request, type Stage } from './pipeline.js';
import { forwardFor, type UpstreamClient } from './stages.js';

/** Runs `fn` after `ms` milliseconds on the clock the cache lives by; returns its cancel function. */
export type Schedule = (ms: number, fn: () => void) => () => void;

const realTimers: Schedule = (ms, fn) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

export interface CacheStageOptions {
  cache: DnsCache;
  /** Timers on the cache's clock (tests drive both with one fake clock). Default: real timers. */
  schedule?: Schedule;
  upstream: UpstreamClient;
  /**
   * Names the local table answers are never cached: the table stage comes first, and this check
   * covers a name that joined the table while its upstream query was in flight.
   */
  isLocal(qkey: string): boolean;
}

/** An upstream query for one cache key: the leader's answer (its ID and question), or why there is none. */
type Flight = { reply: Buffer; prepared: Prepared } | { reply: null; failure: ForwardFailure | 'late' };

/** Types a cache must not answer from a stored reply: ANY (RFC 8482), zone transfers, meta types. */
const UNCACHED_TYPES = new Set<number>([QTYPE.ANY, QTYPE.AXFR, QTYPE.IXFR, QTYPE.OPT]);

export class CacheStage implements Stage, CacheReuse {
  readonly name = 'cache';
  private readonly cache: DnsCache;
  private readonly upstream: UpstreamClient;
  private readonly isLocal: (qkey: string) => boolean;
  private readonly schedule: Schedule;
  /** Upstream queries in flight by cache key: identical misses wait for the same one. */
  private readonly flights = new Map<string, Promise<Flight>>();

  constructor(opts: CacheStageOptions) {
    this.cache = opts.cache;
    this.upstream = opts.upstream;
    this.isLocal = opts.isLocal;
    this.schedule = opts.schedule ?? realTimers;
  }

  handle(req: Request): Outcome | Promise<Outcome> {
    const q = req.q;
    if (q.qclass !== CLASS_IN || UNCACHED_TYPES.has(q.qtype)) return PASS;
    const key = cacheKey(q);
    if (req.trace) return this.dryRun(req, key);
    const hit = this.cache.lookup(key);
    if (hit !== undefined) {
      const out = renderAnswer(hit.entry.answer, req.msg, q, hit.age, undefined, hit.entry.ttl);
      if (out !== null) {
        req.source = 'cache';
        this.prefetch(req, key, hit);
        const note = req.note;
        if (note !== undefined) {
          note.kind = 'cache';
          note.cache = this;
          note.hit = hit;
        }
        return out;
      }
    }
    return this.fill(req, key);
  }

  /**
   * A hit on `entry` answered from a template (AnswerNote): its age, counted as handle() counts a hit;
   * -1 when it is no longer the fresh entry for its key, or is due a prefetch (handle() starts that).
   */
  reuse(entry: CacheEntry): number {
    const age = this.cache.freshAge(entry);
    // handle()'s lookup counts the hit before it looks at popularity: this one is counted after.
    if (age < 0 || this.prefetchDue(entry, age, entry.hits + 1)) return -1;
    this.cache.noteHit(entry);
    return age;
  }

  now(): number {
    return this.cache.now();
  }

  purges(): number {
    return this.cache.purges;
  }

  reusableUntil(entry: CacheEntry): number {
    const s = this.cache.settings;
    let seconds = entry.ttl;
    if (s.prefetch && entry.ttl >= s.prefetchMinTtl) {
      // The first whole age prefetchDue() could say yes at, as it computes it.
      const due = entry.ttl * s.prefetchThreshold;
      let age = Math.max(0, Math.ceil(entry.ttl - due) - 1);
      if (entry.ttl - age > due) age++;
      seconds = Math.min(seconds, age);
    }
    return entry.storedAt + seconds * 1000;
  }

  private async fill(req: Request, key: string): Promise<Outcome> {
    let flight = this.flights.get(key);
    const leader = flight === undefined;
    if (flight === undefined) flight = this.fetch(req, key);
    else this.cache.noteCoalesced();
    const done = await this.staleAfter(flight, key);
    req.source = 'upstream';
    if (done.reply !== null) {
      if (leader) return done.reply;
      const shared = done.prepared.answer ? renderAnswer(done.prepared.answer, req.msg, req.q, 0) : null;
      // A reply that cannot be kept (malformed past its question) is the leader's alone.
      return shared ?? failureAnswer(req, 'failed');
    }
    // `late`: the stale entry was there when the timer started, and stale() only ages out.
    return (
      this.serveStale(req, key) ?? failureAnswer(req, done.failure === 'late' ? 'timeout' : done.failure)
    );
  }

  /** One upstream query for `key`, registered so identical misses join it; stores what may be kept. */
  private fetch(req: Request, key: string): Promise<Flight> {
    const q = req.q;
    const limits = this.cache.settings;
    const flight = forwardFor(this.upstream, req)
      .then((result): Flight => {
        if (result.kind !== 'answered') return { reply: null, failure: result.kind };
        const prepared = prepareAnswer(result.reply, limits, result);
        if (prepared.answer && prepared.uncacheable === null && !this.isLocal(q.qkey)) {
          this.cache.store(key, q, prepared.answer, prepared.ttl);
        }
        return { reply: result.reply, prepared };
      })
      .finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }

  /**
   * RFC 8767 §5's client response timer: a waiting client with a stale entry at hand gets it after
   * `staleAfterMs` instead of waiting out the whole upstream budget (glibc gives up after 5 s).
   */
  private staleAfter(flight: Promise<Flight>, key: string): Promise<Flight> {
    if (this.cache.stale(key) === undefined) return flight;
    let cancel: () => void = () => {};
    const late = new Promise<Flight>((resolve) => {
      cancel = this.schedule(this.cache.settings.staleAfterMs, () =>
        resolve({ reply: null, failure: 'late' }),
      );
    });
    return Promise.race([flight, late]).finally(() => cancel());
  }

  /** RFC 8767: the expired entry, with the stale TTL, when upstream failed; counted unless a dry run. */
  private serveStale(req: Request, key: string): Buffer | null {
    const stale = req.trace ? this.cache.stale(key) : this.cache.serveStale(key);
    if (stale === undefined) return null;
    const out = renderAnswer(stale.entry.answer, req.msg, req.q, 0, this.cache.settings.staleTtl);
    if (out === null) return null;
    req.source = 'stale';
    return out;
  }

  /**
   * `explain`'s path through this stage (Request.trace): the same decisions, fresh entry, else
   * upstream, else stale, with nothing counted, touched, stored or shared with a flight in progress.
   */
  private async dryRun(req: Request, key: string): Promise<Outcome> {
    const hit = this.cache.peek(key);
    const fresh = hit !== undefined && hit.age < hit.entry.ttl;
    const seen = { hit, fresh, servedStale: false };
    req.trace!.cache = seen;
    if (fresh) {
      const out = renderAnswer(hit.entry.answer, req.msg, req.q, hit.age, undefined, hit.entry.ttl);
      if (out !== null) {
        req.source = 'cache';
        return out;
      }
    }
    const result = await forwardFor(this.upstream, req);
    req.source = 'upstream';
    if (result.kind === 'answered') return result.reply;
    const stale = this.serveStale(req, key);
    seen.servedStale = stale !== null;
    return stale ?? failureAnswer(req, result.kind);
  }

  /** A popular entry near expiry is refreshed in the background, so its clients never see a miss. */
  private prefetch(req: Request, key: string, hit: CacheHit): void {
    if (!this.prefetchDue(hit.entry, hit.age, hit.entry.hits) || this.flights.has(key)) return;
    this.cache.notePrefetch();
    // A copy: the listener's buffer is the client's, the refresh outlives this request.
    void this.fetch({ ...req, msg: Buffer.from(req.msg), borrowed: false, note: undefined }, key);
  }

  /** Popular and near expiry (the refresh may be in flight already). */
  private prefetchDue(entry: CacheEntry, age: number, hits: number): boolean {
    const s = this.cache.settings;
    if (!s.prefetch || hits < s.prefetchMinHits || entry.ttl < s.prefetchMinTtl) return false;
    return entry.ttl - age <= entry.ttl * s.prefetchThreshold;
  }
}
