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
}

const entryKey = (se: ServiceEntry) => `${se.meta.namespace}/${se.meta.name}`;

/** Whether `name` lies under `wildcard` (`*.db.example.com`) by one label or more. */
export function underWildcard(name: string, wildcard: string): boolean {
  const suffix = wildcard.slice(1);
  return name.length > suffix.length && name.endsWith(suffix) && !name.startsWith('.');
}

export class PerNameHosts {
  readonly #limits: PerNameLimits;
  readonly #entries = new Map<string, EntryNames>();
  /** Each entry object's copies by name, made once per name (object identity is the delta downstream). */
  readonly #copies = new WeakMap<ServiceEntry, Map<string, ServiceEntry>>();
  /** Per entry object, whether each of its wildcards is still a per-name one. */
  readonly #perName = new WeakMap<ServiceEntry, Map<string, boolean>>();
  /** The names that came or went since `takeChanged()`, by entry `namespace/name`. */
  #changed = new Map<string, Set<string>>();

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

  /**
   * The names of `se`'s per-name wildcards its `status.addresses` lists (`host` the name; Kubernetes keeps
   * them there, status-writer.ts): a restarted controller takes them back, a follower keeps to the
   * leader's (`exact`: names status no longer lists leave). A name taken back counts as asked now.
   */
  fromStatus(se: ServiceEntry, now: number, exact: boolean): void {
    const wildcards = se.hosts.filter((h) => perNameWildcard(se, h));
    const listed = new Map<string, string>();
    for (const a of se.statusAddresses) {
      if (listed.has(a.host) || se.hosts.includes(a.host)) continue;
      const wildcard = wildcards.find((w) => underWildcard(a.host, w));
      if (wildcard !== undefined) listed.set(a.host, wildcard);
    }
    const key = entryKey(se);
    if (listed.size === 0 && !this.#entries.has(key)) return;
    const e = this.#of(key, now);
    for (const [name, wildcard] of listed) {
      if (e.names.has(name)) continue;
      e.names.set(name, { wildcard, askedAt: now });
      this.#changedName(key, name);
    }
    if (!exact) return;
    for (const name of e.names.keys()) {
      if (listed.has(name)) continue;
      e.names.delete(name);
      this.#changedName(key, name);
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
    this.#changedName(key, name);
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
        this.#changedName(key, name);
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

  /** The names that came or went since the last call, by entry `namespace/name`. */
  takeChanged(): ReadonlyMap<string, ReadonlySet<string>> {
    const changed = this.#changed;
    this.#changed = new Map();
    return changed;
  }

  /** Every name `se` holds (a copy of it for each: `copy`). */
  names(se: ServiceEntry): string[] {
    return [...(this.#entries.get(entryKey(se))?.names.keys() ?? [])];
  }

  #changedName(key: string, name: string): void {
    let names = this.#changed.get(key);
    if (names === undefined) {
      names = new Set();
      this.#changed.set(key, names);
    }
    names.add(name);
  }

  /**
   * The copy of `se` for `name`: the entry with that one host, `perNameOf` naming the wildcard it was
   * asked under; undefined when `se` does not hold the name, lists it itself, or the wildcard is no longer
   * a per-name one. The same object while the name is held.
   */
  copy(se: ServiceEntry, name: string): ServiceEntry | undefined {
    const asked = this.#entries.get(entryKey(se))?.names.get(name);
    let byName = this.#copies.get(se);
    if (asked === undefined || se.hosts.includes(name) || !this.#stillPerName(se, asked.wildcard)) {
      byName?.delete(name);
      return undefined;
    }
    if (byName === undefined) {
      byName = new Map();
      this.#copies.set(se, byName);
    }
    let copy = byName.get(name);
    if (copy?.perNameOf !== asked.wildcard) {
      copy = { ...se, hosts: [name], perNameOf: asked.wildcard };
      byName.set(name, copy);
    }
    return copy;
  }

  /** Checked once per entry object and wildcard, not per name. */
  #stillPerName(se: ServiceEntry, wildcard: string): boolean {
    let known = this.#perName.get(se);
    if (known === undefined) {
      known = new Map();
      this.#perName.set(se, known);
    }
    let still = known.get(wildcard);
    if (still === undefined) {
      still = se.hosts.includes(wildcard) && perNameWildcard(se, wildcard);
      known.set(wildcard, still);
    }
    return still;
  }

  #of(key: string, now: number): EntryNames {
    let e = this.#entries.get(key);
    if (e === undefined) {
      e = { names: new Map(), tokens: this.#limits.ratePerSecond, refilledAt: now };
      this.#entries.set(key, e);
    }
    return e;
  }
}
