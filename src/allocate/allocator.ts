// VIP auto-allocation (SPEC §5), as a pure function of the ServiceEntries and what was allocated
// before: the same input always gives the same VIPs, and a VIP once given never changes while its
// entry exists. Each eligible host gets one IPv4 and one IPv6 address.
import { MeshdnsError } from '../errors.js';
import { flatName, formatSource, type ServiceEntry } from '../model/index.js';
import { type Ineligible, ineligibility } from './eligibility.js';
import { type HeldBackVip, holdBackFree, sortHoldback, stillHeldBack } from './holdback.js';
import { newAddresses } from './pairs.js';
import { bigIntToIp, type Family, familyOf, ipToBigInt, type VipRange, type VipRanges } from './range.js';
import { firstFree, type Reservations, userReservations } from './reservations.js';

/** One host's VIPs as persisted, keyed by (namespace, entry name, host). */
export interface StoredAllocation {
  namespace: string;
  name: string;
  host: string;
  v4?: string;
  v6?: string;
  /** The manifest file the entry was last loaded from: while that file fails to load, the entry is never absent. */
  file?: string;
  /** ISO time since which the entry has been absent from cleanly loaded snapshots; none: present. */
  absentSince?: string;
  /** Addresses the host held in other VIP ranges, kept so that switching the range back restores them. */
  outside?: string[];
  /** A per-name host (issue 14 item 5): the wildcard host it was asked under. */
  wildcard?: string;
  /** A per-name host: ISO time it was last asked (written by the controller, per-name.ts). */
  askedAt?: string;
}

/** What the allocator needs to know about time and about the snapshot's health. */
export interface AllocateOptions {
  /** Milliseconds since the epoch. */
  now: number;
  /** How long an absent entry keeps its VIPs before they are freed. */
  graceMs: number;
  /** Files that could not be read or parsed in this snapshot: their entries are not absent, only unseen. */
  failedFiles?: ReadonlySet<string>;
  /**
   * How long a VIP no host keeps any more is held back from every host, counted from when it was last
   * answered (issue 14 item 4); 0 or none: it is free at once.
   */
  holdbackMs?: number;
}

/**
 * `allocated`: kept from before; `new`: given now; `reallocated`: given now because the old one was
 * lost to a conflict; `exhausted`: the range is full; the rest say why the host gets none.
 */
export type VipState = 'allocated' | 'new' | 'reallocated' | 'exhausted' | Ineligible;

export interface HostVips {
  namespace: string;
  name: string;
  host: string;
  state: VipState;
  v4?: string;
  v6?: string;
  /** Where kept addresses were read from. */
  from?: 'status' | 'state-file';
  entry: ServiceEntry;
}

export interface Allocation {
  /** Every host of every ServiceEntry, sorted by host, namespace and name. */
  hosts: HostVips[];
  /** What to persist: every eligible host holding an address, and the held ones, sorted by key. */
  state: StoredAllocation[];
  /** Allocations of entries absent now, kept (not served) for the grace period or while their file fails. */
  held: StoredAllocation[];
  /** VIPs no host keeps, held back from every host until `holdbackMs` after `since`; oldest first. */
  holdback: HeldBackVip[];
  /** Conflicts resolved and hosts left without VIPs, each naming the entry and host. */
  errors: MeshdnsError[];
  /** One host's entry in `hosts`, by allocationKey(). */
  host(key: string): HostVips | undefined;
  /** The VIPs a name table uses for a host (both families, or nothing). */
  vips(entry: ServiceEntry, host: string): { v4: string; v6: string } | undefined;
}

const FAMILIES = [4, 6] as const;
const field = (f: Family) => (f === 4 ? 'v4' : 'v6');

/**
 * `namespace/name/host`, as one flat string: a key joined in place is a tree of pieces, and the
 * allocator, the views and their mirrors keep one per host (50,000 objects: 5 MiB of pieces).
 */
export function allocationKey(namespace: string, name: string, host: string): string {
  return flatName(lookupKey(namespace, name, host));
}

/** allocationKey() for a lookup only (never kept): the same text, without the copy that flattens it. */
export function lookupKey(namespace: string, name: string, host: string): string {
  return `${namespace}/${name}/${host}`;
}

function label(se: ServiceEntry): string {
  return `ServiceEntry ${se.meta.namespace}/${se.meta.name} (${formatSource(se.source)})`;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One family's range: who holds what, and a cursor for sequential allocation. */
/** Who holds an address: a host of the snapshot, or a held record (absent entry). */
export interface Holder {
  namespace: string;
  name: string;
  host: string;
}

/** What allocate() leaves behind per family, for the incremental allocator to start from. */
export interface PoolState {
  used: Map<bigint, Holder>;
  reserved: Reservations;
  /** Every address below it is used or reserved. */
  next: bigint;
}

class Pool {
  readonly used = new Map<bigint, Holder>();
  #cursor: bigint;

  constructor(
    readonly range: VipRange,
    readonly reserved: Reservations,
  ) {
    this.#cursor = range.first;
  }

  contains(v: bigint): boolean {
    return this.range.first <= v && v <= this.range.last;
  }

  /** Why `v` cannot be kept by a host, or undefined when it can. */
  conflict(v: bigint): string | undefined {
    const user = this.reserved.find(v);
    if (user) return `is also ${user.owner}, and the user's address wins`;
    // Only hosts of the snapshot hold addresses while conflicts are decided (held records come after).
    const holder = this.used.get(v);
    return holder
      ? `is already held by ServiceEntry ${holder.namespace}/${holder.name} host ${holder.host} (the older entry keeps it)`
      : undefined;
  }

  get cursor(): bigint {
    return this.#cursor;
  }

  isFree(v: bigint): boolean {
    return !this.used.has(v) && this.reserved.find(v) === undefined;
  }

  /** The lowest free address. Nothing is freed during a round, so the cursor only moves forward. */
  lowest(): bigint | undefined {
    const { free, next } = firstFree(this.#cursor, this.range.last, this.reserved, this.used);
    this.#cursor = next;
    return free;
  }

  /** The lowest free address at or above `from`. */
  nextFree(from: bigint): bigint | undefined {
    if (from <= this.#cursor) return this.lowest();
    return firstFree(from, this.range.last, this.reserved, this.used).free;
  }
}

// Oldest first (SPEC §5: the oldest entry keeps a contested VIP); entries without a readable
// creationTimestamp count as newest. Ties fall back to names so the order never depends on files.
export function entryAge(se: ServiceEntry): number {
  const text = se.meta.creationTimestamp;
  const t = text ? (utcSeconds(text) ?? Date.parse(text)) : Number.NaN;
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Where Kubernetes' timestamps (`YYYY-MM-DDTHH:MM:SSZ`) have what is not a digit, and what. */
const SEPARATOR_AT = [4, 7, 10, 13, 16, 19];
const SEPARATOR_CODE = [0x2d, 0x2d, 0x54, 0x3a, 0x3a, 0x5a];

/** The number written in `len` digits at `at`; NaN where one is not a digit. */
function digits(text: string, at: number, len: number): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return Number.NaN;
    v = v * 10 + c;
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Milliseconds of a timestamp written as Kubernetes writes them, read digit by digit: Date.parse took a
 * microsecond each, for every entry on every full allocation. Anything else: undefined (Date.parse reads
 * it), and so are years before 100, which Date.UTC would read as 19xx.
 */
function utcSeconds(text: string): number | undefined {
  if (text.length !== 20) return undefined;
  for (let i = 0; i < SEPARATOR_AT.length; i++)
    if (text.charCodeAt(SEPARATOR_AT[i]!) !== SEPARATOR_CODE[i]) return undefined;
  const year = digits(text, 0, 4);
  const mon = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const min = digits(text, 14, 2);
  const sec = digits(text, 17, 2);
  // Out-of-range fields (month 13, hour 24, second 60, 30 February) are Date.parse's to judge; NaN
  // fails every test.
  if (!(year >= 100 && mon >= 1 && mon <= 12 && day >= 1 && hour <= 23 && min <= 59 && sec <= 59))
    return undefined;
  if (day > daysInMonth(year, mon)) return undefined;
  return Date.UTC(year, mon - 1, day, hour, min, sec);
}

/** A host of the snapshot, with what the allocator needs about its entry computed once. */
interface Candidate extends HostVips {
  /** allocationKey(), made once. */
  key: string;
  age: number;
  /** Addresses held in other ranges, kept for a switch back. */
  outside: string[];
}

/** A host with its entry's age (entryAge), read once before a sort. */
export interface AgedHost {
  age: number;
  namespace: string;
  name: string;
  host: string;
}

/** Oldest entry first, then by namespace, name and host: the order in which hosts get addresses. */
export function byAge(a: AgedHost, b: AgedHost): number {
  // Two entries without a timestamp give Infinity - Infinity = NaN, which is falsy like a tie.
  const d = a.age - b.age;
  return d || cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.host, b.host);
}

/**
 * A host's earlier addresses of one family, in the order to try them: status.addresses alone where it
 * has one (it is the source of truth, as for Istio's controller; the state file stands in for it where
 * manifests carry no status), else those kept from other ranges (older), then the state file's.
 */
function heldBefore(h: Candidate, rec: StoredAllocation | undefined, f: Family) {
  // Every one of the host's in that family, in order: status may keep addresses of another VIP range
  // after the current one (the Kubernetes store does), so a switch back finds its own again.
  const status = h.entry.statusAddresses.filter((a) => a.host === h.host && familyOf(a.value) === f);
  if (status.length > 0) return { from: 'status.addresses', values: status.map((a) => a.value) };
  const values = [...(rec?.outside ?? []), ...(rec?.[field(f)] ? [rec[field(f)]!] : [])];
  return { from: 'the state file', values: values.filter((v) => familyOf(v) === f) };
}

/** `holdback`: the VIPs held back before (the previous Allocation's `holdback`, or the stored ones). */
export function allocate(
  entries: readonly ServiceEntry[],
  previous: readonly StoredAllocation[],
  ranges: VipRanges,
  opts: AllocateOptions,
  holdback: readonly HeldBackVip[] = [],
): Allocation {
  return allocateWithPools(entries, previous, ranges, opts, holdback).allocation;
}

/** allocate(), and the pools it filled: the incremental allocator starts from them rather than re-reading the state. */
export function allocateWithPools(
  entries: readonly ServiceEntry[],
  previous: readonly StoredAllocation[],
  ranges: VipRanges,
  opts: AllocateOptions,
  holdback: readonly HeldBackVip[] = [],
): {
  allocation: Allocation;
  pools: Record<Family, PoolState>;
  /** allocationKey() of each of `allocation.hosts` and `allocation.state`, in their order. */
  keys: { hosts: string[]; state: string[] };
} {
  const errors: MeshdnsError[] = [];
  const pools = {
    4: new Pool(ranges.v4, userReservations(entries, 4)),
    6: new Pool(ranges.v6, userReservations(entries, 6)),
  };
  const before = new Map(previous.map((p) => [allocationKey(p.namespace, p.name, p.host), p]));
  const hosts: Candidate[] = [];
  for (const se of entries) {
    const seAge = entryAge(se);
    for (const host of new Set(se.hosts)) {
      const why = ineligibility(se, host);
      const { namespace, name } = se.meta;
      const key = allocationKey(namespace, name, host);
      hosts.push({ namespace, name, host, key, state: why ?? 'new', entry: se, age: seAge, outside: [] });
    }
  }
  const eligible = hosts.filter((h) => h.state === 'new').sort(byAge);
  const lost = new Set<HostVips>();
  /** Earlier records whose every address is kept by their own host (present, or held). */
  const whole = new Set<StoredAllocation>();

  // First every host keeps what it held, oldest first; a contested address stays with the user
  // (spec.addresses), then with the older entry, and the other host is re-allocated below.
  for (const h of eligible) {
    const rec = before.get(h.key);
    // Nothing held before (every host of a first start): it gets its addresses below.
    if (rec === undefined && h.entry.statusAddresses.length === 0) continue;
    for (const f of FAMILIES) {
      const pool = pools[f];
      const { from, values } = heldBefore(h, rec, f);
      const parsed = values.map((v) => [v, ipToBigInt(v)] as const);
      // An address of another range is kept aside untouched, never served (issue 8: switching back restores it).
      const inRange = parsed.filter(([, v]) => pool.contains(v));
      for (const [held, v] of parsed) if (!pool.contains(v)) h.outside.push(held);
      if (inRange.length === 0 && values.length > 0) {
        const what = `${label(h.entry)} host ${h.host}: ${values.at(-1)} from ${from} is outside the VIP range ${pool.range.cidr}; it is kept aside (restored if the range comes back) and a new address is allocated`;
        errors.push(new MeshdnsError('MESHDNS_VIP_OUTSIDE_RANGE', what));
        lost.add(h);
      }
      for (const [held, v] of inRange) {
        const conflict = pool.conflict(v);
        if (conflict) {
          const what = `${label(h.entry)} host ${h.host}: ${held} from ${from} ${conflict}; re-allocating`;
          errors.push(new MeshdnsError('MESHDNS_VIP_CONFLICT', what));
          lost.add(h);
          continue;
        }
        pool.used.set(v, h);
        h[field(f)] = bigIntToIp(v, f);
        h.from = h.from === 'status' || from === 'status.addresses' ? 'status' : 'state-file';
        break;
      }
    }
    // Kept whole: none of its addresses can be free, so hold-back need not parse them again.
    if (rec && rec.v4 === h.v4 && rec.v6 === h.v6) whole.add(rec);
  }

  const held = holdAbsent(previous, hosts, pools, opts, whole);
  const heldBack = holdBack(previous, holdback, pools, opts, whole);

  // Then the hosts still missing an address get the lowest free ones, in the same order: both families
  // as a pair (pairs.ts). A host gets both families or no new address at all, so it is either fully in
  // the table or left out.
  for (const h of eligible) {
    const missing = FAMILIES.filter((f) => h[field(f)] === undefined);
    if (missing.length === 0) {
      h.state = 'allocated';
      continue;
    }
    const kept: Partial<Record<Family, bigint>> = {};
    for (const f of FAMILIES) if (h[field(f)] !== undefined) kept[f] = ipToBigInt(h[field(f)]!);
    const found = newAddresses(pools, missing, kept);
    if (typeof found === 'number') {
      const r = pools[found].range;
      const unpaired =
        pools[found].lowest() !== undefined ? ' at the index of a free one of the other family' : '';
      const shorten = heldBack.length > 0 ? `, or shorten --vip-holdback (${heldBack.length} held back)` : '';
      const what = `${label(h.entry)} host ${h.host}: no free IPv${r.family} address left in ${r.cidr}${unpaired}; the host is left out of the name table (widen --vip-range-v${r.family} or remove unused entries${shorten})`;
      errors.push(new MeshdnsError('MESHDNS_VIP_EXHAUSTED', what));
      h.state = 'exhausted';
      continue;
    }
    for (const f of missing) {
      pools[f].used.set(found[f]!, h);
      h[field(f)] = bigIntToIp(found[f]!, f);
    }
    h.state = lost.has(h) ? 'reallocated' : 'new';
  }

  const served = new Map<string, { v4: string; v6: string }>();
  for (const h of eligible) {
    if (h.state !== 'exhausted') served.set(h.key, { v4: h.v4!, v6: h.v6! });
  }
  const keyed: Keyed<StoredAllocation>[] = [];
  for (const h of eligible) if (h.v4 || h.v6 || h.outside.length > 0) keyed.push([h.key, stored(h)]);
  for (const rec of held) keyed.push([allocationKey(rec.namespace, rec.name, rec.host), rec]);
  keyed.sort((a, b) => cmp(a[0], b[0]));
  const state = keyed.map((k) => k[1]);
  hosts.sort((a, b) => cmp(a.host, b.host) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  // Copied by assignment: a rest pattern or a spread per host cost V8 microseconds each (issue 8).
  const listed: HostVips[] = hosts.map(hostVips);
  const hostKeys = hosts.map((h) => h.key);
  let byKey: Map<string, HostVips> | undefined;
  const allocation: Allocation = {
    hosts: listed,
    state,
    held,
    holdback: heldBack,
    errors,
    host: (key) => {
      byKey ??= new Map(listed.map((h, i) => [hostKeys[i]!, h]));
      return byKey.get(key);
    },
    vips: (se, host) => served.get(lookupKey(se.meta.namespace, se.meta.name, host)),
  };
  const left = (f: Family): PoolState => ({
    used: pools[f].used,
    reserved: pools[f].reserved,
    next: pools[f].cursor,
  });
  const keys = { hosts: hostKeys, state: keyed.map((k) => k[0]) };
  return { allocation, pools: { 4: left(4), 6: left(6) }, keys };
}

/** A value and its allocationKey(), made once: not once per use (50,000 hosts made 1.5M strings in a sort). */
type Keyed<T> = [string, T];

function hostVips(c: Candidate): HostVips {
  const h: HostVips = { namespace: c.namespace, name: c.name, host: c.host, state: c.state, entry: c.entry };
  if (c.v4 !== undefined) h.v4 = c.v4;
  if (c.v6 !== undefined) h.v6 = c.v6;
  if (c.from !== undefined) h.from = c.from;
  return h;
}

function stored(h: Candidate): StoredAllocation {
  const s: StoredAllocation = { namespace: h.namespace, name: h.name, host: h.host };
  if (h.v4) s.v4 = h.v4;
  if (h.v6) s.v6 = h.v6;
  s.file = h.entry.source.file;
  if (h.outside.length > 0) s.outside = [...new Set(h.outside)];
  if (h.entry.perNameOf !== undefined) s.wildcard = h.entry.perNameOf;
  return s;
}

/**
 * The earlier allocations of hosts that are not in this snapshot (issue 8: a VIP must never move while
 * its entry exists). An entry is absent only when the file it came from loaded cleanly; then it keeps
 * its VIPs, reserved but not served, for the grace period. An entry that is present but ineligible
 * (opted out, resolution NONE, user addresses) loses them at once (SPEC §5).
 */
function holdAbsent(
  previous: readonly StoredAllocation[],
  hosts: readonly Candidate[],
  pools: Record<Family, Pool>,
  opts: AllocateOptions,
  whole: Set<StoredAllocation>,
): StoredAllocation[] {
  const seen = new Set(hosts.map((h) => h.key));
  const failed = opts.failedFiles ?? new Set<string>();
  const held: StoredAllocation[] = [];
  for (const rec of previous) {
    if (seen.has(allocationKey(rec.namespace, rec.name, rec.host))) continue;
    // A record from before files were recorded: any failing file might be the one that holds it.
    const unseen = rec.file === undefined ? failed.size > 0 : failed.has(rec.file);
    let absentSince = rec.absentSince;
    if (!unseen) {
      absentSince ??= new Date(opts.now).toISOString();
      if (opts.now - Date.parse(absentSince) >= opts.graceMs) continue;
    }
    const keep: StoredAllocation = { ...rec, ...(absentSince ? { absentSince } : {}) };
    for (const f of FAMILIES) {
      const value = rec[field(f)];
      if (value === undefined) continue;
      const v = ipToBigInt(value);
      // The user's address wins over a held one, and so does a host that is here now.
      if (pools[f].contains(v) && !pools[f].conflict(v)) pools[f].used.set(v, rec);
      else if (pools[f].contains(v)) delete keep[field(f)];
    }
    if (keep.v4 === rec.v4 && keep.v6 === rec.v6) whole.add(rec);
    held.push(keep);
  }
  return held;
}

/**
 * Hold-back (holdback.ts): first what was held back before and still is, then every address of an earlier
 * record that no host keeps now (its entry left past the grace period, became ineligible, or moved to
 * other addresses), counted from when it was last answered: when its entry left, else now.
 */
function holdBack(
  previous: readonly StoredAllocation[],
  earlier: readonly HeldBackVip[],
  pools: Record<Family, Pool>,
  opts: AllocateOptions,
  whole: ReadonlySet<StoredAllocation>,
): HeldBackVip[] {
  const ms = opts.holdbackMs ?? 0;
  if (ms <= 0) return [];
  const out: HeldBackVip[] = [];
  const take = (f: Family, v: bigint, entry: HeldBackVip) => pools[f].used.set(v, entry);
  for (const h of earlier) {
    if (!stillHeldBack(h.since, opts.now, ms)) continue;
    const entry = holdBackFree(h, h.since, pools, take);
    if (entry) out.push(entry);
  }
  const now = new Date(opts.now).toISOString();
  for (const rec of previous) {
    if (whole.has(rec)) continue;
    const since = rec.absentSince ?? now;
    if (!stillHeldBack(since, opts.now, ms)) continue;
    const entry = holdBackFree(rec, since, pools, take);
    if (entry) out.push(entry);
  }
  return sortHoldback(out);
}
