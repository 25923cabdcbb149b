// VipAllocator against allocate(): a seeded random walk of edits, compared at every step. The walk
// covers what the fast path must either get right or hand back to allocate(): user addresses in and
// out of the VIP ranges, status.addresses, ages, ineligible entries, failing files, time passing the
// grace period, re-adds within it, duplicate names, and a range small enough to run out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Allocation,
  allocate,
  allocationKey,
  type EntryDelta,
  type HeldBackVip,
  type StoredAllocation,
  VipAllocator,
  type VipRanges,
  vipRanges,
} from '../../src/allocate/index.js';
import type { Resolution, ServiceEntry } from '../../src/model/index.js';
import { serviceEntry } from '../helpers/resources.js';

/** mulberry32: small, seeded, the same walk on every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    chance: (p: number) => next() < p,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}
type Rng = ReturnType<typeof prng>;

const GRACE_MS = 10 * 60_000;
const FILES = ['a.yaml', 'b.yaml', 'c.yaml', 'd.yaml'];
const HOSTS = ['db', 'api', 'cache', 'mq', 'web', '*.wild', '10.9.8.7'];

interface World {
  ranges: VipRanges;
  /** VIP-range addresses the walk uses as user addresses and status values. */
  inside: { v4: (n: number) => string; v6: (n: number) => string; size: number };
  slots: number;
  /** How often an entry gets what makes allocate() report errors: user addresses in a VIP range, stray status. */
  odd: number;
  /** `--vip-holdback` (issue 14 item 4); none: freed VIPs are free at once. */
  holdbackMs?: number;
}

/** A slot is one ServiceEntry identity; the last two reuse the names of the first two (duplicates). */
function nameOf(slot: number, slots: number): { ns: string; name: string } {
  const i = slot >= slots - 2 ? slot - (slots - 2) : slot;
  return { ns: i % 3 === 0 ? 'alpha' : 'beta', name: `e${i}` };
}

function randomEntry(rng: Rng, w: World, slot: number, current: (key: string) => string[]): ServiceEntry {
  const { ns, name } = nameOf(slot, w.slots);
  const hosts = [...new Set(Array.from({ length: 1 + rng.int(3) }, () => rng.pick(HOSTS)))].map((h) =>
    h.includes('.') && !h.startsWith('*') ? h : `${h}.${name}.example.com`,
  );
  const odd = rng.chance(w.odd);
  const addresses = rng.chance(0.7)
    ? []
    : rng.pick(
        [
          ['192.0.2.10'],
          ['198.51.100.0/24', '2001:db8::5'],
          ...(odd ? [] : [['192.0.2.10', '2001:db8::1']]),
        ].concat(
          odd
            ? [
                [w.inside.v4(rng.int(w.inside.size))],
                [w.inside.v6(rng.int(w.inside.size))],
                [`${w.inside.v4(rng.int(w.inside.size)).replace(/\.\d+$/, '.0')}/30`],
              ]
            : [],
        ),
      );
  const statusAddresses = hosts.flatMap((host) => {
    const r = rng.int(10);
    // Mostly what the controller wrote back (the host's VIPs), sometimes anything.
    if (r < 3) return current(allocationKey(ns, name, host)).map((value) => ({ host, value }));
    if (r === 3 && odd) return [{ host, value: w.inside.v4(rng.int(w.inside.size)) }];
    if (r === 4 && odd) return [{ host, value: '100.64.0.1' }];
    return [];
  });
  const resolution: Resolution = rng.pick(['DNS', 'DNS', 'DNS', 'STATIC', 'NONE', 'DYNAMIC_DNS']);
  const labels: Record<string, string> = rng.chance(0.1)
    ? { 'networking.istio.io/enable-autoallocate-ip': rng.pick(['false', 'FALSE', 'true']) }
    : {};
  const day = rng.int(8);
  const creationTimestamp = rng.chance(0.8)
    ? { creationTimestamp: new Date(Date.UTC(2024, 0, 1 + day)).toISOString() }
    : {};
  return serviceEntry(ns, name, hosts, {
    meta: { name, namespace: ns, labels, annotations: {}, ...creationTimestamp },
    resolution,
    addresses,
    statusAddresses,
    source: { file: FILES[slot % FILES.length]!, doc: slot },
  });
}

/** Field by field, so that a difference names what differs. */
function assertSame(got: Allocation, want: Allocation, step: string): void {
  assert.deepStrictEqual(got.hosts, want.hosts, `${step}: hosts`);
  assert.deepStrictEqual(got.state, want.state, `${step}: state`);
  assert.deepStrictEqual(got.held, want.held, `${step}: held`);
  assert.deepStrictEqual(got.holdback, want.holdback, `${step}: holdback`);
  assert.deepStrictEqual(got.errors, want.errors, `${step}: errors`);
  for (const h of want.hosts)
    assert.deepStrictEqual(got.vips(h.entry, h.host), want.vips(h.entry, h.host), `${step}: vips ${h.host}`);
}

function served(a: Allocation): Map<string, string> {
  const out = new Map<string, string>();
  for (const h of a.hosts) {
    const v = a.vips(h.entry, h.host);
    if (v) out.set(allocationKey(h.namespace, h.name, h.host), `${v.v4} ${v.v6}`);
  }
  return out;
}

/** The allocator's paths taken, and how many steps ended with VIPs held back (fast path, all). */
interface Walked {
  counts: VipAllocator['counts'];
  heldBack: { fast: number; all: number };
}

function walk(w: World, seed: number, steps: number, initial: StoredAllocation[]): Walked {
  const rng = prng(seed);
  const allocator = new VipAllocator(w.ranges, initial);
  const present = new Map<number, ServiceEntry>();
  const removedAt = new Map<number, ServiceEntry>();
  let previous: readonly StoredAllocation[] = initial;
  let previousHoldback: readonly HeldBackVip[] = [];
  let before = new Map<string, string>();
  let now = Date.UTC(2025, 0, 1);
  let failed = new Set<string>();
  const current = (key: string) => before.get(key)?.split(' ') ?? [];
  const heldBack = { fast: 0, all: 0 };
  for (let step = 0; step < steps; step++) {
    const delta: { removed: ServiceEntry[]; added: ServiceEntry[] } = { removed: [], added: [] };
    const edits = rng.chance(0.15) ? 2 + rng.int(3) : 1;
    for (let e = 0; e < edits; e++) {
      const slot = rng.int(w.slots);
      const duplicate = slot >= w.slots - 2;
      const old = present.get(slot);
      if (delta.removed.includes(old!) || delta.added.includes(old!)) continue;
      const r = rng.int(10);
      if (!old && (!duplicate || rng.chance(0.1))) {
        const back = removedAt.get(slot);
        const se = back && r < 4 ? { ...back } : randomEntry(rng, w, slot, current);
        present.set(slot, se);
        delta.added.push(se);
      } else if (old && (r < 3 || duplicate)) {
        present.delete(slot);
        removedAt.set(slot, old);
        delta.removed.push(old);
      } else if (old) {
        const se = r < 6 ? randomEntry(rng, w, slot, current) : { ...old, hosts: [...old.hosts].reverse() };
        present.set(slot, se);
        delta.removed.push(old);
        delta.added.push(se);
      }
    }
    if (rng.chance(0.3)) now += rng.int(GRACE_MS * 1.5);
    if (rng.chance(0.1)) failed = new Set(FILES.filter(() => rng.chance(0.3)));
    const entries = [...present.values()];
    if (rng.chance(0.1)) entries.reverse();
    const opts = {
      now,
      graceMs: GRACE_MS,
      failedFiles: failed,
      ...(w.holdbackMs !== undefined ? { holdbackMs: w.holdbackMs } : {}),
    };
    const known: EntryDelta | undefined = step === 0 || rng.chance(0.03) ? undefined : delta;
    const fastBefore = allocator.counts.fast;
    const { allocation, changed, stateChanged } = allocator.update(entries, known, opts);
    const want = allocate(entries, previous, w.ranges, opts, previousHoldback);
    assertSame(allocation, want, `seed ${seed} step ${step}`);
    const after = served(want);
    if (changed !== 'all') {
      for (const key of new Set([...before.keys(), ...after.keys()]))
        assert.equal(
          changed.has(key),
          before.get(key) !== after.get(key),
          `seed ${seed} step ${step}: changed ${key}`,
        );
    }
    if (!stateChanged) {
      assert.deepStrictEqual(want.state, previous, `seed ${seed} step ${step}: state unchanged`);
      assert.deepStrictEqual(
        want.holdback,
        previousHoldback,
        `seed ${seed} step ${step}: holdback unchanged`,
      );
    }
    if (want.holdback.length > 0) {
      heldBack.all++;
      if (allocator.counts.fast > fastBefore) heldBack.fast++;
    }
    previous = want.state;
    previousHoldback = want.holdback;
    before = after;
  }
  return { counts: allocator.counts, heldBack };
}

const small: World = {
  ranges: vipRanges('240.240.0.0/28', '2001:2::/124'),
  inside: { v4: (n) => `240.240.0.${n + 1}`, v6: (n) => `2001:2::${(n + 1).toString(16)}`, size: 14 },
  slots: 30,
  odd: 0.5,
};
const roomy: World = {
  ranges: vipRanges('240.240.0.0/24', '2001:2::/120'),
  inside: { v4: (n) => `240.240.0.${n + 200}`, v6: (n) => `2001:2::${(n + 200).toString(16)}`, size: 50 },
  slots: 40,
  odd: 0.02,
};

// Hold-back longer than the grace period (the default's shape: 1 h against 10 min), so that deleted and
// opted-out entries leave VIPs held back, and some of them expire while the walk goes on.
const smallHeld: World = { ...small, holdbackMs: 2 * GRACE_MS };
const roomyHeld: World = { ...roomy, holdbackMs: 2 * GRACE_MS };

describe('VipAllocator: equal to allocate() at every step of a random walk', () => {
  it('with hold-back: freed VIPs held back, expiring, exhaustion while they are', () => {
    let fast = 0;
    for (const [w, seeds] of [
      [smallHeld, [31, 32, 33]],
      [roomyHeld, [34, 35]],
    ] as const) {
      for (const seed of seeds) {
        const { heldBack } = walk(w, seed, 300, []);
        // The walk must reach what it is here for: steps with VIPs held back, on the fast path too.
        assert.ok(heldBack.all > 30, `seed ${seed}: ${JSON.stringify(heldBack)}`);
        fast += heldBack.fast;
      }
    }
    assert.ok(fast > 100, `${fast} fast steps with VIPs held back`);
  });

  it('a /28: exhaustion, conflicts and reuse of freed addresses', () => {
    for (const seed of [1, 2, 3]) walk(small, seed, 300, []);
  });

  it('a roomy range: most edits take the fast path', () => {
    let fast = 0;
    let full = 0;
    for (const seed of [11, 12, 13]) {
      const { counts } = walk(roomy, seed, 300, []);
      fast += counts.fast;
      full += counts.full;
    }
    assert.ok(fast > full, `fast ${fast}, full ${full}`);
  });

  it('starts from a state file with held records and addresses of another range', () => {
    const initial: StoredAllocation[] = [
      {
        namespace: 'alpha',
        name: 'e0',
        host: 'db.e0.example.com',
        v4: '240.240.0.3',
        v6: '2001:2::3',
        file: 'a.yaml',
      },
      { namespace: 'beta', name: 'e1', host: 'api.e1.example.com', v4: '10.0.0.1', outside: ['240.240.0.9'] },
      {
        namespace: 'beta',
        name: 'gone',
        host: 'gone.example.com',
        v4: '240.240.0.5',
        v6: '2001:2::5',
        file: 'b.yaml',
        absentSince: new Date(Date.UTC(2025, 0, 1)).toISOString(),
      },
    ];
    for (const seed of [21, 22]) walk(small, seed, 200, initial);
    for (const seed of [23, 24]) walk(roomy, seed, 200, initial);
  });
});

describe('VipAllocator: the fast path', () => {
  const ranges = vipRanges('240.240.0.0/24', '2001:2::/120');
  const opts = { now: Date.UTC(2025, 0, 1), graceMs: GRACE_MS };
  const se = (name: string, extra: Partial<ServiceEntry> = {}) =>
    serviceEntry('default', name, [`${name}.example.com`], { resolution: 'DNS', ...extra });

  it("an edit of one entry's outside addresses changes only that entry's VIPs", () => {
    const entries = Array.from({ length: 20 }, (_, i) => se(`s${i}`));
    const allocator = new VipAllocator(ranges, []);
    const first = allocator.update(entries, undefined, opts);
    assert.equal(first.changed, 'all');
    const freed = first.allocation.vips(entries[3]!, 's3.example.com');
    const edited = se('s3', { addresses: ['192.0.2.1'] });
    const next = entries.map((e) => (e === entries[3] ? edited : e));
    const { allocation, changed } = allocator.update(next, { removed: [entries[3]!], added: [edited] }, opts);
    assert.deepStrictEqual([...(changed as Set<string>)], ['default/s3/s3.example.com']);
    assert.equal(allocation.vips(edited, 's3.example.com'), undefined);
    assert.deepStrictEqual(allocator.counts, { full: 1, fast: 1 });
    // The freed address is the lowest free one, so the next new host takes it.
    const added = se('t');
    const { allocation: third } = allocator.update([...next, added], { removed: [], added: [added] }, opts);
    assert.deepStrictEqual(third.vips(added, 't.example.com'), freed);
    assert.deepStrictEqual(allocator.counts, { full: 1, fast: 2 });
  });

  it("a host whose status.addresses names a user's address gets what allocate() gives it (a conflict)", () => {
    const mine = se('mine', { addresses: ['240.240.0.50'] });
    const entries = [se('a'), mine];
    const allocator = new VipAllocator(ranges, []);
    const first = allocator.update(entries, undefined, opts);
    const b = se('b', { statusAddresses: [{ host: 'b.example.com', value: '240.240.0.50' }] });
    const { allocation } = allocator.update([...entries, b], { removed: [], added: [b] }, opts);
    const want = allocate([...entries, b], first.allocation.state, ranges, opts);
    assert.deepStrictEqual(
      allocation.errors.map((e) => e.code),
      ['MESHDNS_VIP_CONFLICT'],
    );
    assert.deepStrictEqual(allocation.hosts, want.hosts);
    assert.deepStrictEqual(allocator.counts, { full: 2, fast: 0 });
  });

  it('an edit of an entry with its own addresses changes no VIP and nothing to persist', () => {
    const mine = se('mine', { addresses: ['192.0.2.1'] });
    const entries = [se('a'), mine, se('b')];
    const allocator = new VipAllocator(ranges, []);
    allocator.update(entries, undefined, opts);
    const edited = se('mine', { addresses: ['203.0.113.7'] });
    const update = allocator.update(
      [entries[0]!, edited, entries[2]!],
      { removed: [mine], added: [edited] },
      opts,
    );
    assert.deepStrictEqual([...(update.changed as Set<string>)], []);
    assert.equal(update.stateChanged, false);
    assert.deepStrictEqual(allocator.counts, { full: 1, fast: 1 });
  });

  it('an allocation read after a later update says so instead of answering from newer tables', () => {
    const entries = [se('a'), se('b')];
    const allocator = new VipAllocator(ranges, []);
    allocator.update(entries, undefined, opts);
    const c = se('c');
    const { allocation } = allocator.update([...entries, c], { removed: [], added: [c] }, opts);
    const d = se('d');
    allocator.update([...entries, c, d], { removed: [], added: [d] }, opts);
    assert.throws(() => allocation.hosts, { code: 'MESHDNS_ALLOCATION_STALE' });
    assert.throws(() => allocation.vips(c, 'c.example.com'), { code: 'MESHDNS_ALLOCATION_STALE' });
  });
});
