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
  type PoolState,
  type StoredAllocation,
} from './allocator.js';
import { FreePool } from './free-pool.js';
import type { HeldBackVip } from './holdback.js';
import { lazyAllocation } from './lazy-allocation.js';
import { blockOf, type Family, type VipRanges } from './range.js';
import {
  arrive,
  entryName,
  hold,
  holdBackFreed,
  keyFor,
  release,
  sameRecord,
  settleFresh,
  type Tables,
  type Vips,
} from './tables.js';
import { mapDelete, mapSet, type Undo } from './undo.js';

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
  /**
   * False when `allocation.state` is the same as the previous call's (nothing to persist), so a caller need
   * not build and serialize the whole state after every edit. True after a full allocation.
   */
  stateChanged: boolean;
}

export class VipAllocator {
  readonly #ranges: VipRanges;
  readonly #initial: readonly StoredAllocation[];
  readonly #initialHoldback: readonly HeldBackVip[];
  #last: Allocation | undefined;
  #generation = 0;
  #tables: Tables | undefined;
  /** How many updates took each path (the benchmark reports the fast path's share). */
  readonly counts = { full: 0, fast: 0 };

  /** `holdback`: the VIPs held back when the state was stored. */
  constructor(
    ranges: VipRanges,
    previous: readonly StoredAllocation[],
    holdback: readonly HeldBackVip[] = [],
  ) {
    this.#ranges = ranges;
    this.#initial = previous;
    this.#initialHoldback = holdback;
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
    const holdback = this.#last ? this.#last.holdback : this.#initialHoldback;
    const { allocation, pools, keys } = allocateWithPools(entries, previous, this.#ranges, opts, holdback);
    this.#generation++;
    this.#last = allocation;
    this.#tables = this.#adopt(entries, allocation, pools, keys);
    return { allocation, changed: 'all', stateChanged: true };
  }

  /** The tables for the next fast update, or undefined when the next update must be a full one. */
  #adopt(
    entries: readonly ServiceEntry[],
    allocation: Allocation,
    left: Record<Family, PoolState>,
    keys: { hosts: string[]; state: string[] },
  ): Tables | undefined {
    // Errors mean contested or missing addresses: who gets what then depends on every other host.
    if (allocation.errors.length > 0) return undefined;
    const byName = new Map<string, ServiceEntry>();
    for (const se of entries) {
      // Two objects with one namespace/name share allocation keys; only allocate() sorts that out.
      const name = entryName(se);
      if (byName.has(name)) return undefined;
      byName.set(name, se);
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
      heldEdits: 0,
      holdback: new Set(allocation.holdback),
      holdbackFirst: Math.min(...allocation.holdback.map((h) => Date.parse(h.since))),
      freed: [],
    };
    for (const [i, h] of allocation.hosts.entries()) {
      const key = keys.hosts[i]!;
      t.hosts.set(key, h);
      if (h.v4 !== undefined && h.v6 !== undefined) t.served.set(key, { v4: h.v4, v6: h.v6 });
      if (h.state === 'new') t.fresh.push(key);
    }
    for (const [i, rec] of allocation.state.entries()) {
      const key = keys.state[i]!;
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
      const name = entryName(se);
      if (t.entries.get(name) !== se || removedNames.has(name)) return undefined;
      removedNames.add(name);
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
    const stateBefore = new Map<string, StoredAllocation | undefined>();
    for (const key of before.keys()) stateBefore.set(key, t.records.get(key) ?? t.held.get(key));
    const heldEdits = t.heldEdits;
    t.freed = [];

    settleFresh(t, leaving, undo);
    for (const se of delta.removed) mapDelete(t.entries, entryName(se), undo);
    for (const se of delta.added) mapSet(t.entries, entryName(se), se, undo);
    const absent: StoredAllocation[] = [];
    for (const key of leaving) {
      mapDelete(t.hosts, key, undo);
      mapDelete(t.served, key, undo);
      const rec = t.records.get(key);
      if (!rec) continue;
      mapDelete(t.records, key, undo);
      release(t, key, rec, undo);
      if (!arrivingKeys.has(key)) absent.push(rec);
    }
    // A host back within its grace period is present again: its held record goes, its addresses are free
    // for it to take back below.
    for (const key of arrivingKeys) {
      const rec = t.held.get(key);
      if (!rec) continue;
      mapDelete(t.held, key, undo);
      release(t, key, rec, undo);
    }
    hold(t, absent, opts, undo);
    if (!arrive(t, arriving, recordBefore, undo, () => holdBackFreed(t, opts, undo))) return undefined;

    t.count = entries.length;
    const changed = new Set<string>();
    for (const [key, was] of before) {
      const now = t.served.get(key);
      if (was?.v4 !== now?.v4 || was?.v6 !== now?.v6) changed.add(key);
    }
    this.#generation++;
    const generation = this.#generation;
    const allocation = lazyAllocation(t, (what) => {
      if (generation !== this.#generation)
        throw new MeshdnsError(
          'MESHDNS_ALLOCATION_STALE',
          `VipAllocator: the allocation's ${what} was read after a later update(); read what you need before the next update`,
        );
    });
    this.#last = allocation;
    let stateChanged = t.heldEdits !== heldEdits;
    for (const [key, was] of stateBefore)
      stateChanged ||= !sameRecord(was, t.records.get(key) ?? t.held.get(key));
    return { allocation, changed, stateChanged };
  }
}
