// The incremental allocator's tables, and the steps of one fast update over them. Each step mirrors a
// part of allocate() for the hosts an edit touches, and reports (false) what allocate() would settle
// by looking at other hosts, so that the allocator can undo the steps and fall back to it.
import { flatName, type ServiceEntry } from '../model/index.js';
import {
  type AllocateOptions,
  allocationKey,
  byAge,
  entryAge,
  type HostVips,
  type StoredAllocation,
} from './allocator.js';
import { ineligibility } from './eligibility.js';
import type { FreePool } from './free-pool.js';
import { type HeldBackVip, holdBackFree, stillHeldBack } from './holdback.js';
import { newAddresses } from './pairs.js';
import { bigIntToIp, type Family, familyOf, ipToBigInt } from './range.js';
import { mapDelete, mapSet, setAdd, setDelete, type Undo } from './undo.js';

export type Vips = { v4: string; v6: string };
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const FAMILIES = [4, 6] as const;
const field = (f: Family) => (f === 4 ? 'v4' : 'v6');
/**
 * An entry's name in the fast path's tables, flat (see allocationKey); a per-name copy (per-name.ts)
 * adds its one host.
 */
export const entryName = (se: ServiceEntry) =>
  flatName(
    se.perNameOf === undefined
      ? `${se.meta.namespace}/${se.meta.name}`
      : `${se.meta.namespace}/${se.meta.name}/${se.hosts[0]}`,
  );
export const keyOf = (r: { namespace: string; name: string; host: string }) =>
  allocationKey(r.namespace, r.name, r.host);
const NO_FILES: ReadonlySet<string> = new Set();

/** Everything the fast path keeps between calls; it exists only after a call without errors. */
export interface Tables {
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
  /** Counts changes to held records and hold-backs (a counter, not undone): an update compares it before and after. */
  heldEdits: number;
  /** The VIPs held back; each is the holder of its addresses in `pools`. */
  holdback: Set<HeldBackVip>;
  /** The earliest `since` in `holdback` (ms), so an update that expires none need not look at them. */
  holdbackFirst: number;
  /** Records whose addresses this update released: what no one takes back is held back. */
  freed: StoredAllocation[];
}

/** Hosts given addresses last call keep them now, read back from the state (as allocate() would). */
export function settleFresh(t: Tables, leaving: ReadonlySet<string>, undo: Undo[]): void {
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

export function release(t: Tables, key: string, rec: StoredAllocation, undo: Undo[]): void {
  for (const f of FAMILIES) {
    const value = rec[field(f)];
    if (value === undefined) continue;
    const v = ipToBigInt(value);
    const holder = t.pools[f].used.get(v);
    if (!holder || keyOf(holder) !== key || t.holdback.has(holder as HeldBackVip)) continue;
    t.pools[f].release(v, undo);
    if (t.freed.at(-1) !== rec) t.freed.push(rec);
  }
}

/**
 * allocate()'s holdBack() for what changed: the hold-backs that ended are dropped, and the addresses this
 * update released that no host took back are held back.
 */
export function holdBackFreed(t: Tables, opts: AllocateOptions, undo: Undo[]): void {
  const ms = opts.holdbackMs ?? 0;
  if (t.holdback.size > 0 && opts.now - t.holdbackFirst >= ms) {
    let first = Number.POSITIVE_INFINITY;
    for (const h of [...t.holdback]) {
      if (stillHeldBack(h.since, opts.now, ms)) {
        first = Math.min(first, Date.parse(h.since));
        continue;
      }
      setDelete(t.holdback, h, undo);
      t.heldEdits++;
      for (const f of FAMILIES) {
        const value = h[field(f)];
        if (value !== undefined && t.pools[f].used.get(ipToBigInt(value)) === h)
          t.pools[f].release(ipToBigInt(value), undo);
      }
    }
    setFirst(t, first, undo);
  }
  if (ms <= 0 || t.freed.length === 0) return;
  const now = new Date(opts.now).toISOString();
  const take = (f: Family, v: bigint, entry: HeldBackVip) => t.pools[f].take(v, entry, undo);
  for (const rec of new Set(t.freed)) {
    const since = rec.absentSince ?? now;
    if (!stillHeldBack(since, opts.now, ms)) continue;
    const entry = holdBackFree(rec, since, t.pools, take);
    if (!entry) continue;
    setAdd(t.holdback, entry, undo);
    t.heldEdits++;
    setFirst(t, Math.min(t.holdbackFirst, Date.parse(since)), undo);
  }
}

function setFirst(t: Tables, first: number, undo: Undo[]): void {
  const was = t.holdbackFirst;
  t.holdbackFirst = first;
  undo.push(() => {
    t.holdbackFirst = was;
  });
}

/**
 * allocate()'s holdAbsent() for the records held before (O(held): grace expiry and failing files change
 * with every call) and for the hosts that just left, whose addresses were released above.
 */
export function hold(
  t: Tables,
  absent: readonly StoredAllocation[],
  opts: AllocateOptions,
  undo: Undo[],
): void {
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
          t.heldEdits++;
          release(t, key, rec, undo);
        }
        continue;
      }
    }
    if (placed.has(rec)) {
      if (absentSince !== rec.absentSince) {
        mapSet(t.held, key, { ...rec, absentSince: absentSince! }, undo);
        t.heldEdits++;
      }
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

/** Whether two state records would be written the same. */
export function sameRecord(a: StoredAllocation | undefined, b: StoredAllocation | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.v4 === b.v4 &&
    a.v6 === b.v6 &&
    a.file === b.file &&
    a.absentSince === b.absentSince &&
    a.wildcard === b.wildcard &&
    (a.outside ?? []).join() === (b.outside ?? []).join()
  );
}

/**
 * The hosts of added entries: each keeps the address it held (status.addresses, else the state) when
 * no one else has it, then the rest get the lowest free ones, oldest first. Undefined: anything that
 * allocate() would report as an error or settle by age (the fast path gives up).
 */
export function arrive(
  t: Tables,
  arriving: readonly { se: ServiceEntry; host: string }[],
  recordBefore: ReadonlyMap<string, StoredAllocation | undefined>,
  undo: Undo[],
  beforeGiving: () => void,
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
      const statuses = se.statusAddresses.filter((a) => a.host === host && familyOf(a.value) === f);
      // Several (one of another VIP range kept beside): which one holds is for allocate() to decide.
      if (statuses.length > 1) return false;
      const status = statuses[0];
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
      if (!claim(t, h, value, f, undo)) return false;
      h[field(f)] = bigIntToIp(ipToBigInt(value), f);
      h.from = h.from === 'status' || status ? 'status' : 'state-file';
    }
    eligible.push(h);
    if (families.length > 0) missing.push({ h, families });
  }
  // What no arriving host took back is held back before anyone is given a new address (as in allocate()).
  beforeGiving();
  sortByAge(missing);
  const given = new Set(missing.map((m) => m.h));
  for (const { h, families } of missing) {
    const kept: Partial<Record<Family, bigint>> = {};
    for (const f of FAMILIES) if (h[field(f)] !== undefined) kept[f] = ipToBigInt(h[field(f)]!);
    const found = newAddresses(t.pools, families, kept);
    if (typeof found === 'number') return false;
    for (const f of families) {
      t.pools[f].take(found[f]!, h, undo);
      h[field(f)] = bigIntToIp(found[f]!, f);
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
export function claim(t: Tables, h: HostVips, value: string, f: Family, undo: Undo[]): boolean {
  const pool = t.pools[f];
  const v = ipToBigInt(value);
  if (!pool.contains(v) || pool.isReserved(v)) return false;
  const holder = pool.used.get(v);
  // A present host outranks a hold-back too; allocate() settles which family of it stays held back.
  if (holder !== undefined && t.holdback.has(holder as HeldBackVip)) return false;
  if (holder !== undefined) {
    // A present host outranks a held one (allocate() places held records last); another present
    // host means a conflict settled by age.
    const held = t.held.get(keyOf(holder));
    if (!held) return false;
    const keep: Mutable<StoredAllocation> = { ...held };
    delete keep[field(f)];
    mapSet(t.held, keyOf(holder), keep, undo);
    t.heldEdits++;
  }
  pool.take(v, h, undo);
  return true;
}

export function keyFor(se: ServiceEntry, host: string): string {
  return allocationKey(se.meta.namespace, se.meta.name, host);
}

/**
 * allocate()'s order for handing out addresses (byAge), in place. Each entry's age is read from its timestamp once, not in
 * every comparison (12,500 hosts: 350,000 readings at 50,000 objects).
 */
function sortByAge<T extends { h: HostVips }>(missing: T[]): void {
  const keyed = missing.map((m) => {
    const { h } = m;
    return { m, age: entryAge(h.entry), namespace: h.namespace, name: h.name, host: h.host };
  });
  keyed.sort(byAge);
  keyed.forEach((k, i) => {
    missing[i] = k.m;
  });
}

function stored(h: HostVips): StoredAllocation {
  const s: StoredAllocation = {
    namespace: h.namespace,
    name: h.name,
    host: h.host,
    v4: h.v4!,
    v6: h.v6!,
    file: h.entry.source.file,
  };
  if (h.entry.perNameOf !== undefined) s.wildcard = h.entry.perNameOf;
  return s;
}
