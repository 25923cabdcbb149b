// `node --expose-gc dist/bench/serve-phases.js [objects] [rounds]`: where a `serve` start spends its CPU,
// phase by phase, in one process on the scale fixture (100 files): reading and validating the
// folder, VIP allocation, the table build, packing the diff for the answering thread, and that
// thread's side (unpacking into a NameTable). CPU milliseconds (medians), so a shared machine skews
// them less than wall time; the heap each phase keeps, after a full GC. Not a test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { VipAllocator, vipRanges } from '../src/allocate/index.js';
import { LiveView } from '../src/controller/live.js';
import { DEFAULTS } from '../src/defaults.js';
import { nameGivers } from '../src/nametable/build.js';
import { NameTable, packSet, type Slicer, TableBuilder } from '../src/nametable/index.js';
import { loadManifests } from '../src/sources/index.js';
import { ScaleFixture } from './fixtures/scale.js';

const objects = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const scope = {
  namespace: 'default',
  clusterDomain: 'cluster.local',
  searchDomains: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
};
const ranges = vipRanges(DEFAULTS.vipRangeV4, DEFAULTS.vipRangeV6);
const never: Slicer = { due: () => false, pause: async () => {} };

const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = () => {
  if (round === 0) gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

async function cpuMs<T>(run: () => T | Promise<T>): Promise<[number, T]> {
  const start = process.cpuUsage();
  const out = await run();
  const used = process.cpuUsage(start);
  return [(used.user + used.system) / 1000, out];
}

/** Garbage collection in the rounds after the first (whose explicit collections would count too). */
let gcMs = 0;
const gcWatch = new PerformanceObserver((list) => {
  if (round > 0) for (const e of list.getEntries()) gcMs += e.duration;
});
gcWatch.observe({ entryTypes: ['gc'] });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const root = await mkdtemp(join(tmpdir(), 'meshdns-phases-'));
const times = new Map<string, number[]>();
const heaps = new Map<string, number>();
const note = (phase: string, ms: number) => times.set(phase, [...(times.get(phase) ?? []), ms]);
/** Heaps are read in the first round only: later rounds free the garbage of the one before. */
let round = 0;
const keep = (what: string, mib: number) => {
  if (round === 0) heaps.set(what, mib);
};
try {
  const dir = join(root, 'folder');
  await ScaleFixture.write(dir, { services: objects / 2, entries: objects / 2 }, '100-files');
  for (round = 0; round < ROUNDS; round++) {
    const base = heapMiB();
    const [readMs, build] = await cpuMs(() => loadManifests(dir));
    note('read, parse, validate', readMs);
    keep('resources', heapMiB() - base);
    const res = build.resources;

    const [allocMs] = await cpuMs(() =>
      new VipAllocator(ranges, []).update(res.serviceEntries, undefined, { now: 0, graceMs: 0 }),
    );
    note('VIP allocation alone', allocMs);
    const [builderMs] = await cpuMs(() => new TableBuilder(scope).update({ added: nameGivers(res) }));
    note('table builder alone (no VIPs)', builderMs);

    const live = new LiveView(ranges, []);
    const before = heapMiB();
    const [liveMs, update] = await cpuMs(() =>
      live.update(res, undefined, { scope, ranges, graceMs: 0 }, { now: 0 }),
    );
    note('allocate + build (LiveView)', liveMs);
    keep('allocation + builder', heapMiB() - before);

    const [packMs, packed] = await cpuMs(() => packSet(update.diff.set));
    note('pack for the answering thread', packMs);
    const diff = { ...update.diff, set: [] };
    const bare = heapMiB();
    const [applyMs, table] = await cpuMs(() => NameTable.empty().withDiff(diff, never, [packed]));
    note('answering thread: unpack + apply', applyMs);
    keep('answering table', heapMiB() - bare + (table.size >= 0 ? 0 : 1));
    if (round === ROUNDS - 1) {
      const names = update.diff.set.length;
      console.log(
        `${objects} objects (100 files): ${names} names, ${(packed.length / 2 ** 20).toFixed(1)} MiB packed`,
      );
    }
  }
  for (const [phase, xs] of times) {
    console.log(
      `  ${phase.padEnd(36)} ${median(xs).toFixed(0).padStart(6)} ms  (${xs.map((x) => x.toFixed(0)).join(' ')})`,
    );
  }
  gcWatch.disconnect();
  if (ROUNDS > 1)
    console.log(`  garbage collection, per round after the first: ${(gcMs / (ROUNDS - 1)).toFixed(0)} ms`);
  for (const [what, mib] of heaps)
    if (mib) console.log(`  heap kept: ${what.padEnd(24)} ${mib.toFixed(1)} MiB`);
} finally {
  await rm(root, { recursive: true, force: true });
}
