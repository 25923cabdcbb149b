// The incremental allocator's Allocation: the sorted lists of every host are built on first read, so an
// edit that nobody lists costs nothing, and vips() is one Map lookup.
import { type Allocation, type HostVips, lookupKey, type StoredAllocation } from './allocator.js';
import { type HeldBackVip, sortHoldback } from './holdback.js';

/** The allocator's live tables, keyed by allocationKey(). */
export interface AllocationTables {
  hosts: ReadonlyMap<string, HostVips>;
  records: ReadonlyMap<string, StoredAllocation>;
  held: ReadonlyMap<string, StoredAllocation>;
  served: ReadonlyMap<string, { v4: string; v6: string }>;
  holdback: ReadonlySet<HeldBackVip>;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** By allocationKey(), each record's key made once, not in every comparison (12,500 records: 350,000 keys). */
function byKey(records: StoredAllocation[]): StoredAllocation[] {
  const keyed = records.map((r) => ({ r, key: lookupKey(r.namespace, r.name, r.host) }));
  keyed.sort((a, b) => cmp(a.key, b.key));
  return keyed.map((k) => k.r);
}

/** `live(what)` throws once the tables have moved on: a list read late would describe a later snapshot. */
export function lazyAllocation(t: AllocationTables, live: (what: string) => void): Allocation {
  let hosts: HostVips[] | undefined;
  let state: StoredAllocation[] | undefined;
  let held: StoredAllocation[] | undefined;
  let holdback: HeldBackVip[] | undefined;
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
      state = byKey([...t.records.values(), ...t.held.values()]);
      return state;
    },
    get held() {
      if (held) return held;
      live('held');
      held = byKey([...t.held.values()]);
      return held;
    },
    get holdback() {
      if (holdback) return holdback;
      live('holdback');
      holdback = sortHoldback([...t.holdback]);
      return holdback;
    },
    errors: [],
    host: (key) => {
      live('host()');
      return t.hosts.get(key);
    },
    vips: (se, host) => {
      live('vips()');
      return t.served.get(lookupKey(se.meta.namespace, se.meta.name, host));
    },
  };
}
