// Issue 14 item 4: a VIP that stops being answered is held back from every host for --vip-holdback, and a
// host's two families are allocated as a pair. Each scenario runs on both allocators — allocate() fed its
// own output, and VipAllocator fed the edits — with an injected clock (`now`), never a sleep.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Allocation,
  allocate,
  type HeldBackVip,
  type StoredAllocation,
  VipAllocator,
  vipRanges,
} from '../../src/allocate/index.js';
import type { ServiceEntry } from '../../src/model/index.js';
import { serviceEntry } from '../helpers/resources.js';

const MIN = 60_000;
const GRACE_MS = 10 * MIN;
const HOLDBACK_MS = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1);
const ranges = vipRanges('240.240.0.0/24', '2001:2::/120');

function se(name: string, extra: Partial<ServiceEntry> = {}): ServiceEntry {
  return serviceEntry('default', name, [`${name}.example.com`], {
    resolution: 'DNS',
    meta: {
      name,
      namespace: 'default',
      labels: {},
      annotations: {},
      creationTimestamp: new Date(T0).toISOString(),
    },
    ...extra,
  });
}

/** One allocator under test: takes the whole snapshot and what changed since the last one. */
interface Driver {
  name: string;
  update(entries: ServiceEntry[], removed: ServiceEntry[], added: ServiceEntry[], now: number): Allocation;
}

function oneShot(holdbackMs: number, start: { state?: StoredAllocation[]; holdback?: HeldBackVip[] } = {}) {
  let state = start.state ?? [];
  let holdback = start.holdback ?? [];
  return {
    name: 'allocate()',
    update(entries: ServiceEntry[], _r: ServiceEntry[], _a: ServiceEntry[], now: number) {
      const out = allocate(entries, state, ranges, { now, graceMs: GRACE_MS, holdbackMs }, holdback);
      state = out.state;
      holdback = out.holdback;
      return out;
    },
  };
}

function incremental(
  holdbackMs: number,
  start: { state?: StoredAllocation[]; holdback?: HeldBackVip[] } = {},
) {
  const allocator = new VipAllocator(ranges, start.state ?? [], start.holdback ?? []);
  let first = true;
  return {
    name: 'VipAllocator',
    allocator,
    update(entries: ServiceEntry[], removed: ServiceEntry[], added: ServiceEntry[], now: number) {
      const delta = first ? undefined : { removed, added };
      first = false;
      return allocator.update(entries, delta, { now, graceMs: GRACE_MS, holdbackMs }).allocation;
    },
  };
}

const vipsOf = (a: Allocation, e: ServiceEntry) => a.vips(e, e.hosts[0]!);

/** The first VIP pair, held back since T0 from an entry that is gone. */
const GONE_AT_T0: HeldBackVip = {
  namespace: 'default',
  name: 'gone',
  host: 'gone.example.com',
  v4: '240.240.0.1',
  v6: '2001:2::1',
  since: new Date(T0).toISOString(),
};

for (const make of [oneShot, incremental]) {
  describe(`VIP hold-back (issue 14 item 4): ${make(0).name}`, () => {
    it('a deleted entry’s VIP goes to no new entry before the hold-back ends, then is reusable', () => {
      const run: Driver = make(HOLDBACK_MS);
      const db = se('db');
      const other = se('other');
      const first = run.update([db, other], [], [db, other], T0);
      const dbVips = vipsOf(first, db)!;
      assert.deepEqual(dbVips, { v4: '240.240.0.1', v6: '2001:2::1' });

      // Deleted at T0 + 1 min; past the grace period nothing keeps it for db any more.
      run.update([other], [db], [], T0 + MIN);
      const newcomer = se('newcomer');
      const later = run.update([other, newcomer], [], [newcomer], T0 + MIN + GRACE_MS + MIN);
      assert.deepEqual(vipsOf(later, newcomer), { v4: '240.240.0.3', v6: '2001:2::3' }, 'a new VIP');
      assert.deepEqual(later.held, []);
      assert.deepEqual(later.holdback, [
        {
          namespace: 'default',
          name: 'db',
          host: 'db.example.com',
          ...dbVips,
          since: new Date(T0 + MIN).toISOString(),
        },
      ]);

      // One millisecond before the end it is still held back; at the end the next new entry takes it.
      const third = se('third');
      const before = run.update([other, newcomer, third], [], [third], T0 + MIN + HOLDBACK_MS - 1);
      assert.deepEqual(vipsOf(before, third), { v4: '240.240.0.4', v6: '2001:2::4' });
      const fourth = se('fourth');
      const after = run.update([other, newcomer, third, fourth], [], [fourth], T0 + MIN + HOLDBACK_MS);
      assert.deepEqual(vipsOf(after, fourth), dbVips, 'the old VIP is reusable after the hold-back');
      assert.deepEqual(after.holdback, []);
    });

    it('an entry that becomes ineligible is freed at once (SPEC §5) but held back from others', () => {
      const run = make(HOLDBACK_MS);
      const db = se('db');
      run.update([db], [], [db], T0);
      const optedOut = se('db', {
        meta: { ...db.meta, labels: { 'networking.istio.io/enable-autoallocate-ip': 'false' } },
      });
      const b = se('b');
      const next = run.update([optedOut, b], [db], [optedOut, b], T0 + MIN);
      assert.equal(vipsOf(next, optedOut), undefined);
      assert.deepEqual(vipsOf(next, b), { v4: '240.240.0.2', v6: '2001:2::2' });
      assert.deepEqual(
        next.holdback.map((h) => [h.v4, h.v6, h.since]),
        [['240.240.0.1', '2001:2::1', new Date(T0 + MIN).toISOString()]],
      );
    });

    it('without hold-back (0) a freed VIP is the next one given, as before', () => {
      const run = make(0);
      const db = se('db');
      run.update([db], [], [db], T0);
      run.update([], [db], [], T0 + MIN);
      const b = se('b');
      const next = run.update([b], [], [b], T0 + MIN + GRACE_MS);
      assert.deepEqual(vipsOf(next, b), { v4: '240.240.0.1', v6: '2001:2::1' });
      assert.deepEqual(next.holdback, []);
    });

    it('a held-back VIP named in a present entry’s status.addresses stays with that entry', () => {
      const run = make(HOLDBACK_MS, { holdback: [GONE_AT_T0] });
      const kept = se('kept', {
        statusAddresses: [
          { host: 'kept.example.com', value: '240.240.0.1' },
          { host: 'kept.example.com', value: '2001:2::1' },
        ],
      });
      const a = run.update([kept], [], [kept], T0 + MIN);
      assert.deepEqual(vipsOf(a, kept), { v4: '240.240.0.1', v6: '2001:2::1' });
      assert.deepEqual(a.holdback, []);
    });

    it('a state with VIPs held back is honoured from the first allocation on', () => {
      const run = make(HOLDBACK_MS, { holdback: [GONE_AT_T0] });
      const b = se('b');
      const first = run.update([b], [], [b], T0 + MIN);
      assert.deepEqual(vipsOf(first, b), { v4: '240.240.0.2', v6: '2001:2::2' });
      assert.equal(first.holdback.length, 1);
    });
  });

  describe(`paired families (issue 14 item 4): ${make(0).name}`, () => {
    it('a host gets the nth IPv4 with the nth IPv6, skipping an index where either is taken', () => {
      const run = make(0);
      // The user's IPv6 address takes index 1 of the v6 range: index 1 of v4 goes unused rather than
      // split a pair (before pairing, a got 240.240.0.1 with 2001:2::2).
      const user = se('user', { addresses: ['2001:2::1'] });
      const a = se('a');
      const out = run.update([user, a], [], [user, a], T0);
      assert.deepEqual(vipsOf(out, a), { v4: '240.240.0.2', v6: '2001:2::2' });
    });

    it('a host that kept one family gets the other at the same index', () => {
      const run = make(0);
      const a = se('a', { statusAddresses: [{ host: 'a.example.com', value: '240.240.0.9' }] });
      const out = run.update([a], [], [a], T0);
      assert.deepEqual(vipsOf(out, a), { v4: '240.240.0.9', v6: '2001:2::9' });
    });
  });
}
