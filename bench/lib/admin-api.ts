// meshdns' admin API as the benchmark reads it: readiness and one gauge of /metrics.
import type { ServerAddress } from './dns-probe.js';

const base = (admin: ServerAddress) => `http://${admin.host}:${admin.port}`;

/** True once /healthz/ready says 200; false on 503 or when nothing listens yet. */
export async function isReady(admin: ServerAddress): Promise<boolean> {
  try {
    const res = await fetch(`${base(admin)}/healthz/ready`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** Polls /healthz/ready every `intervalMs`; the performance.now() it first said ready, or undefined at `deadline` or once `alive()` is false. */
export async function waitReady(
  admin: ServerAddress,
  opts: { intervalMs: number; deadline: number; alive?: () => boolean },
): Promise<number | undefined> {
  while (performance.now() < opts.deadline && opts.alive?.() !== false) {
    if (await isReady(admin)) return performance.now();
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs));
  }
  return undefined;
}

/**
 * The value of an unlabelled sample in /metrics, or undefined when it is not exported. A scrape
 * also resets what prom-client resets on collect (the event-loop delay histogram).
 */
export async function scrapeGauge(
  admin: ServerAddress,
  name: string,
  timeoutMs: number,
): Promise<number | undefined> {
  try {
    const res = await fetch(`${base(admin)}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Every sample of /metrics by its full key as printed, e.g. `meshdns_upstream_failures_total{reason="overflow"}`. */
export async function scrapeSamples(admin: ServerAddress, timeoutMs: number): Promise<Map<string, number>> {
  const samples = new Map<string, number>();
  try {
    const res = await fetch(`${base(admin)}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    for (const line of (await res.text()).split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const cut = line.lastIndexOf(' ');
      samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
    }
  } catch {
    // Unanswered in time: an empty map, which the caller reports as missing figures.
  }
  return samples;
}

/** A JSON debug view (`/debug/upstreams`, `/debug/vips`), or undefined when it did not answer in time. */
export async function fetchDebug(admin: ServerAddress, view: string, timeoutMs: number): Promise<unknown> {
  try {
    const res = await fetch(`${base(admin)}/debug/${view}`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}
