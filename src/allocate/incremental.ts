// VIP allocation that follows a stream of snapshots (issue 8: edit-to-answer within the scale targets):
// an edit costs work in proportion to the entries it touches, and the answer is always what the one-shot
// allocate() gives for the same snapshot and the state of the previous call. Whenever an edit could
// change another host's VIPs (a contested address, a user address in a VIP range, exhaustion, an error
// to report), the update falls back to allocate() itself.
import { MeshdnsError } from '../errors.js';
import type { ServiceEntry } from '../model/index.js';
import {
  type AllocateOptions,
  type Allocation,
  allocateWithPools,
  allocationKey,
  entryAge,
  type HostVips,
  type PoolState,
  type StoredAllocation,
} from './allocator.js';
import { ineligibility } from './eligibility.js';
import { FreePool, type Undo } from './free-pool.js';
import { bigIntToIp, blockOf, type Family, familyOf, ipToBigInt, type VipRanges } from './range.js';

/** The entries (by object identity) that left and came since the previous call. */
export interface EntryDelta {
  removed: readonly ServiceEntry[];
  added: readonly ServiceEntry[];
}

export interface AllocationUpdate {
  /**
   * Equal to allocate() on the same snapshot. Valid until the next update(): after it, reading a field
   * not read before, or vips(), throws MESHDNS_ALLOCATION_STALE (the allocator reuses its tables).
   */
  allocation: Allocation;
  /** allocationKey()s whose served VIPs differ from the previous call's, or 'all' after a full allocation. */
  changed: ReadonlySet<string> | 'all';
}

type Vips = { v4: string; v6: string };
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const FAMILIES = [4, 6] as const;
const field = (f: Family) => (f === 4 ? 'v4' : 'v6');
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const entryName = (se: ServiceEntry) => `${se.meta.namespace}/${se.meta.name}`;
const keyOf = (r: { namespace: string; name: string; host: string }) =>
  allocationKey(r.namespace, r.name, r.host);
const byKey = (a: StoredAllocation, b: StoredAllocation) => cmp(keyOf(a), keyOf(b));
const NO_FILES: ReadonlySet<string> = new Set();

/** Everything the fast path keeps between calls; it exists only after a call without errors. */
interface Tables {
  entries: Map<string, ServiceEntry>;
  /** Every host of the snapshot, as allocate() lists it. */
  hosts: Map<string, HostVips>;
  /** What to persist for present hosts. */
  records: Map<string, StoredAllocation>;
  held: Map<string, StoredAllocation>;
  served: Map<string, Vips>;
  /** Hosts given an address in the last call: the next call lists them as `allocated`. */
  fresh: string[];
  pools: Record<Family, FreePool>;
  count: number;
}

export class VipAllocator {
  readonly #ranges: VipRanges;
  readonly #initial: readonly StoredAllocation[];
  #last: Allocation | undefined;
  #generation = 0;
  #tables: Tables | undefined;
  /** How many updates took each path (the benchmark reports the fast path's share). */
  readonly counts = { full: 0, fast: 0 };

  constructor(ranges: VipRanges, previous: readonly StoredAllocation[]) {
    this.#ranges = ranges;
    this.#initial = previous;
  }

  /**
   * `entries`: the whole snapshot (what allocate() gets). `delta`: the entries that left and came since the
   * previous call; undefined on the first call or when unknown (a full allocation). An edited entry is one
   * removed object and one added object with the same namespace/name.
   */
  update(
    entries: readonly ServiceEntry[],
    delta: EntryDelta | undefined,
    opts: AllocateOptions,
  ): AllocationUpdate {
    if (delta && this.#tables) {
      const undo: Undo[] = [];
      const fast = this.#fast(this.#tables, entries, delta, opts, undo);
      if (fast) {
        this.counts.fast++;
        return fast;
      }
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
    }
    this.counts.full++;
    const previous = this.#last ? this.#last.state : this.#initial;
    const { allocation, pools } = allocateWithPools(entries, previous, this.#ranges, opts);
    this.#generation++;
    this.#last = allocation;
    this.#tables = this.#adopt(entries, allocation, pools);
    return { allocation, changed: 'all' };
  }

  /** The tables for the next fast update, or undefined when the next update must be a full one. */
  #adopt(
    entries: readonly ServiceEntry[],
    allocation: Allocation,
    left: Record<Family, PoolState>,
  ): Tables | undefined {
    // Errors mean contested or missing addresses: who gets what then depends on every other host.
    if (allocation.errors.length > 0) return undefined;
    const byName = new Map<string, ServiceEntry>();
    for (const se of entries) {
      // Two objects with one namespace/name share allocation keys; only allocate() sorts that out.
      if (byName.has(entryName(se))) return undefined;
      byName.set(entryName(se), se);
    }
    const pools = { 4: new FreePool(this.#ranges.v4, left[4]), 6: new FreePool(this.#ranges.v6, left[6]) };
    const t: Tables = {
      entries: byName,
      hosts: new Map(),
      records: new Map(),
      held: new Map(),
      served: new Map(),
      fresh: [],
      pools,
      count: entries.length,
    };
    for (const h of allocation.hosts) {
      const key = keyOf(h);
      t.hosts.set(key, h);
      if (h.v4 !== undefined && h.v6 !== undefined) t.served.set(key, { v4: h.v4, v6: h.v6 });
      if (h.state === 'new') t.fresh.push(key);
    }
    for (const rec of allocation.state) {
      const key = keyOf(rec);
      (t.hosts.has(key) ? t.records : t.held).set(key, rec);
    }
    return t;
  }

  /** Whether the entry's spec.addresses reserve an address in a VIP range. */
  #touchesReservations(se: ServiceEntry): boolean {
    return se.addresses.some((a) => {
      const block = blockOf(a);
      const range = block && (block.family === 4 ? this.#ranges.v4 : this.#ranges.v6);
      return range !== undefined && block!.start <= range.last && block!.end >= range.first;
    });
  }

  #fast(
    t: Tables,
    entries: readonly ServiceEntry[],
    delta: EntryDelta,
    opts: AllocateOptions,
    undo: Undo[],
  ): AllocationUpdate | undefined {
    if (entries.length !== t.count - delta.removed.length + delta.added.length) return undefined;
    if ([...delta.removed, ...delta.added].some((se) => this.#touchesReservations(se))) return undefined;
    const removedNames = new Set<string>();
    for (const se of delta.removed) {
      if (t.entries.get(entryName(se)) !== se || removedNames.has(entryName(se))) return undefined;
      removedNames.add(entryName(se));
    }
    const addedNames = new Set<string>();
    for (const se of delta.added) {
      const name = entryName(se);
      if ((t.entries.has(name) && !removedNames.has(name)) || addedNames.has(name)) return undefined;
      addedNames.add(name);
    }
    const leaving = new Set(delta.removed.flatMap((se) => [...new Set(se.hosts)].map((h) => keyFor(se, h))));
    const arriving = delta.added.flatMap((se) => [...new Set(se.hosts)].map((host) => ({ se, host })));
    const arrivingKeys = new Set(arriving.map((a) => keyFor(a.se, a.host)));
    const before = new Map<string, Vips | undefined>();
    for (const key of [...leaving, ...arrivingKeys]) before.set(key, t.served.get(key));
    const recordBefore = new Map<string, StoredAllocation | undefined>();
    for (const key of arrivingKeys) recordBefore.set(key, t.records.get(key) ?? t.held.get(key));

    this.#settleFresh(t, leaving, undo);
    for (const se of delta.removed) mapDelete(t.entries, entryName(se), undo);
    for (const se of delta.added) mapSet(t.entries, entryName(se), se, undo);
    const absent: StoredAllocation[] = [];
    for (const key of leaving) {
      mapDelete(t.hosts, key, undo);
      mapDelete(t.served, key, undo);
      const rec = t.records.get(key);
      if (!rec) continue;
      mapDelete(t.records, key, undo);
      this.#release(t, key, rec, undo);
      if (!arrivingKeys.has(key)) absent.push(rec);
    }
    // A host back within its grace period is present again: its held record goes, its addresses are free
    // for it to take back below.
    for (const key of arrivingKeys) {
      const rec = t.held.get(key);
      if (!rec) continue;
      mapDelete(t.held, key, undo);
      this.#release(t, key, rec, undo);
    }
    this.#hold(t, absent, opts, undo);
    if (!this.#arrive(t, arriving, recordBefore, undo)) return undefined;

    t.count = entries.length;
    const changed = new Set<string>();
    for (const [key, was] of before) {
      const now = t.served.get(key);
      if (was?.v4 !== now?.v4 || was?.v6 !== now?.v6) changed.add(key);
    }
    this.#generation++;
    const allocation = this.#view(t, this.#generation);
    this.#last = allocation;
    return { allocation, changed };
  }

  /** Hosts given addresses last call keep them now, read back from the state (as allocate() would). */
  #settleFresh(t: Tables, leaving: ReadonlySet<string>, undo: Undo[]): void {
    const fresh = t.fresh;
    undo.push(() => {
      t.fresh = fresh;
    });
    t.fresh = [];
    for (const key of fresh) {
      const h = t.hosts.get(key);
      if (!h || leaving.has(key) || h.state !== 'new') continue;
      const fromStatus = h.entry.statusAddresses.some(
        (a) => a.host === h.host && familyOf(a.value) !== undefined,
      );
      mapSet(t.hosts, key, { ...h, state: 'allocated', from: fromStatus ? 'status' : 'state-file' }, undo);
    }
  }

  #release(t: Tables, key: string, rec: StoredAllocation, undo: Undo[]): void {
    for (const f of FAMILIES) {
      const value = rec[field(f)];
      if (value === undefined) continue;
      const v = ipToBigInt(value);
      const holder = t.pools[f].used.get(v);
      if (holder && keyOf(holder) === key) t.pools[f].release(v, undo);
    }
  }

  /**
   * allocate()'s holdAbsent() for the records held before (O(held): grace expiry and failing files change
   * with every call) and for the hosts that just left, whose addresses were released above.
   */
  #hold(t: Tables, absent: readonly StoredAllocation[], opts: AllocateOptions, undo: Undo[]): void {
    const failed = opts.failedFiles ?? NO_FILES;
    const placed = new Set<StoredAllocation>(t.held.values());
    for (const rec of [...t.held.values(), ...absent]) {
      const key = keyOf(rec);
      const unseen = rec.file === undefined ? failed.size > 0 : failed.has(rec.file);
      let absentSince = rec.absentSince;
      if (!unseen) {
        absentSince ??= new Date(opts.now).toISOString();
        if (opts.now - Date.parse(absentSince) >= opts.graceMs) {
          if (placed.has(rec)) {
            mapDelete(t.held, key, undo);
            this.#release(t, key, rec, undo);
          }
          continue;
        }
      }
      if (placed.has(rec)) {
        if (absentSince !== rec.absentSince) mapSet(t.held, key, { ...rec, absentSince: absentSince! }, undo);
        continue;
      }
      const keep: Mutable<StoredAllocation> = { ...rec, ...(absentSince ? { absentSince } : {}) };
      for (const f of FAMILIES) {
        const value = rec[field(f)];
        if (value === undefined) continue;
        const v = ipToBigInt(value);
        const pool = t.pools[f];
        if (!pool.contains(v)) continue;
        if (!pool.isReserved(v) && !pool.used.has(v)) pool.take(v, keep, undo);
        else delete keep[field(f)];
      }
      mapSet(t.held, key, keep, undo);
    }
  }

  /**
   * The hosts of added entries: each keeps the address it held (status.addresses, else the state) when
   * no one else has it, then the rest get the lowest free ones, oldest first. Undefined: anything that
   * allocate() would report as an error or settle by age (the fast path gives up).
   */
  #arrive(
    t: Tables,
    arriving: readonly { se: ServiceEntry; host: string }[],
    recordBefore: ReadonlyMap<string, StoredAllocation | undefined>,
    undo: Undo[],
  ): boolean {
    const missing: { h: Mutable<HostVips>; families: Family[] }[] = [];
    const eligible: Mutable<HostVips>[] = [];
    for (const { se, host } of arriving) {
      const key = keyFor(se, host);
      const why = ineligibility(se, host);
      const h: Mutable<HostVips> = {
        namespace: se.meta.namespace,
        name: se.meta.name,
        host,
        state: why ?? 'new',
        entry: se,
      };
      if (why) {
        mapSet(t.hosts, key, h, undo);
        continue;
      }
      const rec = recordBefore.get(key);
      if (rec?.outside?.length) return false;
      const families: Family[] = [];
      for (const f of FAMILIES) {
        const status = se.statusAddresses.find((a) => a.host === host && familyOf(a.value) === f);
        const stored = rec?.[field(f)];
        const value = status
          ? status.value
          : stored !== undefined && familyOf(stored) === f
            ? stored
            : undefined;
        if (value === undefined) {
          families.push(f);
          continue;
        }
        if (!this.#claim(t, h, value, f, undo)) return false;
        h[field(f)] = bigIntToIp(ipToBigInt(value), f);
        h.from = h.from === 'status' || status ? 'status' : 'state-file';
      }
      eligible.push(h);
      if (families.length > 0) missing.push({ h, families });
    }
    missing.sort((a, b) => byAge(a.h, b.h));
    const given = new Set(missing.map((m) => m.h));
    for (const { h, families } of missing) {
      for (const f of families) {
        const v = t.pools[f].lowest();
        if (v === undefined) return false;
        t.pools[f].take(v, h, undo);
        h[field(f)] = bigIntToIp(v, f);
      }
    }
    for (const h of eligible) {
      const key = keyOf(h);
      if (!given.has(h)) h.state = 'allocated';
      else t.fresh.push(key);
      mapSet(t.hosts, key, h, undo);
      mapSet(t.served, key, { v4: h.v4!, v6: h.v6! }, undo);
      mapSet(t.records, key, stored(h), undo);
    }
    return true;
  }

  /** Takes an address a host held before, if allocate() would let it keep it without a word. */
  #claim(t: Tables, h: HostVips, value: string, f: Family, undo: Undo[]): boolean {
    const pool = t.pools[f];
    const v = ipToBigInt(value);
    if (!pool.contains(v) || pool.isReserved(v)) return false;
    const holder = pool.used.get(v);
    if (holder !== undefined) {
      // A present host outranks a held one (allocate() places held records last); another present
      // host means a conflict settled by age.
      const held = t.held.get(keyOf(holder));
      if (!held) return false;
      const keep: Mutable<StoredAllocation> = { ...held };
      delete keep[field(f)];
      mapSet(t.held, keyOf(holder), keep, undo);
    }
    pool.take(v, h, undo);
    return true;
  }

  /** The fast path's Allocation: lists are built on first read, so an edit nobody lists costs nothing. */
  #view(t: Tables, generation: number): Allocation {
    const live = (what: string) => {
      if (generation !== this.#generation)
        throw new MeshdnsError(
          'MESHDNS_ALLOCATION_STALE',
          `VipAllocator: the allocation's ${what} was read after a later update(); read what you need before the next update`,
        );
    };
    let hosts: HostVips[] | undefined;
    let state: StoredAllocation[] | undefined;
    let held: StoredAllocation[] | undefined;
    return {
      get hosts() {
        if (hosts) return hosts;
        live('hosts');
        hosts = [...t.hosts.values()].sort(
          (a, b) => cmp(a.host, b.host) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name),
        );
        return hosts;
      },
      get state() {
        if (state) return state;
        live('state');
        state = [...t.records.values(), ...t.held.values()].sort(byKey);
        return state;
      },
      get held() {
        if (held) return held;
        live('held');
        held = [...t.held.values()].sort(byKey);
        return held;
      },
      errors: [],
      vips: (se, host) => {
        live('vips()');
        return t.served.get(keyFor(se, host));
      },
    };
  }
}

function keyFor(se: ServiceEntry, host: string): string {
  return allocationKey(se.meta.namespace, se.meta.name, host);
}

/** allocate()'s order for handing out addresses: oldest entry first, then by name. */
function byAge(a: HostVips, b: HostVips): number {
  const d = entryAge(a.entry) - entryAge(b.entry);
  return d || cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.host, b.host);
}

function stored(h: HostVips): StoredAllocation {
  return {
    namespace: h.namespace,
    name: h.name,
    host: h.host,
    v4: h.v4!,
    v6: h.v6!,
    file: h.entry.source.file,
  };
}

function mapSet<K, V>(map: Map<K, V>, key: K, value: V, undo: Undo[]): void {
  const had = map.has(key);
  const was = map.get(key);
  map.set(key, value);
  undo.push(() => (had ? map.set(key, was as V) : map.delete(key)));
}

function mapDelete<K, V>(map: Map<K, V>, key: K, undo: Undo[]): void {
  if (!map.has(key)) return;
  const was = map.get(key) as V;
  map.delete(key);
  undo.push(() => map.set(key, was));
}
