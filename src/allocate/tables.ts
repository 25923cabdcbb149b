// The incremental allocator's tables, and the steps of one fast update over them. Each step mirrors a
// part of allocate() for the hosts an edit touches, and reports (false) what allocate() would settle
// by looking at other hosts, so that the allocator can undo the steps and fall back to it.
import type { ServiceEntry } from '../model/index.js';
import {
  type AllocateOptions,
  allocationKey,
  entryAge,
  type HostVips,
  type StoredAllocation,
} from './allocator.js';
import { ineligibility } from './eligibility.js';
import type { FreePool } from './free-pool.js';
import { bigIntToIp, type Family, familyOf, ipToBigInt } from './range.js';
import { mapDelete, mapSet, type Undo } from './undo.js';

export type Vips = { v4: string; v6: string };
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const FAMILIES = [4, 6] as const;
const field = (f: Family) => (f === 4 ? 'v4' : 'v6');
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
export const entryName = (se: ServiceEntry) => `${se.meta.namespace}/${se.meta.name}`;
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
  /** Counts changes to held records (a counter, not undone): an update compares it before and after. */
  heldEdits: number;
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
    if (holder && keyOf(holder) === key) t.pools[f].release(v, undo);
  }
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
export function claim(t: Tables, h: HostVips, value: string, f: Family, undo: Undo[]): boolean {
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
    t.heldEdits++;
  }
  pool.take(v, h, undo);
  return true;
}

export function keyFor(se: ServiceEntry, host: string): string {
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
