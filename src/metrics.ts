// Metrics read at scrape time. The request path keeps plain numbers (a typed-array increment costs
// nothing measurable); prom-client turns them into samples only when /metrics is scraped.
// prom-client's files one by one: its index also loads the Pushgateway (https, so tls) and the
// cluster aggregator (node:cluster), none of which meshdns uses. The agent loads this module once it
// answers, on the thread that answers: about 5 ms less of it held (types: prom-client-parts.d.ts).
import Counter from 'prom-client/lib/counter.js';
import collectDefaultMetrics from 'prom-client/lib/defaultMetrics.js';
import Gauge from 'prom-client/lib/gauge.js';
import Histogram from 'prom-client/lib/histogram.js';
import Registry from 'prom-client/lib/registry.js';

export { Counter, Gauge, Histogram, Registry };

/** One labelled sample: label values and the current count. */
export type Sample = [labels: Record<string, string>, value: number];

type Read = () => number | Sample[];

/** Applies what `read()` returns, one value or labelled samples, after clearing the last scrape's. */
function refill(
  metric: Counter<string> | Gauge<string>,
  read: Read,
  put: (labels: Record<string, string>, n: number) => void,
): void {
  metric.reset();
  const value = read();
  if (typeof value === 'number') put({}, value);
  else for (const [labels, n] of value) put(labels, n);
}

/** A counter whose value is read from `read()` on every scrape. */
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  read: Read,
  labelNames: string[] = [],
): Counter<string> {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<string>) {
      refill(this, read, (labels, n) => this.inc(labels, n));
    },
  });
}

/** A gauge whose value is read from `read()` on every scrape. */
export function gaugeFrom(
  registry: Registry,
  name: string,
  help: string,
  read: Read,
  labelNames: string[] = [],
): Gauge<string> {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Gauge<string>) {
      refill(this, read, (labels, n) => this.set(labels, n));
    },
  });
}

/**
 * The process's own figures under prom-client's standard names (RSS, heap, GC), among them
 * `nodejs_eventloop_lag_max_seconds`: the longest time between two ticks of an event-loop monitor
 * (monitorEventLoopDelay) since the last scrape, which is how "never stall" (DESIGN.md invariants) is
 * checked from outside. A tick comes every `resolutionMs`, so a stall of S ms reads as S ms to
 * S + `resolutionMs`. Once per process: it starts a monitor that lives as long as the process.
 */
export function processMetrics(registry: Registry, resolutionMs?: number): Registry {
  collectDefaultMetrics({
    register: registry,
    ...(resolutionMs === undefined ? {} : { eventLoopMonitoringPrecision: resolutionMs }),
  });
  return registry;
}
