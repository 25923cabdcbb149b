// The cache index: answers by (name, type, class, DO bit), LRU-bounded by entries and bytes
// (SPEC §4, §10). Time comes from an injected clock, so tests count TTLs down without sleeping.
import { DEFAULTS } from '../defaults.js';
import { keyToName, type Query } from '../dns/index.js';
import type { CachedAnswer } from './cache-answer.js';

export interface CacheSettings {
  maxEntries: number;
  maxBytes: number;
  maxTtl: number;
  maxNegativeTtl: number;
  serveStale: boolean;
  staleMaxAge: number;
  staleTtl: number;
  staleAfterMs: number;
  prefetch: boolean;
  prefetchMinHits: number;
  prefetchThreshold: number;
  prefetchMinTtl: number;
}

export interface CacheEntry {
  key: string;
  /** The question name key (dns/name.ts), to drop entries the name table now answers. */
  qkey: string;
  qtype: number;
  do: boolean;
  answer: CachedAnswer;
  /** Seconds the answer is fresh. */
  ttl: number;
  /** Clock milliseconds when stored. */
  storedAt: number;
  /** Hits since stored (prefetch popularity). */
  hits: number;
  size: number;
  /** Dropped from the index (evicted, replaced, purged, expired): a holder of the entry can tell. */
  removed: boolean;
  /** The cache's use count at this entry's store or last hit (its recency). */
  usedAt: number;
  /** The use count when it was put at the recent end of the index: a hit since then gives it a second chance. */
  placedAt: number;
}

export interface CacheHit {
  entry: CacheEntry;
  /** Whole seconds since the entry was stored. */
  age: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
  inserts: number;
  evictions: number;
  stale: number;
  prefetches: number;
  coalesced: number;
}

export interface CacheStats extends CacheCounters {
  entries: number;
  bytes: number;
  maxEntries: number;
  maxBytes: number;
}

/** Bookkeeping per entry beyond the answer bytes: Map slot, objects, arrays (an estimate). */
const ENTRY_OVERHEAD = 160;

/** The key: the lower-cased name key, then type, class and DO as one character each. */
export function cacheKey(q: Query): string {
  return cacheKeyOf(q.qkey, q.qtype, q.qclass, q.edns?.do === true);
}

export function cacheKeyOf(qkey: string, qtype: number, qclass: number, dnssecOk: boolean): string {
  return qkey + String.fromCharCode(qtype, qclass, dnssecOk ? 1 : 0);
}

/** What an entry is, beside its answer: its question and whether the client set DO. */
export interface CacheQuestion {
  qkey: string;
  qtype: number;
  do: boolean;
}

export function cacheSettings(partial: Partial<CacheSettings> = {}): CacheSettings {
  return { ...DEFAULTS.cache, ...partial };
}

export class DnsCache {
  readonly settings: CacheSettings;
  readonly #counters: CacheCounters = {
    hits: 0,
    misses: 0,
    inserts: 0,
    evictions: 0,
    stale: 0,
    prefetches: 0,
    coalesced: 0,
  };
  /**
   * In the order entries were put at the recent end: stored, or given a second chance by evict() (a
   * hit only notes its use). Eviction takes from the front: an entry hit since it was put there goes to
   * the end instead (second chance, as CLOCK does), so a hit costs no Map delete and insert. Moving
   * a quarter of the hits in a full cache (the approximation before this) was 5 % of the CPU of
   * answering cache hits (issue 12).
   */
  private readonly entries = new Map<string, CacheEntry>();
  /** The clock entries are stored and aged by (ms). */
  readonly now: () => number;
  #purges = 0;
  private bytes = 0;
  /** Stores and hits so far: an entry's usedAt. */
  private uses = 0;

  private readonly onEvict: () => void;

  /** `onEvict`: called for each answer evicted to stay within the bounds (logged per burst). */
  constructor(settings: CacheSettings, now: () => number, onEvict: () => void = () => {}) {
    this.settings = settings;
    this.now = now;
    this.onEvict = onEvict;
  }

  /** A fresh entry (counted as a hit, moved to the recent end), or undefined (a miss). */
  lookup(key: string): CacheHit | undefined {
    const entry = this.entries.get(key);
    const age = entry && this.ageOf(entry);
    if (entry === undefined || age === undefined || age >= entry.ttl) {
      if (entry && age !== undefined && !this.keptStale(entry, age)) this.remove(entry);
      this.#counters.misses++;
      return undefined;
    }
    this.#counters.hits++;
    entry.hits++;
    this.touch(entry);
    return { entry, age };
  }

  /** The age of `entry` while it is the fresh entry for its key, else -1; counts and moves nothing. */
  freshAge(entry: CacheEntry): number {
    if (entry.removed) return -1;
    const age = this.ageOf(entry);
    return age < entry.ttl ? age : -1;
  }

  /** A hit on an entry found without lookup() (freshAge, the UDP templates): counted and moved as lookup() does. */
  noteHit(entry: CacheEntry): void {
    this.#counters.hits++;
    entry.hits++;
    this.touch(entry);
  }

  private touch(entry: CacheEntry): void {
    entry.usedAt = ++this.uses;
  }

  /** RFC 8767: an expired entry still within the stale window, when serve-stale is on. */
  stale(key: string): CacheHit | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    const age = this.ageOf(entry);
    return age >= entry.ttl && this.keptStale(entry, age) ? { entry, age } : undefined;
  }

  /** The stale entry (see stale()), counted as served: the cache stage answers with it. */
  serveStale(key: string): CacheHit | undefined {
    const hit = this.stale(key);
    if (hit !== undefined) this.#counters.stale++;
    return hit;
  }

  /** A miss that joined an identical upstream query in flight. */
  noteCoalesced(): void {
    this.#counters.coalesced++;
  }

  /** A popular entry refreshed before it expired. */
  notePrefetch(): void {
    this.#counters.prefetches++;
  }

  /** An entry fresh or stale, without counting or reordering (for /debug and `explain`). */
  peek(key: string): CacheHit | undefined {
    const entry = this.entries.get(key);
    return entry && { entry, age: this.ageOf(entry) };
  }

  store(key: string, q: Query, answer: CachedAnswer, ttl: number): void {
    this.insert(key, { qkey: q.qkey, qtype: q.qtype, do: q.edns?.do === true }, answer, ttl, 0, 0);
  }

  /**
   * An answer kept elsewhere (a restart's snapshot, issue 14 item 3), stored as `ageMs` old with its
   * hits, unless the key holds an answer already (it is newer). Returns whether it was stored.
   */
  restore(
    key: string,
    q: CacheQuestion,
    answer: CachedAnswer,
    ttl: number,
    ageMs: number,
    hits: number,
  ): boolean {
    if (this.entries.has(key)) return false;
    return this.insert(key, q, answer, ttl, ageMs, hits);
  }

  /** Milliseconds since `entry` was stored (a snapshot keeps them). */
  ageMs(entry: CacheEntry): number {
    return Math.max(0, this.now() - entry.storedAt);
  }

  /** Every entry, fresh or stale, least recently used first: the order restore() puts them back in. */
  entriesByRecency(): CacheEntry[] {
    return [...this.entries.values()].sort((x, y) => x.usedAt - y.usedAt);
  }

  private insert(
    key: string,
    q: CacheQuestion,
    answer: CachedAnswer,
    ttl: number,
    ageMs: number,
    hits: number,
  ): boolean {
    const size = ENTRY_OVERHEAD + answer.body.length + key.length * 2 + answer.ttls.length * 16;
    if (size > this.settings.maxBytes || this.settings.maxEntries < 1) return false;
    const old = this.entries.get(key);
    if (old) this.remove(old);
    // Room first: evicted after it went in, the new entry could itself be the one left unhit at the front.
    this.evict(size);
    const entry: CacheEntry = {
      key,
      qkey: q.qkey,
      qtype: q.qtype,
      do: q.do,
      answer,
      ttl,
      storedAt: this.now() - ageMs,
      hits,
      size,
      removed: false,
      usedAt: ++this.uses,
      placedAt: this.uses,
    };
    this.entries.set(key, entry);
    this.bytes += size;
    this.#counters.inserts++;
    return true;
  }

  /** Drops every entry `doomed` selects (e.g. names the new name table answers). */
  purge(doomed: (entry: CacheEntry) => boolean): number {
    let n = 0;
    for (const entry of this.entries.values()) {
      if (doomed(entry)) {
        this.remove(entry);
        n++;
      }
    }
    if (n > 0) this.#purges++;
    return n;
  }

  /** Purges that dropped something, counted: an answer kept elsewhere from before one may be gone. */
  get purges(): number {
    return this.#purges;
  }

  /** Entries from the most recently used, optionally only those for one name ("foo.example."). */
  list(name?: string): CacheHit[] {
    const out: CacheHit[] = [];
    for (const entry of this.entries.values()) {
      if (name === undefined || keyToName(entry.qkey) === name) out.push({ entry, age: this.ageOf(entry) });
    }
    return out.sort((x, y) => y.entry.usedAt - x.entry.usedAt);
  }

  stats(): CacheStats {
    return {
      ...this.#counters,
      entries: this.entries.size,
      bytes: this.bytes,
      maxEntries: this.settings.maxEntries,
      maxBytes: this.settings.maxBytes,
    };
  }

  private ageOf(entry: CacheEntry): number {
    return Math.max(0, Math.floor((this.now() - entry.storedAt) / 1000));
  }

  private keptStale(entry: CacheEntry, age: number): boolean {
    return this.settings.serveStale && age < entry.ttl + this.settings.staleMaxAge;
  }

  /** Evicts until an entry of `size` bytes more fits. */
  private evict(size: number): void {
    const { maxEntries, maxBytes } = this.settings;
    while (this.entries.size >= maxEntries || this.bytes + size > maxBytes) {
      const oldest = this.entries.values().next().value;
      if (oldest === undefined) return;
      if (oldest.usedAt > oldest.placedAt) {
        // Hit since it was put at the recent end: back there, once per hit (the loop ends).
        oldest.placedAt = oldest.usedAt;
        this.entries.delete(oldest.key);
        this.entries.set(oldest.key, oldest);
        continue;
      }
      this.remove(oldest);
      this.#counters.evictions++;
      this.onEvict();
    }
  }

  private remove(entry: CacheEntry): void {
    if (this.entries.get(entry.key) !== entry) return;
    this.entries.delete(entry.key);
    entry.removed = true;
    this.bytes -= entry.size;
  }
}
