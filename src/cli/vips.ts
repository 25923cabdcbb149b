// `meshdns vips`: every ServiceEntry host, its auto-allocated VIPs and why it has them or not, then the
// VIPs held back from every host (issue 14 item 4) with the time left before another host may take them.
import { type HeldBackVip, holdbackEnd } from '../allocate/index.js';
import { loadView } from '../controller/index.js';
import { printColumns, printErrors, printJson } from './output.js';
import { loadOptions, resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface VipsFlags extends WorkloadFlags {
  output: string;
}

/** `1h 0m`, `59m 12s`, `45s`: what a person reads at a glance. */
export function formatLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

function heldBackRow(h: HeldBackVip, holdbackMs: number, now: number) {
  const until = holdbackEnd(h, holdbackMs);
  return {
    host: h.host,
    entry: `${h.namespace}/${h.name}`,
    v4: h.v4 ?? null,
    v6: h.v6 ?? null,
    state: 'held-back' as const,
    since: h.since,
    until: new Date(until).toISOString(),
    leftSeconds: Math.max(0, Math.ceil((until - now) / 1000)),
  };
}

export async function printVips(flags: VipsFlags): Promise<void> {
  const setup = resolveWorkloadFlags(flags);
  const view = await loadView(loadOptions(setup, []));
  const now = Date.now();
  printErrors(view.errors);
  const rows = view.allocation.hosts.map((h) => ({
    host: h.host,
    entry: `${h.namespace}/${h.name}`,
    v4: h.v4 ?? null,
    v6: h.v6 ?? null,
    state: h.state,
    ...(h.from ? { from: h.from } : {}),
    ...(h.entry.perNameOf ? { perName: h.entry.perNameOf } : {}),
  }));
  const held = view.allocation.holdback.map((h) => heldBackRow(h, setup.holdbackMs, now));
  if (flags.output === 'json') return printJson([...rows, ...held]);
  printColumns(
    ['HOST', 'ENTRY', 'V4', 'V6', 'STATE'],
    [
      ...rows.map((r) => [
        r.host,
        r.entry,
        r.v4 ?? '-',
        r.v6 ?? '-',
        r.perName ? `${r.state}, per-name under ${r.perName}` : r.state,
      ]),
      ...held.map((r) => [
        r.host,
        r.entry,
        r.v4 ?? '-',
        r.v6 ?? '-',
        `held-back, ${formatLeft(r.leftSeconds * 1000)} left`,
      ]),
    ],
  );
}
