// The soak's memory check (test/soak/gc-trace.ts, memory.ts): V8's --trace-gc lines as Node 20 prints
// them, /proc/PID/smaps split into V8's pages and the rest, and the verdict on growth after the warm-up,
// for a heap that only fills with garbage, one that keeps what it allocates, and memory that grows
// outside the heaps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GcTrace } from '../soak/gc-trace.js';
import { heapsMeasurable, type MemorySample, memoryVerdict, warmupEnd } from '../soak/memory.js';
import { nativeKiB } from '../soak/native-memory.js';

const MAIN = '0x3bd69e20';
const WORKER = '0x7f34ec000f00';
const line = (isolate: string, kind: string, after: number, committed: number) =>
  `[16022:${isolate}]   389 ms: ${kind} 82.5 (115.6) -> ${after} (${committed}) MB, 15.69 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; `;

describe('soak: GcTrace reads --trace-gc lines', () => {
  const cases: { name: string; text: string; committed: Record<string, number>; full: number }[] = [
    { name: 'a scavenge', text: line(MAIN, 'Scavenge', 4.1, 5.5), committed: { [MAIN]: 5.5 }, full: 0 },
    {
      name: 'a full collection',
      text: line(MAIN, 'Mark-Compact', 67.6, 101.1),
      committed: { [MAIN]: 101.1 },
      full: 1,
    },
    {
      name: "the memory reducer's full collection",
      text: line(MAIN, 'Mark-Compact (reduce)', 12, 20),
      committed: { [MAIN]: 20 },
      full: 1,
    },
    { name: 'a line of something else', text: '{"level":40,"msg":"hello"}', committed: {}, full: 0 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const trace = new GcTrace(() => 1);
      trace.feed(`${c.text}\n`);
      assert.deepEqual(trace.committedMiB(), c.committed);
      assert.equal(trace.isolates.get(MAIN)?.fullGcs.length ?? 0, c.full);
      assert.equal(trace.unknown, 0);
    });
  }

  it('lines cut across chunks, two isolates', () => {
    const trace = new GcTrace(() => 2);
    const text = `${line(MAIN, 'Scavenge', 4, 6)}\n${line(WORKER, 'Mark-Compact', 11, 14)}\n`;
    for (let i = 0; i < text.length; i += 7) trace.feed(text.slice(i, i + 7));
    assert.deepEqual(trace.committedMiB(), { [MAIN]: 6, [WORKER]: 14 });
    assert.deepEqual(trace.isolates.get(WORKER)?.fullGcs, [{ t: 2, liveMiB: 11 }]);
  });
});

describe('soak: memoryVerdict after the warm-up', () => {
  /** Ten minutes of samples, one a second, and a full collection every 30 s, shaped by the three functions. */
  function run(shape: {
    committed: (t: number) => number;
    live: (t: number) => number;
    rest: (t: number) => number;
  }) {
    let now = 0;
    const trace = new GcTrace(() => now);
    const samples: MemorySample[] = [];
    for (let s = 0; s <= 600; s++) {
      now = s / 60;
      if (s % 30 === 0) trace.line(line(MAIN, 'Mark-Compact', shape.live(now), shape.committed(now)));
      else trace.line(line(MAIN, 'Scavenge', shape.live(now) + 1, shape.committed(now)));
      samples.push({
        t: now,
        rssMiB: shape.committed(now) + shape.rest(now),
        nativeMiB: shape.rest(now),
        heapMiB: trace.committedMiB(),
      });
    }
    return memoryVerdict(samples, trace, { minutes: 3, until: 'test' });
  }
  const cases = [
    {
      // V8 committing more heap while what is live stays put: RSS grows, nothing is kept.
      name: 'a heap that grows with garbage only',
      shape: { committed: (t: number) => 50 + 2 * t, live: () => 12, rest: () => 50 },
      kept: 0,
      rss: 2,
    },
    {
      name: 'a heap that keeps what it allocates',
      shape: { committed: (t: number) => 50 + 2 * t, live: (t: number) => 12 + 2 * t, rest: () => 50 },
      kept: 2,
      rss: 2,
    },
    {
      name: 'memory growing outside the heaps',
      shape: { committed: () => 50, live: () => 12, rest: (t: number) => 50 + 3 * t },
      kept: 3,
      rss: 3,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = run(c.shape);
      assert.equal(v.warmupMinutes, 3);
      assert.equal(v.heaps[0]?.measured, 'live');
      assert.ok(
        Math.abs(v.keptSlopeMiBPerMin - c.kept) < 0.01,
        `kept ${v.keptSlopeMiBPerMin}, want ${c.kept}`,
      );
      assert.ok(Math.abs(v.rssSlopeMiBPerMin - c.rss) < 0.01, `RSS ${v.rssSlopeMiBPerMin}, want ${c.rss}`);
    });
  }

  it('a heap with too few full collections counts with its committed size', () => {
    const trace = new GcTrace(() => 0);
    const samples: MemorySample[] = [];
    for (let s = 0; s <= 600; s++) {
      trace.line(line(WORKER, 'Scavenge', 12, 14 + s / 60));
      samples.push({ t: s / 60, rssMiB: 64 + s / 60, nativeMiB: 50, heapMiB: trace.committedMiB() });
    }
    const v = memoryVerdict(samples, trace, { minutes: 3, until: 'test' });
    assert.equal(v.heaps[0]?.measured, 'committed');
    assert.ok(Math.abs(v.keptSlopeMiBPerMin - 1) < 0.01, `kept ${v.keptSlopeMiBPerMin}`);
  });
});

describe('soak: warmupEnd', () => {
  /** Full collections of the main thread and the worker at these minutes. */
  function trace(main: number[], worker: number[]): GcTrace {
    let now = 0;
    const t = new GcTrace(() => now);
    for (const [isolate, times] of [
      [MAIN, main],
      [WORKER, worker],
    ] as const)
      for (const m of times) {
        now = m;
        t.line(line(isolate, 'Mark-Compact', 12, 20));
      }
    return t;
  }
  const cases: [
    name: string,
    cacheFullAt: number | undefined,
    main: number[],
    worker: number[],
    want?: number,
  ][] = [
    ['the cache still filling', undefined, [1, 2, 3], [0.2, 9], undefined],
    ['the worker not collected since the cache filled', 4, [3, 4.5, 5], [0.2], undefined],
    ['both collected after the cache filled', 4, [3, 4.5, 5], [0.2, 10.5], 10.5],
    ['the cache full before the minimum', 0.5, [0.6], [0.7], 1],
  ];
  for (const [name, cacheFullAt, main, worker, want] of cases) {
    it(name, () => assert.equal(warmupEnd(cacheFullAt, trace(main, worker), 1), want));
  }

  it('heapsMeasurable: every heap needs two full collections after the warm-up', () => {
    assert.equal(heapsMeasurable(trace([4, 5, 6], [4.5]), 4), false);
    assert.equal(heapsMeasurable(trace([4, 5, 6], [4.5, 11]), 4), true);
  });
});

describe('soak: nativeKiB counts what is not a V8 heap page', () => {
  const mapping = (header: string, rss: number) =>
    `${header}\nSize: 1024 kB\nRss: ${rss} kB\nPss: ${rss} kB\n`;
  const smaps = [
    mapping('00400000-04a4b000 r-xp 00000000 08:01 1234 /usr/bin/node', 30_000),
    mapping('2023eca00000-2023eca40000 rw-p 00000000 00:00 0 ', 256),
    mapping('94244480000-942444c0000 rw-p 00000000 00:00 0', 200),
    mapping('163f1000-16af1000 rw-p 00000000 00:00 0                                  [heap]', 7000),
    mapping('7f18ac000000-7f18ac21a000 rw-p 00000000 00:00 0 ', 724),
    mapping('7ffd6c1f0000-7ffd6c211000 rw-p 00000000 00:00 0                          [stack]', 100),
  ].join('');
  it('files, [heap], [stack] and the mmap area count; V8 pages at its own addresses do not', () => {
    assert.equal(nativeKiB(smaps), 30_000 + 7000 + 724 + 100);
  });
});
