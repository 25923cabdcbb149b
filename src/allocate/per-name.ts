// Per-name VIPs under wildcard ServiceEntries (issue 14 item 5). One VIP for `*.db.example.com` on 5432
// cannot tell two databases apart by destination address (Istio's open problem for wildcard external
// hosts), so each concrete name asked under a per-name wildcard (eligibility.ts) becomes a host of its
// entry: the allocator gives it a VIP pair like any host, the table answers it, the proxy routes it to the
// name resolved upstream. Here: which names an entry holds, bounded (a cap and a rate per entry) and
// kept while asked (idle expiry; what expires is then an absent host: held, then held back).
//
// Each name is a copy of its entry with that one host, not one more host of the entry: a new name is then
// one object added (the allocator and the table builder work in proportion to it), where a longer host
// list would be an edit of the whole entry, every name's VIP and route redone (measured: 70 ms a name at
// 1,000 names held).
import type { ServiceEntry } from '../model/index.js';
import type { StoredAllocation } from './allocator.js';
import { perNameWildcard } from './eligibility.js';

export interface PerNameLimits {
  /** Names per entry with a VIP of their own (`--wildcard-vip-cap`); past it a name is forwarded without one. */
  cap: number;
  /** New names per entry per second (`--wildcard-vip-rate`), a token bucket holding as many. */
  ratePerSecond: number;
  /** A name not asked for this long loses its VIP (`--wildcard-vip-idle`). */
  idleMs: number;
}

/** `added`: given a VIP now; `known`: it had one; `cap`/`rate`: refused, answered without a VIP. */
export type PerNameAsk = 'added' | 'known' | 'cap' | 'rate';

interface Asked {
  wildcard: string;
  /** Milliseconds since the epoch. */
  askedAt: number;
}

interface EntryNames {
  names: Map<string, Asked>;
  tokens: number;
  refilledAt: number;
  /** Moves whenever `names` gains or loses one: the entry's copies are looked at again. */
  version: number;
}

const entryKey = (se: ServiceEntry) => `${se.meta.namespace}/${se.meta.name}`;
const NONE: ReadonlyMap<string, ServiceEntry> = new Map();

/** Whether `name` lies under `wildcard` (`*.db.example.com`) by one label or more. */
export function underWildcard(name: string, wildcard: string): boolean {
  const suffix = wildcard.slice(1);
  return name.length > suffix.length && name.endsWith(suffix) && !name.startsWith('.');
}

export class PerNameHosts {
  readonly #limits: PerNameLimits;
  readonly #entries = new Map<string, EntryNames>();
  /** Each entry's copies by name, made once per entry object and name (object identity is the delta). */
  readonly #copies = new WeakMap<ServiceEntry, { version: number; byName: Map<string, ServiceEntry> }>();
  /** Entries whose names changed since `takeChanged()`. */
  #changed = new Set<string>();

  constructor(limits: PerNameLimits) {
    this.#limits = limits;
  }

  get limits(): PerNameLimits {
    return this.#limits;
  }

  /** Names of a state file: per-name hosts present when it was written keep their VIPs across a restart. */
  restore(records: readonly StoredAllocation[], now: number): void {
    for (const r of records) {
      if (r.wildcard === undefined || r.absentSince !== undefined) continue;
      const askedAt = r.askedAt === undefined ? now : Date.parse(r.askedAt);
      this.#of(`${r.namespace}/${r.name}`, now).names.set(r.host, { wildcard: r.wildcard, askedAt });
    }
  }

  /** A name asked under `wildcard`, a per-name host of `se`; `now`: milliseconds since the epoch. */
  ask(se: ServiceEntry, wildcard: string, name: string, now: number): PerNameAsk {
    const key = entryKey(se);
    const e = this.#of(key, now);
    const known = e.names.get(name);
    if (known !== undefined) {
      known.askedAt = now;
      return 'known';
    }
    if (e.names.size >= this.#limits.cap) return 'cap';
    const rate = this.#limits.ratePerSecond;
    e.tokens = Math.min(rate, e.tokens + ((now - e.refilledAt) * rate) / 1000);
    e.refilledAt = now;
    if (e.tokens < 1) return 'rate';
    e.tokens -= 1;
    e.names.set(name, { wildcard, askedAt: now });
    e.version++;
    this.#changed.add(key);
    return 'added';
  }

  /** Names answered since the last report: each stays another `idleMs`. */
  touch(names: Iterable<string>, now: number): void {
    const wanted = new Set(names);
    for (const e of this.#entries.values()) {
      for (const [name, asked] of e.names) if (wanted.has(name)) asked.askedAt = Math.max(asked.askedAt, now);
    }
  }

  /** Drops the names not asked for `idleMs`; how many. Their hosts leave their entries (held, then held back). */
  expire(now: number): number {
    let dropped = 0;
    for (const [key, e] of this.#entries) {
      for (const [name, asked] of e.names) {
        if (now - asked.askedAt < this.#limits.idleMs) continue;
        e.names.delete(name);
        e.version++;
        this.#changed.add(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** When a name was last asked, for the state file. */
  askedAt(namespace: string, name: string, host: string): number | undefined {
    return this.#entries.get(`${namespace}/${name}`)?.names.get(host)?.askedAt;
  }

  /** Names held by each entry that has any, for the logs and /debug/vips. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, e] of this.#entries) if (e.names.size > 0) out.set(key, e.names.size);
    return out;
  }

  /** Whether any entry ever held a name (until then every entry is its own copy). */
  get active(): boolean {
    return this.#entries.size > 0;
  }

  /** The `namespace/name` of entries whose names changed since the last call. */
  takeChanged(): ReadonlySet<string> {
    const changed = this.#changed;
    this.#changed = new Set();
    return changed;
  }

  /**
   * One copy of `se` per name it holds, with that name as its one host (and `perNameOf` naming the
   * wildcard), by name; none while it holds none. A copy stays the same object while its name is held.
   */
  copies(se: ServiceEntry): ReadonlyMap<string, ServiceEntry> {
    const e = this.#entries.get(entryKey(se));
    if (e === undefined || e.names.size === 0) return NONE;
    const held = this.#copies.get(se);
    if (held?.version === e.version) return held.byName;
    const byName = new Map<string, ServiceEntry>();
    const own = new Set(se.hosts);
    // The wildcard must still be a per-name one of this entry (checked once per wildcard, not per name);
    // a name the entry lists itself is its own host.
    const perName = new Map<string, boolean>();
    for (const [name, asked] of e.names) {
      let still = perName.get(asked.wildcard);
      if (still === undefined) {
        still = own.has(asked.wildcard) && perNameWildcard(se, asked.wildcard);
        perName.set(asked.wildcard, still);
      }
      if (own.has(name) || !still) continue;
      const copy = held?.byName.get(name);
      byName.set(
        name,
        copy?.perNameOf === asked.wildcard ? copy : { ...se, hosts: [name], perNameOf: asked.wildcard },
      );
    }
    this.#copies.set(se, { version: e.version, byName });
    return byName;
  }

  #of(key: string, now: number): EntryNames {
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { names: new Map(), tokens: this.#limits.ratePerSecond, refilledAt: now, version: 0 };
      this.#entries.set(key, e);
    }
    return e;
  }
}
