// VIP auto-allocation (SPEC §5), as a pure function of the ServiceEntries and what was allocated
// before: the same input always gives the same VIPs, and a VIP once given never changes while its
// entry exists. Each eligible host gets one IPv4 and one IPv6 address.
import { MeshdnsError } from '../errors.js';
import { formatSource, type ServiceEntry } from '../model/index.js';
import { type Ineligible, ineligibility } from './eligibility.js';
import {
  type AddressBlock,
  bigIntToIp,
  blockOf,
  type Family,
  familyOf,
  ipToBigInt,
  type VipRange,
  type VipRanges,
} from './range.js';

/** One host's VIPs as persisted, keyed by (namespace, entry name, host). */
export interface StoredAllocation {
  namespace: string;
  name: string;
  host: string;
  v4?: string;
  v6?: string;
  /** The manifest file the ServiceEntry was last loaded from (`se.source.file`). */
  file?: string;
  /** ISO-8601: since when the entry has been absent from cleanly loaded snapshots; none = present. */
  absentSince?: string;
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
  /** What to persist: every eligible host holding an address, sorted by key. */
  state: StoredAllocation[];
  /** Conflicts resolved and hosts left without VIPs, each naming the entry and host. */
  errors: MeshdnsError[];
  /** The VIPs a name table uses for a host (both families, or nothing). */
  vips(entry: ServiceEntry, host: string): { v4: string; v6: string } | undefined;
}

const FAMILIES = [4, 6] as const;
const field = (f: Family) => (f === 4 ? 'v4' : 'v6');

export function allocationKey(namespace: string, name: string, host: string): string {
  return `${namespace}/${name}/${host}`;
}

function label(se: ServiceEntry): string {
  return `ServiceEntry ${se.meta.namespace}/${se.meta.name} (${formatSource(se.source)})`;
}

/** One family's range: who holds what, and a cursor for sequential allocation. */
class Pool {
  readonly used = new Map<bigint, string>();
  #cursor: bigint;

  constructor(
    readonly range: VipRange,
    readonly reserved: { block: AddressBlock; owner: string }[],
  ) {
    this.#cursor = range.first;
  }

  reservation(v: bigint): { block: AddressBlock; owner: string } | undefined {
    return this.reserved.find((r) => r.block.start <= v && v <= r.block.end);
  }

  /** The lowest free address. Nothing is freed during a round, so the cursor only moves forward. */
  peek(): bigint | undefined {
    while (this.#cursor <= this.range.last) {
      const v = this.#cursor;
      const user = this.reservation(v);
      if (user) this.#cursor = user.block.end + 1n;
      else if (this.used.has(v)) this.#cursor++;
      else return v;
    }
    return undefined;
  }
}

// Oldest first (SPEC §5: the oldest entry keeps a contested VIP); entries without a readable
// creationTimestamp count as newest. Ties fall back to names so the order never depends on files.
function age(se: ServiceEntry): number {
  const t = se.meta.creationTimestamp ? Date.parse(se.meta.creationTimestamp) : Number.NaN;
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function byAge(a: HostVips, b: HostVips): number {
  // Two entries without a timestamp give Infinity - Infinity = NaN, which is falsy like a tie.
  const d = age(a.entry) - age(b.entry);
  return d || cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.host, b.host);
}

function userReservations(entries: readonly ServiceEntry[], family: Family) {
  return entries.flatMap((se) =>
    se.addresses.flatMap((a) => {
      const block = blockOf(a);
      const owner = `in spec.addresses (${a}) of ServiceEntry ${se.meta.namespace}/${se.meta.name}`;
      return block && block.family === family ? [{ block, owner }] : [];
    }),
  );
}

export function allocate(
  entries: readonly ServiceEntry[],
  previous: readonly StoredAllocation[],
  ranges: VipRanges,
): Allocation {
  const errors: MeshdnsError[] = [];
  const pools = {
    4: new Pool(ranges.v4, userReservations(entries, 4)),
    6: new Pool(ranges.v6, userReservations(entries, 6)),
  };
  const before = new Map(previous.map((p) => [allocationKey(p.namespace, p.name, p.host), p]));
  const hosts: HostVips[] = [];
  for (const se of entries) {
    for (const host of new Set(se.hosts)) {
      const why = ineligibility(se, host);
      const { namespace, name } = se.meta;
      hosts.push({ namespace, name, host, state: why ?? 'new', entry: se });
    }
  }
  const eligible = hosts.filter((h) => h.state === 'new').sort(byAge);
  const lost = new Set<HostVips>();

  // First every host keeps what it held, oldest first; a contested address stays with the user
  // (spec.addresses), then with the older entry, and the other host is re-allocated below.
  for (const h of eligible) {
    const key = allocationKey(h.namespace, h.name, h.host);
    for (const f of FAMILIES) {
      // status.addresses is the source of truth, as for Istio's controller; the state file stands in
      // for it where manifests carry no status.
      const status = h.entry.statusAddresses.find((a) => a.host === h.host && familyOf(a.value) === f);
      const held = status?.value ?? before.get(key)?.[field(f)];
      if (held === undefined || familyOf(held) !== f) continue;
      const from = status ? 'status.addresses' : 'the state file';
      const pool = pools[f];
      const v = ipToBigInt(held);
      const conflict =
        v < pool.range.first || v > pool.range.last
          ? `is outside the VIP range ${pool.range.cidr}`
          : pool.reservation(v)
            ? `is also ${pool.reservation(v)!.owner}, and the user's address wins`
            : pool.used.has(v)
              ? `is already held by ${pool.used.get(v)} (the older entry keeps it)`
              : undefined;
      if (conflict) {
        const what = `${label(h.entry)} host ${h.host}: ${held} from ${from} ${conflict}; re-allocating`;
        errors.push(new MeshdnsError('MESHDNS_VIP_CONFLICT', what));
        lost.add(h);
        continue;
      }
      pool.used.set(v, `ServiceEntry ${h.namespace}/${h.name} host ${h.host}`);
      h[field(f)] = bigIntToIp(v, f);
      h.from = h.from === 'status' || status ? 'status' : 'state-file';
    }
  }

  // Then the hosts still missing an address get the lowest free ones, in the same order. A host
  // gets both families or no new address at all, so it is either fully in the table or left out.
  for (const h of eligible) {
    const missing = FAMILIES.filter((f) => h[field(f)] === undefined);
    const kept = missing.length === 0;
    const found = missing.map((f) => [f, pools[f].peek()] as const);
    const full = found.find(([, v]) => v === undefined);
    if (full) {
      const r = pools[full[0]].range;
      const what = `${label(h.entry)} host ${h.host}: no free IPv${r.family} address left in ${r.cidr}; the host is left out of the name table (widen --vip-range-v${r.family} or remove unused entries)`;
      errors.push(new MeshdnsError('MESHDNS_VIP_EXHAUSTED', what));
      h.state = 'exhausted';
      continue;
    }
    for (const [f, v] of found) {
      pools[f].used.set(v!, `ServiceEntry ${h.namespace}/${h.name} host ${h.host}`);
      h[field(f)] = bigIntToIp(v!, f);
    }
    h.state = kept ? 'allocated' : lost.has(h) ? 'reallocated' : 'new';
  }

  const served = new Map<string, { v4: string; v6: string }>();
  for (const h of eligible) {
    if (h.state !== 'exhausted')
      served.set(allocationKey(h.namespace, h.name, h.host), { v4: h.v4!, v6: h.v6! });
  }
  const state = eligible
    .filter((h) => h.v4 !== undefined || h.v6 !== undefined)
    .map(({ namespace, name, host, v4, v6 }) => ({
      namespace,
      name,
      host,
      ...(v4 ? { v4 } : {}),
      ...(v6 ? { v6 } : {}),
    }))
    .sort((a, b) =>
      cmp(allocationKey(a.namespace, a.name, a.host), allocationKey(b.namespace, b.name, b.host)),
    );
  hosts.sort((a, b) => cmp(a.host, b.host) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  return {
    hosts,
    state,
    errors,
    vips: (se, host) => served.get(allocationKey(se.meta.namespace, se.meta.name, host)),
  };
}
