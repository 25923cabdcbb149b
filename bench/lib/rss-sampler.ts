// A process's resident memory sampled on a fixed interval, for "max during" and "at the end" figures
// and for a growth slope (a least-squares line through the samples after a warm-up).
import { rssMiB } from './proc-memory.js';

export interface RssSample {
  /** Seconds since the sampler started. */
  t: number;
  mib: number;
}

export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 1000,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  /** One sample now (also called by the timer); NaN once the process is gone is left out. */
  sample(): number {
    const mib = rssMiB(this.pid);
    if (Number.isFinite(mib)) this.samples.push({ t: (performance.now() - this.started) / 1000, mib });
    return mib;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Max and last of the samples taken from `fromT` seconds on (all by default). */
  summary(fromT = 0): { max: number; last: number; count: number } {
    const s = this.samples.filter((x) => x.t >= fromT);
    return {
      max: Math.max(...s.map((x) => x.mib)),
      last: s.at(-1)?.mib ?? Number.NaN,
      count: s.length,
    };
  }
}

/** Least-squares slope of y over x, in y per x-unit; NaN with fewer than two points. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}
