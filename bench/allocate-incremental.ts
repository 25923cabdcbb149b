// Per-edit cost of VIP allocation, one-shot allocate() against VipAllocator.update(), on generated
// ServiceEntries shaped as the scale fixture (bench/fixtures/scale.ts): half with addresses, half getting
// VIPs, creationTimestamps a second apart. Each edit changes one entry's addresses, as the scale scenario's
// edits do. Usage: node dist/bench/allocate-incremental.js [sizes...] (default 10000 50000 100000).
// VIPs freed by the flips are held back for BENCH_VIP_HOLDBACK_MS (default 3600000, the --vip-holdback
// default; 0 turns hold-back off), as `serve` and `controller` run.
import { performance } from 'node:perf_hooks';
import {
  allocate,
  type HeldBackVip,
  type StoredAllocation,
  VipAllocator,
  vipRanges,
} from '../src/allocate/index.js';
import { DEFAULTS } from '../src/defaults.js';
import type { ServiceEntry } from '../src/model/index.js';

const EDITS = 15;
const ranges = vipRanges('240.240.0.0/16', '2001:2::/48');
const EPOCH_MS = Date.UTC(2024, 0, 1);
const HOLDBACK_MS = Number(process.env.BENCH_VIP_HOLDBACK_MS ?? DEFAULTS.vipHoldbackMs);

function entry(i: number, address?: string): ServiceEntry {
  const ns = `ns-${i % 50}`;
  const name = `se-${i}`;
  return {
    kind: 'ServiceEntry',
    meta: {
      name,
      namespace: ns,
      labels: {},
      annotations: {},
      creationTimestamp: new Date(EPOCH_MS + i * 1000).toISOString(),
    },
    hosts: [`se-${i}.example.com`],
    addresses: address ? [address] : [],
    ports: [{ number: 443, protocol: 'TLS', name: 'tls' }],
    location: 'MESH_EXTERNAL',
    resolution: 'DNS',
    endpoints: [],
    exportTo: ['*'],
    statusAddresses: [],
    source: { file: `f${i % 100}.yaml`, doc: i },
  };
}

const address = (i: number) =>
  `172.${16 + Math.floor(i / 62_500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function run(size: number) {
  const entries = Array.from({ length: size }, (_, i) => entry(i, i % 2 === 0 ? address(i) : undefined));
  const opts = (k: number) => ({ now: EPOCH_MS + 1e9 + k * 1000, graceMs: 600_000, holdbackMs: HOLDBACK_MS });
  // One edit k: entry 2k·(size/2/EDITS) gets a new address (TEST-NET-3), as the scale scenario's edits.
  const edit = (k: number) => {
    const i = 2 * Math.floor((k * size) / 2 / EDITS);
    const next = entry(i, `203.0.113.${k + 1}`);
    const old = entries[i]!;
    entries[i] = next;
    return { removed: [old], added: [next] };
  };
  // Flip edits: an entry that gets VIPs gains addresses (its VIPs are freed), then loses them again.
  const flip = (k: number) => {
    const i = 2 * Math.floor((k * size) / 2 / EDITS) + 1;
    const old = entries[i]!;
    const next = entry(i, old.addresses.length > 0 ? undefined : '203.0.113.200');
    entries[i] = next;
    return { removed: [old], added: [next] };
  };

  let { state, holdback }: { state: StoredAllocation[]; holdback: HeldBackVip[] } = allocate(
    entries,
    [],
    ranges,
    opts(0),
  );
  const full: number[] = [];
  for (let k = 0; k < EDITS; k++) {
    edit(k);
    const t = performance.now();
    ({ state, holdback } = allocate(entries, state, ranges, opts(k), holdback));
    full.push(performance.now() - t);
  }

  const allocator = new VipAllocator(ranges, state, holdback);
  let t = performance.now();
  allocator.update(entries, undefined, opts(0));
  const first = performance.now() - t;
  const fast: number[] = [];
  const flips: number[] = [];
  let held = 0;
  for (let k = 0; k < EDITS; k++) {
    const d = edit(k);
    t = performance.now();
    allocator.update(entries, d, opts(k));
    fast.push(performance.now() - t);
    const f = flip(k);
    t = performance.now();
    // What the name table asks of an edit: the VIPs of the hosts that changed.
    const { allocation } = allocator.update(entries, f, opts(k));
    allocation.vips(f.added[0]!, f.added[0]!.hosts[0]!);
    flips.push(performance.now() - t);
    held = allocation.holdback.length;
  }
  const fmt = (x: number) => x.toFixed(x < 1 ? 3 : 1);
  console.log(
    `${size} entries (hold-back ${HOLDBACK_MS} ms): allocate() per edit median ${fmt(median(full))} ms (min ${fmt(Math.min(...full))}, max ${fmt(Math.max(...full))}); ` +
      `VipAllocator first (full + tables) ${fmt(first)} ms; update per address edit median ${fmt(median(fast))} ms ` +
      `(max ${fmt(Math.max(...fast))}), per eligibility flip median ${fmt(median(flips))} ms (max ${fmt(Math.max(...flips))}); ` +
      `paths ${JSON.stringify(allocator.counts)}; held back at the end ${held}`,
  );
}

const sizes = process.argv.slice(2).map(Number);
for (const size of sizes.length > 0 ? sizes : [10_000, 50_000, 100_000]) run(size);
