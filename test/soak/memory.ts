// The soak's memory check: RSS every second, split into V8's heaps (from --trace-gc, gc-trace.ts) and the
// rest (code, buffers, sockets, malloc), and when the warm-up ended. Growth is judged on what is kept:
// the rest of RSS, plus each heap's size after its full collections. An isolate with too few full
// collections after the warm-up to fit a line counts with its committed heap instead, an upper bound
// (garbage included), so a heap that is never measured is never let off.
import { rssMiB } from '../../bench/lib/proc-memory.js';
import { slope } from '../../bench/lib/rss-sampler.js';
import type { GcTrace } from './gc-trace.js';

export interface MemorySample {
  /** Minutes since the soak's load started. */
  t: number;
  rssMiB: number;
  /** V8 heap memory committed by each isolate at that moment. */
  heapMiB: Record<string, number>;
}

const sum = (heaps: Record<string, number>): number => Object.values(heaps).reduce((a, b) => a + b, 0);

/** Full collections an isolate needs after the warm-up for its live size to be fitted. */
const MIN_FULL_GCS = 3;

export class MemoryWatch {
  readonly samples: MemorySample[] = [];
  /** Minutes since start when the cache first held its most entries; undefined while it has not. */
  cacheFullAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private cacheTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pid: number,
    /** Minutes since the soak's load started: the clock of the samples and of the trace's collections. */
    private readonly minutes: () => number,
    private readonly trace: GcTrace,
    /** meshdns_cache_entries now (undefined when the scrape failed), and the cache's bound. */
    private readonly cache: { entries: () => Promise<number | undefined>; max: number },
    /** Samples kept at most: the run's length bounds them too, this bounds a run that forgets to stop. */
    private readonly maxSamples = 24 * 3600,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.sample(), 1000);
    this.cacheTimer = setInterval(() => void this.pollCache(), 5000);
    return this;
  }

  private sample(): void {
    const rss = rssMiB(this.pid);
    if (Number.isFinite(rss) && this.samples.length < this.maxSamples)
      this.samples.push({ t: this.minutes(), rssMiB: rss, heapMiB: this.trace.committedMiB() });
  }

  private async pollCache(): Promise<void> {
    if (this.cacheFullAt !== undefined) return;
    const entries = await this.cache.entries();
    if (entries !== undefined && entries >= this.cache.max) {
      this.cacheFullAt = this.minutes();
      clearInterval(this.cacheTimer);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.cacheTimer);
  }
}

export interface HeapGrowth {
  isolate: string;
  /** `live`: fitted on sizes after full collections; `committed`: too few of them, the upper bound. */
  measured: 'live' | 'committed';
  fullGcs: number;
  slopeMiBPerMin: number;
  /** Size after the last full collection, MiB (undefined without one). */
  lastLiveMiB: number | undefined;
}

export interface MemoryVerdict {
  warmupMinutes: number;
  /** Why the warm-up ends where it does. */
  warmupUntil: string;
  samples: number;
  rssFirstMiB: number;
  rssMaxMiB: number;
  rssLastMiB: number;
  /** RSS as sampled, for the record: V8's heap sizing moves it by tens of MiB either way. */
  rssSlopeMiBPerMin: number;
  /** RSS outside V8's heaps. */
  restSlopeMiBPerMin: number;
  heaps: HeapGrowth[];
  /** What the check is on: the rest of RSS plus every heap's growth. */
  keptSlopeMiBPerMin: number;
}

/**
 * The warm-up lasts until the cache is full (it grows to its bound by design) and at least `minMinutes`
 * (JIT, V8's young generation reaching its size); if the cache never fills, half the run.
 */
export function warmupOf(
  cacheFullAt: number | undefined,
  elapsedMinutes: number,
  minMinutes: number,
): { minutes: number; until: string } {
  const half = elapsedMinutes / 2;
  if (cacheFullAt === undefined) return { minutes: half, until: 'half the run (the cache never filled)' };
  if (cacheFullAt > half) return { minutes: half, until: 'half the run (the cache filled later)' };
  if (cacheFullAt < minMinutes) return { minutes: minMinutes, until: `the minimum of ${minMinutes} min` };
  return { minutes: cacheFullAt, until: 'the cache was full' };
}

/** An isolate's committed heap over the samples taken once it had reported (before, it is not there). */
function committedSlope(samples: readonly MemorySample[], isolate: string): number {
  return slope(samples.flatMap((s) => (isolate in s.heapMiB ? [{ x: s.t, y: s.heapMiB[isolate]! }] : [])));
}

export function memoryVerdict(
  samples: readonly MemorySample[],
  trace: GcTrace,
  warmup: { minutes: number; until: string },
): MemoryVerdict {
  const after = samples.filter((s) => s.t >= warmup.minutes);
  const fit = (y: (s: MemorySample) => number) => slope(after.map((s) => ({ x: s.t, y: y(s) })));
  const heaps: HeapGrowth[] = [];
  for (const [isolate, heap] of trace.isolates) {
    const full = heap.fullGcs.filter((g) => g.t >= warmup.minutes);
    const base = { isolate, fullGcs: full.length, lastLiveMiB: heap.fullGcs.at(-1)?.liveMiB };
    heaps.push(
      full.length >= MIN_FULL_GCS
        ? { ...base, measured: 'live', slopeMiBPerMin: slope(full.map((g) => ({ x: g.t, y: g.liveMiB }))) }
        : { ...base, measured: 'committed', slopeMiBPerMin: committedSlope(after, isolate) },
    );
  }
  const restSlope = fit((s) => s.rssMiB - sum(s.heapMiB));
  // Only growth counts: a heap that shrank does not make up for another that grew.
  const heapSlope = heaps.reduce((total, h) => total + Math.max(0, h.slopeMiBPerMin), 0);
  const rss = samples.map((s) => s.rssMiB);
  return {
    warmupMinutes: warmup.minutes,
    warmupUntil: warmup.until,
    samples: after.length,
    rssFirstMiB: rss[0] ?? Number.NaN,
    rssMaxMiB: Math.max(...rss),
    rssLastMiB: rss.at(-1) ?? Number.NaN,
    rssSlopeMiBPerMin: fit((s) => s.rssMiB),
    restSlopeMiBPerMin: restSlope,
    heaps,
    keptSlopeMiBPerMin: Math.max(0, restSlope) + heapSlope,
  };
}
