// Forwarded queries seen before the metrics registry exists. `serve` answers from its first moment and
// loads prom-client only once its listeners are up, so the first queries are held here as counts
// and handed to Istio's counters and histogram when they are registered: none goes uncounted.

/** Istio's buckets for dns_upstream_request_duration_seconds (pkg/dns/client/monitoring.go). */
export const UPSTREAM_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.1, 1, 5];

/** The counts as plain data (they cross threads: an answering worker's, `--workers`). */
export interface PendingUpstreamSnapshot {
  count: number[];
  sum: number[];
  failures: number;
}

/** Counts and per-bucket sums of durations: bounded whatever the number of queries. */
export class PendingUpstreamCounts {
  private readonly count = new Float64Array(UPSTREAM_DURATION_BUCKETS.length + 1);
  private readonly sum = new Float64Array(UPSTREAM_DURATION_BUCKETS.length + 1);
  private failures = 0;

  /** Counts from another thread, to be replayed here. */
  static from(s: PendingUpstreamSnapshot): PendingUpstreamCounts {
    const c = new PendingUpstreamCounts();
    c.count.set(s.count.slice(0, c.count.length));
    c.sum.set(s.sum.slice(0, c.sum.length));
    c.failures = s.failures;
    return c;
  }

  /** What was counted since the last take, as plain data; the counts start again from zero. */
  take(): PendingUpstreamSnapshot {
    const out = { count: Array.from(this.count), sum: Array.from(this.sum), failures: this.failures };
    this.count.fill(0);
    this.sum.fill(0);
    this.failures = 0;
    return out;
  }

  readonly observe = (seconds: number, ok: boolean): void => {
    let b = 0;
    while (b < UPSTREAM_DURATION_BUCKETS.length && seconds > UPSTREAM_DURATION_BUCKETS[b]) b++;
    this.count[b]++;
    this.sum[b] += seconds;
    if (!ok) this.failures++;
  };

  /**
   * Replays what was counted into `observe`: per bucket, as many observations as it holds, each at
   * the bucket's mean duration (which lies in the bucket), so counts, buckets and sum come out as
   * if observed live. The failed ones go first (their durations are in the buckets like the others).
   */
  replay(observe: (seconds: number, ok: boolean) => void): void {
    let failures = this.failures;
    for (let b = 0; b < this.count.length; b++) {
      const n = this.count[b];
      for (let i = 0; i < n; i++) observe(this.sum[b] / n, failures-- <= 0);
    }
  }
}
