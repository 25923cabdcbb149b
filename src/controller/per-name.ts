// Per-name VIPs (issue 14 item 5), the controller's side: it is the one allocator, so every pod that asks
// for a name gets the same VIP. An agent asks for a name it saw under a per-name wildcard; the answer
// waits for the view that holds it. Names not asked for `--wildcard-vip-idle` leave their entry (held for
// the grace period, then held back as any absent host's VIPs are).
import {
  entryAge,
  type PerNameAsk,
  PerNameHosts,
  type PerNameLimits,
  perNameWildcard,
  type StoredAllocation,
  underWildcard,
} from '../allocate/index.js';
import { isHostname, type ServiceEntry } from '../model/index.js';
import { visibleTo } from '../nametable/index.js';

/** What an agent hears back: `allocated` once the view holding the name is out. */
export type PerNameOutcome = 'allocated' | 'cap' | 'rate' | 'unknown';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The entry `name` belongs to for a workload of `namespace`: of the visible per-name entries listing
 * `wildcard`, the oldest (as the allocator ranks them), so every agent's question lands on the same one.
 */
export function entryFor(
  entries: readonly ServiceEntry[],
  wildcard: string,
  name: string,
  namespace: string,
): ServiceEntry | undefined {
  if (!isHostname(name) || !underWildcard(name, wildcard)) return undefined;
  let best: ServiceEntry | undefined;
  for (const se of entries) {
    if (!se.hosts.includes(wildcard) || !perNameWildcard(se, wildcard) || !visibleTo(se, namespace)) continue;
    if (best === undefined || older(se, best)) best = se;
  }
  return best;
}

function older(a: ServiceEntry, b: ServiceEntry): boolean {
  const d = entryAge(a) - entryAge(b);
  if (d) return d < 0;
  return (cmp(a.meta.namespace, b.meta.namespace) || cmp(a.meta.name, b.meta.name)) < 0;
}

/** How often idle names are looked for: a tenth of the idle time, between 1 s and 1 min. */
export function expiryIntervalMs(idleMs: number): number {
  return Math.min(60_000, Math.max(1000, Math.floor(idleMs / 10)));
}

export class PerNameKeeper {
  readonly hosts: PerNameHosts;
  #timer: NodeJS.Timeout | undefined;

  constructor(limits: PerNameLimits) {
    this.hosts = new PerNameHosts(limits);
  }

  /** The entry the name was asked under, and what became of it; undefined: no per-name entry covers it. */
  ask(
    entries: readonly ServiceEntry[],
    namespace: string,
    name: string,
    wildcard: string,
  ): { se: ServiceEntry; asked: PerNameAsk } | undefined {
    const se = entryFor(entries, wildcard, name, namespace);
    return se && { se, asked: this.hosts.ask(se, wildcard, name, Date.now()) };
  }

  /** Runs `tick` (expire idle names, persist when they were last asked) every expiryIntervalMs. */
  start(tick: () => void): void {
    this.#timer = setInterval(tick, expiryIntervalMs(this.hosts.limits.idleMs));
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * The records to persist, each present per-name host with when it was last asked, rounded down to the
   * expiry interval: the file is rewritten at most once an interval for it, not on every question.
   */
  withAskedAt(records: readonly StoredAllocation[]): readonly StoredAllocation[] {
    if (!this.hosts.active) return records;
    const step = expiryIntervalMs(this.hosts.limits.idleMs);
    // Names asked within one step share the time: formatted once per step, not once per record.
    const times = new Map<number, string>();
    return records.map((r) => {
      if (r.wildcard === undefined || r.absentSince !== undefined) return r;
      const at = this.hosts.askedAt(r.namespace, r.name, r.host);
      if (at === undefined) return r;
      const t = Math.floor(at / step) * step;
      let askedAt = times.get(t);
      if (askedAt === undefined) {
        askedAt = new Date(t).toISOString();
        times.set(t, askedAt);
      }
      return { ...r, askedAt };
    });
  }
}
