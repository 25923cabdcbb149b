// Metrics read at scrape time. The request path keeps plain numbers (a typed-array increment costs
// nothing measurable); prom-client turns them into samples only when /metrics is scraped.
import { Counter, Gauge, Registry } from 'prom-client';

export { Registry };

/** One labelled sample: label values and the current count. */
export type Sample = [labels: Record<string, string>, value: number];

/** A counter whose value is read from `read()` on every scrape. */
export function counterFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Sample[],
  labelNames: string[] = [],
): Counter<string> {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<string>) {
      this.reset();
      const value = read();
      if (typeof value === 'number') this.inc(value);
      else for (const [labels, n] of value) this.inc(labels, n);
    },
  });
}

/** A gauge whose value is read from `read()` on every scrape. */
export function gaugeFrom(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | Sample[],
  labelNames: string[] = [],
): Gauge<string> {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Gauge<string>) {
      this.reset();
      const value = read();
      if (typeof value === 'number') this.set(value);
      else for (const [labels, n] of value) this.set(labels, n);
    },
  });
}
