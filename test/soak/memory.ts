// The soak's memory check: RSS every 2 s, the part outside V8's heaps (native-memory.ts: malloc,
// Buffers, sockets, files), each V8 heap's size (--trace-gc, gc-trace.ts), and when the warm-up ended.
// Growth is judged on what is kept: the native part, plus each heap's size after its full collections.
// An isolate with too few full collections after the warm-up to fit a line counts with its committed
// heap instead, an upper bound (garbage included), so a heap that is never measured is never let off.
import { rssMiB } from '../../bench/lib/proc-memory.js';
import { slope } from '../../bench/lib/rss-sampler.js';
import type { GcTrace } from './gc-trace.js';
import { nativeMiB } from './native-memory.js';

export interface MemorySample {
  /** Minutes since the soak's load started. */
  t: number;
  rssMiB: number;
  /** Resident outside V8's heaps. */
  nativeMiB: number;
  /** V8 heap memory committed by each isolate at that moment. */
  heapMiB: Record<string, number>;
}

/** Full collections an isolate needs after the warm-up (the one that ended it included) to fit a line. */
const MIN_FULL_GCS = 2;

export class MemoryWatch {
  readonly samples: MemorySample[] = [];
  /** Minutes since the load started when the cache first held its most entries; undefined while it has not. */
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
    private readonly maxSamples = 12 * 3600,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.sample(), 2000);
    this.cacheTimer = setInterval(() => void this.pollCache(), 5000);
    return this;
  }

  private sample(): void {
    const rss = rssMiB(this.pid);
    const native = nativeMiB(this.pid);
    if (Number.isFinite(rss) && Number.isFinite(native) && this.samples.length < this.maxSamples)
      this.samples.push({
        t: this.minutes(),
        rssMiB: rss,
        nativeMiB: native,
        heapMiB: this.trace.committedMiB(),
      });
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
  nativeSlopeMiBPerMin: number;
  heaps: HeapGrowth[];
  /** What the check is on: the native part's growth plus every heap's. */
  keptSlopeMiBPerMin: number;
}

/**
 * When the warm-up ended, in minutes, or undefined while it goes on. It lasts until every size that grows
 * to a bound by design has reached it: the cache is full, and after that each V8 heap has had a full
 * collection (V8 sets an isolate's old-generation limit from what survives one; before, the heap grows
 * with garbage towards its first limit: about 10 minutes for the controller's worker at the soak's load).
 * At least `minMinutes` (JIT, the young generation growing to its size).
 */
export function warmupEnd(
  cacheFullAt: number | undefined,
  trace: GcTrace,
  minMinutes: number,
): number | undefined {
  if (cacheFullAt === undefined || trace.isolates.size === 0) return undefined;
  let end = Math.max(minMinutes, cacheFullAt);
  for (const heap of trace.isolates.values()) {
    const first = heap.fullGcs.find((g) => g.t >= cacheFullAt);
    if (first === undefined) return undefined;
    end = Math.max(end, first.t);
  }
  return end;
}

/**
 * Whether every heap has had enough full collections since the warm-up for its live size to be fitted.
 * The controller's worker collects every 7-10 minutes at the soak's load, so a 10-minute window may
 * hold one; the soak runs on (to a bound) until it holds two rather than fall back to committed sizes.
 */
export function heapsMeasurable(trace: GcTrace, warmupMinutes: number): boolean {
  for (const heap of trace.isolates.values())
    if (heap.fullGcs.filter((g) => g.t >= warmupMinutes).length < MIN_FULL_GCS) return false;
  return true;
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
  const nativeSlope = fit((s) => s.nativeMiB);
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
    nativeSlopeMiBPerMin: nativeSlope,
    heaps,
    keptSlopeMiBPerMin: Math.max(0, nativeSlope) + heapSlope,
  };
}
